"""The dashboard's Alerts page (and the Overview's alert line) on a real SQLite database, via AppTest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import dashboard
from monitor.alerts import RuleSpec
from monitor.alerts.rulestore import create_rule
from monitor.alerts.service import AlertService
from monitor.config import Settings
from monitor.migrate import upgrade
from monitor.store import make_engine
from monitor.store.keys import get_or_create_project
from tests.alert_helpers import SECRET, WebhookReceiver, write_calls

APP = str(Path(dashboard.__file__).with_name("app.py"))


def _app(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", url)
    monkeypatch.setenv("LLM_MONITOR_CONFIG", str(tmp_path / "absent.toml"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_alerts_page_shows_rules_firing_history_and_deliveries(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    upgrade(url)
    engine = make_engine(url)
    receiver = WebhookReceiver().start()
    try:
        now = datetime.now(UTC)
        write_calls(engine, now - timedelta(minutes=4), 24, timedelta(seconds=10), latency_ms=3000, model="slow")
        settings = Settings(database_url=url, alerts={"allow_networks": ["127.0.0.0/8"]},
                            webhooks={"oncall": {"url": receiver.url}})
        for name, threshold in (("slow answers", 1000), ("very slow answers", 10_000)):
            create_rule(engine, "default", RuleSpec.model_validate({
                "name": name, "metric": "latency_ms", "aggregate": "p95", "threshold": threshold, "window": "15m",
                "severity": "critical", "webhooks": ["oncall"]}))
        service = AlertService(engine, settings, {"oncall": SECRET})
        service.evaluate_once()
        service.send_once()
    finally:
        receiver.stop()
    at = _app(url, tmp_path, monkeypatch)
    assert "1 alert(s) firing" in at.error[0].value  # the Overview's line
    at.switch_page("alerts.py").run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric} == {"Firing": "1", "Pending": "0", "Notifications waiting": "0",
                                                     "Notifications failed": "0"}
    rules, history, deliveries = (d.value for d in at.dataframe)
    assert list(rules["name"]) == ["slow answers", "very slow answers"]
    assert list(rules["condition"]) == ["p95(latency_ms) > 1000 for 0s over 15m",
                                        "p95(latency_ms) > 10000 for 0s over 15m"]
    assert list(history["status"]) == ["firing"] and list(history["rule"]) == ["slow answers"]
    assert list(history["value"]) == [pytest.approx(3000, rel=0.01)]
    assert list(deliveries["status"]) == ["delivered"] and list(deliveries["HTTP"]) == [200]


def test_alerts_page_without_rules_says_how_to_add_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    upgrade(url)
    get_or_create_project(make_engine(url), "default")
    at = _app(url, tmp_path, monkeypatch)
    at.switch_page("alerts.py").run()
    assert not at.exception
    assert "No alert rules yet" in at.info[0].value and "llm-monitor alerts add" in at.info[0].value
