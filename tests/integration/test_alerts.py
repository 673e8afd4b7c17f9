"""Alert rules, the state machine and webhook delivery on real SQLite and PostgreSQL, with a real receiver.

The only fake is the clock passed to ``evaluate_once`` / ``send_once``, so a ``for`` duration can
pass without waiting; traffic goes through the real span writer and notifications over real HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from monitor.alerts import RuleSpec
from monitor.alerts import outbox as outbox_mod
from monitor.alerts.rulestore import create_rule
from monitor.alerts.service import AlertService
from monitor.config import Settings
from monitor.store.keys import get_or_create_project
from monitor.store.models import AlertEventRow, OutboxRow, ScoreRow
from monitor.worker import Worker
from tests.alert_helpers import SECRET, WebhookReceiver, write_calls

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LATENCY_RULE = {"name": "slow answers", "kind": "metric", "metric": "latency_ms", "aggregate": "p95",
                "threshold": 1000, "window": "2m", "for": "3m", "severity": "critical", "webhooks": ["oncall"]}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver().start()
    yield r
    r.stop()


def _settings(db_url: str, receiver: WebhookReceiver, allow_loopback: bool = True, **alerts: object) -> Settings:
    allow = {"allow_networks": ["127.0.0.0/8"]} if allow_loopback else {}
    return Settings(database_url=db_url, auth="disabled", alerts={**allow, **alerts},
                    webhooks={"oncall": {"url": receiver.url}})


def _service(engine: Engine, settings: Settings) -> AlertService:
    return AlertService(engine, settings, {"oncall": SECRET})


def _rule(engine: Engine, **overrides: object) -> int:
    return create_rule(engine, "default", RuleSpec.model_validate({**LATENCY_RULE, **overrides})).id


def _events(engine: Engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(AlertEventRow.__table__).order_by(AlertEventRow.id)))


def _outbox(engine: Engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(OutboxRow.__table__).order_by(OutboxRow.id)))


def _run(service: AlertService, start: datetime, end: datetime, step: timedelta) -> list[dict[str, int]]:
    """Evaluate and send at each tick, as the worker's two loops would."""
    results, now = [], start
    while now <= end:
        results.append(service.evaluate_once(now))
        service.send_once(now)
        now += step
    return results


def test_sustained_bad_traffic_fires_once_and_resolves_once(engine: Engine, db_url: str,
                                                            receiver: WebhookReceiver) -> None:
    write_calls(engine, T0, 60, timedelta(seconds=10), latency_ms=2500)  # 10 minutes of slow answers
    write_calls(engine, T0 + timedelta(minutes=10), 60, timedelta(seconds=10), latency_ms=80)
    service = _service(engine, _settings(db_url, receiver))
    _rule(engine)
    _run(service, T0 + timedelta(minutes=1), T0 + timedelta(minutes=25), timedelta(seconds=30))

    [event] = _events(engine)
    assert event.status == "resolved" and event.labels == {}
    assert event.started_at == T0 + timedelta(minutes=1)
    assert event.fired_at == T0 + timedelta(minutes=4)  # pending for the whole 3m "for" first
    assert T0 + timedelta(minutes=10) < event.resolved_at <= T0 + timedelta(minutes=12)
    assert [r.key for r in receiver.requests] == [f"alert-{event.id}-firing", f"alert-{event.id}-resolved"]
    assert all(r.verified for r in receiver.requests)
    firing, resolved = (r.json for r in receiver.requests)
    assert firing["transition"] == "firing" and firing["alert"]["rule"] == "slow answers"
    assert firing["alert"]["value"] == pytest.approx(2500, rel=0.01) and firing["alert"]["severity"] == "critical"
    assert resolved["transition"] == "resolved" and resolved["alert"]["resolved_at"] is not None
    assert [(o.status, o.attempts, o.last_status_code) for o in _outbox(engine)] == [("delivered", 1, 200)] * 2
    _run(service, T0 + timedelta(minutes=26), T0 + timedelta(minutes=30), timedelta(minutes=1))
    assert len(receiver.requests) == 2  # nothing more once resolved


def test_spike_shorter_than_for_does_not_fire(engine: Engine, db_url: str, receiver: WebhookReceiver) -> None:
    write_calls(engine, T0, 120, timedelta(seconds=5), latency_ms=80)
    write_calls(engine, T0 + timedelta(minutes=2), 6, timedelta(seconds=5), latency_ms=5000)  # a 30 s spike
    service = _service(engine, _settings(db_url, receiver))
    _rule(engine)
    actions = _run(service, T0 + timedelta(minutes=1), T0 + timedelta(minutes=10), timedelta(seconds=30))
    assert any(a.get("pend") for a in actions) and any(a.get("cancel") for a in actions)
    assert not any(a.get("fire") or a.get("fire_new") for a in actions)
    assert _events(engine) == [] and _outbox(engine) == [] and receiver.requests == []


