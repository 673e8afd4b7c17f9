"""Access (issue 9): project isolation on every endpoint, scopes per endpoint, hashed keys compared
in constant time, and no secret in the logs. Complements tests/integration/test_auth.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.alerts.service import AlertService
from monitor.api.app import create_app
from monitor.auth import Authenticator
from monitor.config import Settings
from monitor.store import keys as key_store
from monitor.store.keys import create_key, get_or_create_project
from monitor.store.models import AlertEventRow, ApiKeyRow, DriftResultRow
from monitor.store.rows import dumps
from tests.alert_helpers import WebhookReceiver
from tests.otlp_builders import chat_attrs, make_span, request

PB = {"Content-Type": "application/x-protobuf"}
TRACE_A = bytes.fromhex("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
WEBHOOK_SECRET = "whsec-do-not-log-4f1d9c"
RULE = {"name": "slow", "kind": "metric", "metric": "latency_ms", "aggregate": "p95", "threshold": 1000,
        "window": "15m"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class World:
    client: TestClient
    engine: Engine
    a: str  # alpha: ingest, read, admin
    b: str  # beta: ingest, read, admin
    ingest: str  # alpha: ingest only
    read: str  # alpha: read only
    rule_id: int


@pytest.fixture
def world(db_url: str, engine: Engine) -> Iterator[World]:
    """Two projects; alpha holds a trace, a feedback score, an alert rule, an alert and a drift result."""
    all_scopes = ("ingest", "read", "admin")
    a, _ = create_key(engine, "alpha", scopes=all_scopes)
    b, _ = create_key(engine, "beta", scopes=all_scopes)
    ingest, _ = create_key(engine, "alpha", scopes=("ingest",))
    read, _ = create_key(engine, "alpha", scopes=("read",))
    app = create_app(Settings(database_url=db_url, auth="required", server={"key_cache_ttl_s": 0}),
                     engine=engine, host="127.0.0.1")
    client = TestClient(app)
    body = request([make_span(chat_attrs(), trace_id=TRACE_A)]).SerializeToString()
    assert client.post("/v1/traces", content=body, headers={**PB, **bearer(a)}).status_code == 200
    assert client.post("/api/v1/feedback", json={"trace_id": TRACE_A.hex(), "thumbs": "down"},
                       headers=bearer(a)).status_code == 201
    created = client.post("/api/v1/alert-rules", json={**RULE, "project": "beta"}, headers=bearer(a))
    assert created.status_code == 201 and created.json()["project"] == "alpha"  # the key's project, not the body's
    _seed_alert_and_drift(engine, get_or_create_project(engine, "alpha").rowid, created.json()["id"])
    yield World(client, engine, a, b, ingest, read, created.json()["id"])


def _seed_alert_and_drift(engine: Engine, project_rowid: int, rule_id: int) -> None:
    now = datetime.now(UTC)
    with Session(engine) as s:
        s.add(AlertEventRow(project_rowid=project_rowid, rule_rowid=rule_id, rule_name="slow", severity="warning",
                            labels={}, labels_key="-", status="firing", value=2000.0, threshold=1000.0,
                            started_at=now, fired_at=now))
        s.add(DriftResultRow(project_rowid=project_rowid, feature="input_length", statistic="psi", score=0.5,
                             threshold=0.2, drifted=True, segment="all", window_start=now - timedelta(hours=1),
                             window_end=now, reference_start=now - timedelta(days=2),
                             reference_end=now - timedelta(days=1), current_count=50, reference_count=50))
        s.commit()


def _reads(w: World) -> dict[str, str]:
    return {"calls": "/api/v1/calls", "summary": "/api/v1/metrics/summary?window=7d", "scores": "/api/v1/scores",
            "rules": "/api/v1/alert-rules", "alerts": "/api/v1/alerts", "drift": "/api/v1/drift",
            "agreement": "/api/v1/evaluations/agreement?evaluator=toxicity&criterion=toxicity",
            "trace": f"/api/v1/traces/{TRACE_A.hex()}", "rule": f"/api/v1/alert-rules/{w.rule_id}"}


def _nonempty(name: str, doc: object) -> bool:
    """Whether a read shows alpha's seeded data (each endpoint has its own response shape)."""
    if isinstance(doc, list):
        return len(doc) > 0
    assert isinstance(doc, dict), (name, doc)
    if name == "summary":
        return sum(int(g.get("requests") or 0) for g in doc.get("groups") or []) > 0
    if name == "agreement":
        return int(doc.get("n") or 0) > 0
    if name in ("trace", "rule"):
        return True
    return len(doc.get("items") or []) > 0


