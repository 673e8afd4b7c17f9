"""The alerting REST API over a real server: rules, alert history and deliveries; scopes enforced."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine

from monitor.alerts.service import AlertService
from monitor.config import Settings
from monitor.server import start_in_thread
from monitor.store.keys import create_key
from tests.alert_helpers import SECRET, WebhookReceiver, write_calls

RULE = {"name": "errors", "metric": "error_rate", "threshold": 0.2, "window": "5m", "for": "0s",
        "severity": "critical", "webhooks": ["oncall"]}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def settings(db_url: str, receiver: WebhookReceiver) -> Settings:
    return Settings(database_url=db_url, auth="required", alerts={"allow_networks": ["127.0.0.0/8"]},
                    webhooks={"oncall": {"url": receiver.url}},
                    server={"key_cache_ttl_s": 0, "grpc_enabled": False})


@pytest.fixture
def api(settings: Settings) -> Iterator[str]:
    handle = start_in_thread(settings, with_grpc=False)
    yield f"http://127.0.0.1:{handle.http_port}"
    handle.stop()


def _client(base: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_rules_alerts_and_deliveries_through_the_api(api: str, engine: Engine, settings: Settings,
                                                     receiver: WebhookReceiver) -> None:
    admin_key, _ = create_key(engine, "team-a", scopes=("read", "admin"))
    read_key, _ = create_key(engine, "team-a", scopes=("read",))
    other_key, _ = create_key(engine, "team-b", scopes=("read", "admin"))
    admin, reader, other = _client(api, admin_key), _client(api, read_key), _client(api, other_key)

    assert reader.post("/api/v1/alert-rules", json=RULE).status_code == 401  # read scope cannot create
    created = admin.post("/api/v1/alert-rules", json=RULE)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["project"] == "team-a" and rule["origin"] == "api" and rule["rule"]["for"] == "0s"
    assert admin.post("/api/v1/alert-rules", json=RULE).status_code == 409
    bad = admin.post("/api/v1/alert-rules", json={**RULE, "name": "x", "webhooks": ["nope"]})
    assert bad.status_code == 422 and "nope" in bad.text
    bad = admin.post("/api/v1/alert-rules", json={**RULE, "name": "x", "window": "soon"})
    assert bad.status_code == 422 and "30s, 15m" in bad.text
    assert [r["rule"]["name"] for r in reader.get("/api/v1/alert-rules").json()] == ["errors"]
    assert other.get("/api/v1/alert-rules").json() == []  # projects are isolated
    assert other.get(f"/api/v1/alert-rules/{rule['id']}").status_code == 404

    now = datetime.now(UTC)
    write_calls(engine, now - timedelta(minutes=2), 20, timedelta(seconds=5), error=True, project="team-a")
    tested = reader.post(f"/api/v1/alert-rules/{rule['id']}/test").json()
    assert tested["readings"] == [{"labels": {}, "value": 1.0, "samples": 20, "breaching": True}]
    assert reader.get("/api/v1/alerts").json() == []  # testing changes no state

    service = AlertService(engine, settings, {"oncall": SECRET})
    assert service.evaluate_once() == {"fire_new": 1}
    assert service.send_once()["delivered"] == 1
    [alert] = reader.get("/api/v1/alerts", params={"status": "firing"}).json()
    assert alert["rule"] == "errors" and alert["value"] == 1.0 and alert["notifications"] == 1
    [delivery] = reader.get("/api/v1/alerts/deliveries").json()
    assert (delivery["status"], delivery["webhook"], delivery["event_id"]) == ("delivered", "oncall", alert["id"])
    assert delivery["idempotency_key"] == receiver.requests[0].key
    assert reader.get("/api/v1/alerts", params={"status": "bogus"}).status_code == 422
    assert other.get("/api/v1/alerts").json() == []

    assert reader.delete(f"/api/v1/alert-rules/{rule['id']}").status_code == 401
    assert admin.delete(f"/api/v1/alert-rules/{rule['id']}").status_code == 204
    assert admin.delete(f"/api/v1/alert-rules/{rule['id']}").status_code == 404
    [closed] = reader.get("/api/v1/alerts").json()  # history stays, the open alert is closed
    assert closed["status"] == "resolved" and closed["rule_id"] is None


def test_config_rules_are_synced_and_cannot_be_deleted_over_the_api(db_url: str, engine: Engine,
                                                                     receiver: WebhookReceiver) -> None:
    cfg = {"alerts": {"rules": [RULE, {**RULE, "name": "slow", "metric": "latency_ms", "threshold": 900}]},
           "webhooks": {"oncall": {"url": receiver.url}}}
    settings = Settings(database_url=db_url, auth="disabled", **cfg)
    service = AlertService(engine, settings)
    assert service.sync_rules() == {"created": 2, "updated": 0, "removed": 0}
    assert service.sync_rules() == {"created": 0, "updated": 0, "removed": 0}
    changed = Settings(database_url=db_url, auth="disabled", alerts={"rules": [{**RULE, "threshold": 0.5}]},
                       webhooks=cfg["webhooks"])
    assert AlertService(engine, changed).sync_rules() == {"created": 0, "updated": 1, "removed": 1}
    handle = start_in_thread(changed, with_grpc=False)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{handle.http_port}", timeout=30) as client:
            [rule] = client.get("/api/v1/alert-rules").json()
            assert rule["origin"] == "config" and rule["rule"]["threshold"] == 0.5
            refused = client.delete(f"/api/v1/alert-rules/{rule['id']}")
            assert refused.status_code == 409 and "config file" in refused.text
    finally:
        handle.stop()
