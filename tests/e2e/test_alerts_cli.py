"""``llm-monitor alerts …`` and ``llm-monitor worker`` as a user runs them, with a real receiver on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.alert_helpers import SECRET, WebhookReceiver, write_calls

CLI = [sys.executable, "-m", "monitor"]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver().start()
    yield r
    r.stop()


def _env(db_url: str, tmp_path: Path, receiver: WebhookReceiver, extra_toml: str = "") -> dict[str, str]:
    config = tmp_path / "llm-monitor.toml"
    config.write_text(f"""
[alerts]
allow_networks = ["127.0.0.0/8"]
evaluation_interval_s = 0.2
send_interval_s = 0.1
{extra_toml}
[webhooks.oncall]
url = "{receiver.url}"
format = "json"
secret_env = "ONCALL_SECRET"
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_MONITOR_", "OTEL_"))}
    env.update(LLM_MONITOR_DATABASE_URL=db_url, LLM_MONITOR_CONFIG=str(config), ONCALL_SECRET=SECRET)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_alerts_add_list_test_delete(db_url: str, engine: Engine, tmp_path: Path, receiver: WebhookReceiver) -> None:
    env = _env(db_url, tmp_path, receiver)
    added = run(["alerts", "add", "--name", "errors", "--metric", "error_rate", "--threshold", "0.1",
                 "--window", "10m", "--for", "2m", "--severity", "critical", "--webhook", "oncall"], env)
    assert added.returncode == 0, added.stderr
    assert "error_rate > 0.1 for 2m over 10m" in added.stdout
    again = run(["alerts", "add", "--name", "errors", "--metric", "error_rate"], env)
    assert again.returncode == 1 and "already has a rule named 'errors'" in again.stderr
    bad = run(["alerts", "add", "--name", "x", "--metric", "latency_ms", "--window", "ten minutes"], env)
    assert bad.returncode == 2 and "must look like 30s, 15m, 1h or 7d" in bad.stderr
    unknown = run(["alerts", "add", "--name", "x", "--metric", "error_rate", "--webhook", "pager"], env)
    assert unknown.returncode == 2 and "unknown webhook(s) pager" in unknown.stderr

    listed = run(["alerts", "list"], env)
    assert listed.returncode == 0 and "errors\tapi\tcritical" in listed.stdout and "never evaluated" in listed.stdout

    write_calls(engine, datetime.now(UTC) - timedelta(minutes=3), 30, timedelta(seconds=5), error=True)
    tested = run(["alerts", "test", "errors", "--send", "oncall"], env)
    assert tested.returncode == 0, tested.stderr
    assert "(all)\tvalue=1.0\tsamples=30\tBREACHING" in tested.stdout
    assert "test notification delivered to 'oncall' (HTTP 200" in tested.stdout
    [request] = receiver.requests
    assert request.verified and request.json["transition"] == "test"
    assert SECRET not in tested.stdout + tested.stderr

    assert run(["alerts", "test", "nope"], env).returncode == 1
    deleted = run(["alerts", "delete", "errors"], env)
    assert deleted.returncode == 0 and "deleted rule" in deleted.stdout
    assert run(["alerts", "list"], env).stdout == ""


def test_worker_syncs_config_rules_and_delivers(db_url: str, engine: Engine, tmp_path: Path,
                                                receiver: WebhookReceiver) -> None:
    rule = """
[[alerts.rules]]
name = "slow answers"
kind = "metric"
metric = "latency_ms"
aggregate = "p95"
threshold = 1000
window = "15m"
for = "0s"
severity = "critical"
webhooks = ["oncall"]
"""
    env = _env(db_url, tmp_path, receiver, rule)
    assert run(["migrate"], env).returncode == 0
    write_calls(engine, datetime.now(UTC) - timedelta(minutes=5), 30, timedelta(seconds=5), latency_ms=4000)
    proc = subprocess.Popen([*CLI, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        requests = receiver.wait_for(1, timeout_s=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0]
    assert len(requests) == 1, output
    assert requests[0].verified and requests[0].json["alert"]["rule"] == "slow answers"
    assert SECRET not in output
    listed = run(["alerts", "list"], env)
    assert "slow answers\tconfig\tcritical" in listed.stdout and "value 4000" in listed.stdout