def test_project_b_reads_nothing_of_project_a(world: World) -> None:
    w = world
    for name, path in _reads(w).items():
        mine = w.client.get(path, headers=bearer(w.a))
        assert mine.status_code == 200, (name, mine.text)
        theirs = w.client.get(path, headers=bearer(w.b))
        if name in ("trace", "rule"):
            assert theirs.status_code == 404, (name, theirs.text)
            continue
        assert theirs.status_code == 200, (name, theirs.text)
        assert not _nonempty(name, theirs.json()), (name, theirs.json())
        if name != "agreement":  # needs evaluator scores beside the feedback; isolation is what counts here
            assert _nonempty(name, mine.json()), (name, mine.json())
    assert w.client.post(f"/api/v1/alert-rules/{w.rule_id}/test", headers=bearer(w.b)).status_code == 404
    assert w.client.get(f"/api/v1/scores?trace_id={TRACE_A.hex()}", headers=bearer(w.b)).json()["items"] == []


def test_project_b_writes_nothing_into_project_a(world: World) -> None:
    w = world
    scores_before = w.client.get("/api/v1/scores", headers=bearer(w.a)).json()["items"]
    # feedback on alpha's trace with beta's key lands in beta, never on alpha's trace
    assert w.client.post("/api/v1/feedback", json={"trace_id": TRACE_A.hex(), "thumbs": "up"},
                         headers=bearer(w.b)).status_code == 201
    assert w.client.get("/api/v1/scores", headers=bearer(w.a)).json()["items"] == scores_before
    # spans that claim alpha in their resource still go to the key's project
    span = make_span(chat_attrs(model="beta-model"))
    body = request([span], resource={"service.name": "x", "project": "alpha", "llm_monitor.project": "alpha"})
    sent = w.client.post("/v1/traces", content=body.SerializeToString(), headers={**PB, **bearer(w.b)})
    assert sent.status_code == 200
    models_a = {c["request_model"] for c in w.client.get("/api/v1/calls", headers=bearer(w.a)).json()["items"]}
    assert "beta-model" not in models_a
    # beta's admin key can neither delete nor see alpha's rule
    assert w.client.delete(f"/api/v1/alert-rules/{w.rule_id}", headers=bearer(w.b)).status_code == 404
    assert w.client.get(f"/api/v1/alert-rules/{w.rule_id}", headers=bearer(w.a)).status_code == 200


def _get_paths(w: World) -> list[str]:
    """Every GET under /api/v1 in the OpenAPI document, path parameters filled, so new endpoints are covered."""
    fill = {"{trace_id}": TRACE_A.hex(), "{rule_id}": str(w.rule_id), "{name}": "none"}
    paths = []
    for path, ops in w.client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        if path.startswith("/api/v1/") and "get" in ops:
            for placeholder, value in fill.items():
                path = path.replace(placeholder, value)
            paths.append(path)
    return paths