def test_renotify_repeats_a_firing_alert_with_new_keys(engine: Engine, db_url: str,
                                                        receiver: WebhookReceiver) -> None:
    write_calls(engine, T0, 120, timedelta(seconds=10), error=True)
    service = _service(engine, _settings(db_url, receiver))
    _rule(engine, metric="error_rate", aggregate=None, threshold=0.1, window="5m", **{"for": "0s"}, renotify="5m")
    _run(service, T0 + timedelta(minutes=5), T0 + timedelta(minutes=16), timedelta(minutes=1))
    [event] = _events(engine)
    assert event.status == "firing" and event.notifications == 3
    assert [r.key for r in receiver.requests] == [
        f"alert-{event.id}-firing", f"alert-{event.id}-renotify-2", f"alert-{event.id}-renotify-3"]


def test_receiver_down_for_a_while_gets_the_alert_afterwards(engine: Engine, db_url: str,
                                                             receiver: WebhookReceiver) -> None:
    write_calls(engine, T0, 30, timedelta(seconds=10), latency_ms=3000)
    service = _service(engine, _settings(db_url, receiver, backoff_base_s=10, backoff_max_s=60))
    _rule(engine, **{"for": "0s"})
    receiver.stop()  # connection refused
    now = T0 + timedelta(minutes=2)
    assert service.evaluate_once(now) == {"fire_new": 1}
    assert service.send_once(now) == {"delivered": 0, "retry": 1, "failed": 0}
    [row] = _outbox(engine)
    assert (row.status, row.attempts) == ("pending", 1) and "Connection" in row.last_error
    assert now + timedelta(seconds=5) <= row.next_attempt_at <= now + timedelta(seconds=10)
    assert service.send_once(now + timedelta(seconds=1)) == {"delivered": 0, "retry": 0, "failed": 0}  # backing off

    receiver.start()  # back on the same port, but failing for a while
    receiver.status = 503
    now += timedelta(minutes=1)
    assert service.send_once(now)["retry"] == 1
    receiver.status = 200
    now += timedelta(minutes=5)
    assert service.send_once(now)["delivered"] == 1
    assert service.send_once(now + timedelta(hours=1)) == {"delivered": 0, "retry": 0, "failed": 0}
    [row] = _outbox(engine)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("delivered", 3, 200, None)
    assert [r.key for r in receiver.requests] == [row.idempotency_key] * 2  # the 503 and the accepted one
    assert all(r.verified for r in receiver.requests)
    assert [r.headers["x-llm-monitor-attempt"] for r in receiver.requests] == ["2", "3"]


def test_delivery_gives_up_after_the_configured_time(engine: Engine, db_url: str, receiver: WebhookReceiver) -> None:
    write_calls(engine, T0, 30, timedelta(seconds=10), latency_ms=3000)
    service = _service(engine, _settings(db_url, receiver, give_up_after_h=1))
    _rule(engine, **{"for": "0s"})
    receiver.status = 500
    now = T0 + timedelta(minutes=2)
    service.evaluate_once(now)
    assert service.send_once(now)["retry"] == 1
    assert service.send_once(now + timedelta(hours=2))["failed"] == 1
    [row] = _outbox(engine)
    assert (row.status, row.last_status_code) == ("failed", 500)


