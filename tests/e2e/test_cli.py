"""The CLI as a user runs it: migrate, create a key, serve, send spans with a standard-configured
OpenTelemetry exporter (environment variables only), read them back, revoke the key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.server import free_port

CLI = [sys.executable, "-m", "monitor"]

EMIT = """
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
with provider.get_tracer("e2e").start_as_current_span("chat gpt-4o") as span:
    span.set_attribute("gen_ai.operation.name", "chat")
    span.set_attribute("gen_ai.request.model", "gpt-4o")
    span.set_attribute("gen_ai.usage.input_tokens", 3)
    span.set_attribute("gen_ai.usage.output_tokens", 4)
provider.shutdown()
"""


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_MONITOR_", "OTEL_"))}
    e.update(LLM_MONITOR_DATABASE_URL=db_url, LLM_MONITOR_SERVER__KEY_CACHE_TTL_S="0",
             LLM_MONITOR_CONFIG=str(tmp_path / "absent.toml"))
    return e


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    port, grpc_port = free_port(), free_port()
    key = run(["keys", "create", "--project", "shop", "--name", "e2e"], env)
    assert key.returncode == 0, key.stderr
    secret = key.stdout.strip()
    assert secret.startswith("lm_") and "shown only now" in key.stderr
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--grpc-port", str(grpc_port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(proc.communicate()[0])
    yield base, {**env, "_KEY": secret}
    proc.terminate()
    out, _ = proc.communicate(timeout=20)
    # uvicorn shuts down cleanly, then re-raises SIGTERM so the exit status tells how it stopped
    assert proc.returncode in (0, -signal.SIGTERM) and "Finished server process" in out, out
    assert secret not in out  # no secret in logs


def test_serve_requires_a_migrated_database(tmp_path: Path, env: dict[str, str]) -> None:
    env = {**env, "LLM_MONITOR_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    result = run(["serve", "--port", str(free_port())], env)
    assert result.returncode == 2 and "llm-monitor migrate" in result.stderr
    assert run(["migrate"], env).returncode == 0
    assert run(["migrate"], env).returncode == 0  # idempotent


def test_exporter_configured_by_environment(server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    secret = env.pop("_KEY")
    app_env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_SERVICE_NAME": "shop-api",
               "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer {secret}"}
    emitted = subprocess.run([sys.executable, "-c", EMIT], env=app_env, capture_output=True, text=True,
                             timeout=60, check=False)
    assert emitted.returncode == 0, emitted.stderr
    auth = {"Authorization": f"Bearer {secret}"}
    calls = httpx.get(f"{base}/api/v1/calls", headers=auth).json()["items"]
    assert len(calls) == 1
    assert calls[0]["service_name"] == "shop-api" and calls[0]["total_tokens"] == 7
    listed = run(["keys", "list"], env)
    assert "shop" in listed.stdout and secret not in listed.stdout
    key_id = listed.stdout.split()[0]
    assert run(["keys", "revoke", key_id], env).returncode == 0
    assert httpx.get(f"{base}/api/v1/calls", headers=auth).status_code == 401
    assert run(["keys", "revoke", key_id], env).returncode == 1


SDK_APP = """
import os
from monitor import sdk
sdk.configure(endpoint=os.environ["ENDPOINT"], api_key=os.environ["KEY"], service_name="sdk-app")

@sdk.observe(kind="llm", model="gpt-4o-mini", provider="openai")
def generate(messages):
    return {"id": "chatcmpl-1", "model": "gpt-4o-mini", "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi!"}}],
            "usage": {"prompt_tokens": 2000, "completion_tokens": 1000, "total_tokens": 3000}}

@sdk.observe(kind="agent", name="agent")
def agent(question):
    return generate([{"role": "user", "content": question}])

agent("Hello?")
"""


def test_sdk_application_against_llm_monitor_serve(server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    secret = env.pop("_KEY")
    done = subprocess.run([sys.executable, "-c", SDK_APP], env={**env, "ENDPOINT": base, "KEY": secret},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    auth = {"Authorization": f"Bearer {secret}"}
    (call,) = httpx.get(f"{base}/api/v1/calls", headers=auth).json()["items"]
    assert call["total_tokens"] == 3000 and call["output_text"] == "Hi!" and call["service_name"] == "sdk-app"
    assert call["cost_usd"] == pytest.approx((2000 * 0.15 + 1000 * 0.6) / 1e6)
    trace = httpx.get(f"{base}/api/v1/traces/{call['trace_id']}", headers=auth).json()
    (root,) = trace["roots"]
    assert root["name"] == "agent" and root["operation"] == "invoke_agent"
    assert [c["span_id"] for c in root["children"]] == [call["span_id"]]