def test_scopes_are_enforced_per_endpoint(world: World) -> None:
    w = world
    paths = _get_paths(w)
    assert len(paths) >= 15
    for path in paths:
        assert w.client.get(path, headers=bearer(w.ingest)).status_code == 401, path  # ingest cannot read
        assert w.client.get(path, headers=bearer(w.read)).status_code != 401, path
    body = request([make_span(chat_attrs())]).SerializeToString()
    for signal in ("/v1/traces", "/v1/logs", "/v1/metrics"):  # read cannot ingest
        assert w.client.post(signal, content=b"", headers={**PB, **bearer(w.read)}).status_code == 401
    assert w.client.post("/v1/traces", content=body, headers={**PB, **bearer(w.ingest)}).status_code == 200
    feedback = {"trace_id": TRACE_A.hex(), "thumbs": "up"}
    assert w.client.post("/api/v1/feedback", json=feedback, headers=bearer(w.read)).status_code == 401
    assert w.client.post("/api/v1/feedback", json=feedback, headers=bearer(w.ingest)).status_code == 201
    for key in (w.read, w.ingest):  # only admin manages alert rules
        assert w.client.post("/api/v1/alert-rules", json={**RULE, "name": "x"}, headers=bearer(key)).status_code == 401
        assert w.client.delete(f"/api/v1/alert-rules/{w.rule_id}", headers=bearer(key)).status_code == 401
    assert w.client.delete(f"/api/v1/alert-rules/{w.rule_id}", headers=bearer(w.a)).status_code == 204


def test_keys_are_hashed_and_compared_in_constant_time(engine: Engine, db_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    secret, _ = create_key(engine, "alpha")
    with Session(engine) as s:
        stored = [(r.key_hash, r.prefix) for r in s.scalars(select(ApiKeyRow))]
    assert stored == [(key_store.hash_key(secret), secret[:10])] and len(stored[0][0]) == 64
    compared: list[tuple[str, str]] = []
    real = key_store.hmac.compare_digest

    def spy(x: str, y: str) -> bool:
        compared.append((x, y))
        return real(x, y)

    monkeypatch.setattr(key_store.hmac, "compare_digest", spy)
    auth = Authenticator(engine, Settings(database_url=db_url, server={"key_cache_ttl_s": 0}), "127.0.0.1")
    assert auth.principal(f"Bearer {secret}", "read").project.name == "alpha"
    assert compared == [(key_store.hash_key(secret), key_store.hash_key(secret))]  # digests, never the secret
    near_miss = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert key_store.authenticate(engine, near_miss) is None
    assert all(secret not in k for k in auth._cache)  # the cache is keyed by digest too


def test_no_secret_in_logs(world: World, db_url: str, caplog: pytest.LogCaptureFixture,
                           capfd: pytest.CaptureFixture[str]) -> None:
    """Authenticated and failing requests, and a signed webhook delivery (one refused, one accepted):
    neither the API keys, the presented wrong key, the Authorization header nor the webhook secret is logged."""
    w = world
    caplog.set_level(logging.DEBUG)
    wrong = "lm_this-key-does-not-exist-0123456789abcdef"
    body = request([make_span(chat_attrs())]).SerializeToString()
    for key in (w.a, wrong, "sk-not-even-ours"):
        w.client.post("/v1/traces", content=body, headers={**PB, **bearer(key)})
        w.client.get("/api/v1/calls", headers=bearer(key))
        w.client.post("/api/v1/feedback", json={"trace_id": "zz"}, headers=bearer(key))
    w.client.get("/api/v1/calls", headers={"Authorization": f"Basic {w.a}"})
    receiver = WebhookReceiver(secret=WEBHOOK_SECRET, status=500).start()
    try:
        settings = Settings(database_url=db_url, auth="disabled", alerts={"allow_networks": ["127.0.0.0/8"]},
                            webhooks={"oncall": {"url": receiver.url}})
        service = AlertService(w.engine, settings, {"oncall": WEBHOOK_SECRET})
        service.enqueue_test("oncall")
        assert service.send_once()["retry"] == 1
        receiver.status = 200
        assert service.send_once(datetime.now(UTC) + timedelta(hours=1))["delivered"] == 1
        assert receiver.requests and all(r.verified for r in receiver.requests)  # it was really signed
    finally:
        receiver.stop()
    out, err = capfd.readouterr()
    logged = caplog.text + out + err + dumps([r.__dict__ for r in caplog.records])
    assert caplog.records, "nothing was logged: the check would prove nothing"
    for secret in (w.a, w.b, w.ingest, w.read, wrong, "sk-not-even-ours", WEBHOOK_SECRET):
        assert secret not in logged
    assert "Bearer " not in logged and "authorization:" not in logged.lower()