def test_killed_between_state_change_and_send_delivers_after_restart(engine: Engine, db_url: str,
                                                                      receiver: WebhookReceiver) -> None:
    """A real process commits the firing transition and is SIGKILLed before its sender runs."""
    now = datetime.now(UTC)
    write_calls(engine, now - timedelta(minutes=1), 12, timedelta(seconds=5), latency_ms=3000)
    _rule(engine, **{"for": "0s"}, window="5m")
    script = textwrap.dedent(f"""
        import os, signal
        from monitor.alerts.service import AlertService
        from monitor.config import Settings
        from monitor.store import make_engine
        settings = Settings(database_url={db_url!r}, alerts={{"allow_networks": ["127.0.0.0/8"]}},
                            webhooks={{"oncall": {{"url": {receiver.url!r}}}}})
        service = AlertService(make_engine(settings.database_url), settings, {{"oncall": "x"}})
        assert service.evaluate_once() == {{"fire_new": 1}}
        os.kill(os.getpid(), signal.SIGKILL)  # dies before send_once
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert [(e.status, o.status) for e, o in zip(_events(engine), _outbox(engine), strict=True)] == [
        ("firing", "pending")]
    assert receiver.requests == []

    settings = _settings(db_url, receiver, evaluation_interval_s=0.1, send_interval_s=0.05)
    worker = Worker(settings, engine, webhook_secrets={"oncall": SECRET})
    worker.start()
    try:
        receiver.wait_for(1)
        worker._stop.wait(0.5)  # more evaluation rounds: the alert is still firing, nothing new to send
    finally:
        worker.stop()
    [event] = _events(engine)
    assert [r.key for r in receiver.requests] == [f"alert-{event.id}-firing"]
    assert receiver.requests[0].verified
    assert [o.status for o in _outbox(engine)] == ["delivered"]


def test_sender_dying_mid_send_resends_after_its_lease(engine: Engine, db_url: str,
                                                       receiver: WebhookReceiver) -> None:
    write_calls(engine, T0, 30, timedelta(seconds=10), latency_ms=3000)
    service = _service(engine, _settings(db_url, receiver))
    _rule(engine, **{"for": "0s"})
    now = T0 + timedelta(minutes=2)
    service.evaluate_once(now)
    assert len(outbox_mod.claim(engine, now, lease=timedelta(seconds=60))) == 1  # ...and the sender dies
    assert service.send_once(now + timedelta(seconds=30))["delivered"] == 0  # still leased
    assert service.send_once(now + timedelta(seconds=61))["delivered"] == 1
    assert len(receiver.requests) == 1 and receiver.requests[0].verified


def test_loopback_url_refused_unless_allow_listed(engine: Engine, db_url: str, receiver: WebhookReceiver) -> None:
    write_calls(engine, T0, 30, timedelta(seconds=10), latency_ms=3000)
    service = _service(engine, _settings(db_url, receiver, allow_loopback=False))
    _rule(engine, **{"for": "0s"})
    now = T0 + timedelta(minutes=2)
    service.evaluate_once(now)
    assert service.send_once(now)["retry"] == 1
    [row] = _outbox(engine)
    assert "loopback" in row.last_error and row.status == "pending"
    assert receiver.requests == []  # never connected
    allowed = _service(engine, _settings(db_url, receiver))
    assert allowed.send_once(now + timedelta(hours=1))["delivered"] == 1


def test_group_by_model_alerts_per_label_set(engine: Engine, db_url: str, receiver: WebhookReceiver) -> None:
    write_calls(engine, T0, 30, timedelta(seconds=10), latency_ms=3000, model="slow-model")
    write_calls(engine, T0, 30, timedelta(seconds=10), latency_ms=50, model="fast-model")
    service = _service(engine, _settings(db_url, receiver))
    _rule(engine, group_by="model", **{"for": "0s"})
    service.evaluate_once(T0 + timedelta(minutes=2))
    service.send_once(T0 + timedelta(minutes=2))
    [event] = _events(engine)
    assert event.labels == {"model": "slow-model"} and event.status == "firing"
    assert receiver.requests[0].json["alert"]["labels"] == {"model": "slow-model"}


def test_score_rule_needs_min_samples(engine: Engine, db_url: str, receiver: WebhookReceiver) -> None:
    project = get_or_create_project(engine, "default").rowid
    service = _service(engine, _settings(db_url, receiver))
    _rule(engine, name="toxic", kind="score", metric="toxicity", aggregate="share_above", score_threshold=0.5,
          threshold=0.05, min_samples=10, window="15m", **{"for": "0s"})

    def scores(values: list[float]) -> None:
        with engine.begin() as conn:
            conn.execute(ScoreRow.__table__.insert(), [
                {"project_rowid": project, "trace_id": "0" * 32, "name": "toxicity", "value": v, "source": "evaluator",
                 "created_at": T0 + timedelta(seconds=i)} for i, v in enumerate(values)])

    scores([0.9] * 5)  # all toxic, but only 5 samples
    assert service.evaluate_once(T0 + timedelta(minutes=1)) == {}
    scores([0.1] * 10)  # 5 of 15 toxic: 33 % > 5 %
    assert service.evaluate_once(T0 + timedelta(minutes=2)) == {"fire_new": 1}
    assert _events(engine)[0].value == pytest.approx(5 / 15)


def test_absence_rule_fires_when_traffic_stops(engine: Engine, db_url: str, receiver: WebhookReceiver) -> None:
    write_calls(engine, T0, 30, timedelta(seconds=10))  # five minutes of traffic, then nothing
    service = _service(engine, _settings(db_url, receiver))
    _rule(engine, name="silence", kind="absence", metric="", aggregate=None, window="2m", **{"for": "1m"})
    _run(service, T0 + timedelta(minutes=1), T0 + timedelta(minutes=10), timedelta(minutes=1))
    [event] = _events(engine)
    assert event.status == "firing" and event.fired_at == T0 + timedelta(minutes=8)
    assert [r.json["alert"]["condition"] for r in receiver.requests] == ["no traffic for 2m"]


def test_drift_rule_fires_on_a_drifted_feature(engine: Engine, db_url: str, receiver: WebhookReceiver) -> None:
    from sqlalchemy import MetaData, Table

    table = Table("drift_results", MetaData(), autoload_with=engine)
    project = get_or_create_project(engine, "default").rowid

    def result(feature: str, drifted: bool, end: datetime) -> dict[str, object]:
        return {"project_rowid": project, "feature": feature, "statistic": "psi", "score": 0.4 if drifted else 0.01,
                "threshold": 0.2, "drifted": drifted, "segment": "all", "window_start": end - timedelta(hours=1),
                "window_end": end, "reference_start": end - timedelta(hours=2),
                "reference_end": end - timedelta(hours=1),
                "current_count": 500, "reference_count": 500, "created_at": end}

    with engine.begin() as conn:
        conn.execute(table.insert(), [result("input_length", False, T0), result("output_length", False, T0),
                                      result("input_length", True, T0 + timedelta(hours=1))])
    service = _service(engine, _settings(db_url, receiver))
    _rule(engine, name="drift", kind="drift", metric="", aggregate=None, threshold=0, window="2h", **{"for": "0s"})
    assert service.evaluate_once(T0 + timedelta(hours=1, minutes=5)) == {"fire_new": 1}
    [event] = _events(engine)
    assert event.labels == {"feature": "input_length", "segment": "all", "statistic": "psi"}


def test_each_evaluation_is_recorded_on_the_rule(engine: Engine, db_url: str,
                                                         receiver: WebhookReceiver) -> None:
    from monitor.alerts.rulestore import get_rule

    service = _service(engine, _settings(db_url, receiver))
    rule_id = _rule(engine, name="recorded", **{"for": "0s"})
    write_calls(engine, T0, 30, timedelta(seconds=10), latency_ms=3000)
    assert service.evaluate_once(T0 + timedelta(minutes=2)) == {"fire_new": 1}
    assert get_rule(engine, rule_id).last_error is None
    assert get_rule(engine, rule_id).last_value == pytest.approx(3000, rel=0.01)


def test_scraped_gpu_metric_alerts_per_series(engine: Engine, db_url: str, receiver: WebhookReceiver) -> None:
    from monitor.store.metric_writer import MetricWriter
    from monitor.store.points import GAUGE, MetricPoint

    project = get_or_create_project(engine, "default").rowid
    points = [MetricPoint("DCGM_FI_DEV_GPU_UTIL", GAUGE, int((T0 + timedelta(seconds=15 * i)).timestamp() * 1e9),
                          util, {"gpu": gpu, "deployment": dep}, source="dcgm-1")
              for i in range(20) for gpu, util, dep in (("0", 97.0, "llama"), ("1", 20.0, "llama"),
                                                        ("2", 99.0, "other"))]
    MetricWriter(engine).write_points(project, points)
    service = _service(engine, _settings(db_url, receiver))
    _rule(engine, name="gpu hot", metric="DCGM_FI_DEV_GPU_UTIL", aggregate="mean", threshold=90, window="5m",
          filters={"labels": {"deployment": "llama"}}, **{"for": "0s"})
    assert service.evaluate_once(T0 + timedelta(minutes=5)) == {"fire_new": 1}
    [event] = _events(engine)
    assert event.labels == {"gpu": "0", "deployment": "llama", "source": "dcgm-1"}
    assert event.value == pytest.approx(97.0)


def test_an_invalid_stored_rule_is_skipped_not_fatal(engine: Engine, db_url: str, receiver: WebhookReceiver) -> None:
    from sqlalchemy import update

    from monitor.store.models import AlertRuleRow

    write_calls(engine, T0, 30, timedelta(seconds=10), latency_ms=3000)
    broken = _rule(engine, name="broken")
    _rule(engine, name="fine", **{"for": "0s"})
    with engine.begin() as conn:
        conn.execute(update(AlertRuleRow).where(AlertRuleRow.id == broken).values(spec={"name": "broken", "x": 1}))
    service = _service(engine, _settings(db_url, receiver))
    assert service.evaluate_once(T0 + timedelta(minutes=2)) == {"fire_new": 1}
