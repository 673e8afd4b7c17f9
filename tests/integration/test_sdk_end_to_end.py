"""A decorated application against a real llm-monitor server: the trace comes back through the
REST API with the right tree, tokens and cost; an unreachable server costs the app nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from monitor import sdk
from monitor.config import Settings
from monitor.server import ServiceHandle, free_port, start_in_thread


@pytest.fixture
def service(settings: Settings) -> Iterator[ServiceHandle]:
    handle = start_in_thread(settings, with_grpc=False)
    yield handle
    handle.stop()


def test_decorated_app_trace_round_trip(service: ServiceHandle) -> None:
    base = f"http://127.0.0.1:{service.http_port}"
    sdk.configure(endpoint=base, service_name="support-bot", schedule_delay_s=0.05)

    @sdk.observe(kind="retrieval")
    def retrieve(question: str) -> list[str]:
        return ["Refunds take 5 days."]

    @sdk.observe(kind="llm", model="gpt-4o-mini", provider="openai")
    def generate(messages: list[dict]) -> dict:
        return {"id": "chatcmpl-9", "model": "gpt-4o-mini-2024-07-18", "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "About 5 days."}}],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}}

    @sdk.observe(kind="chain", name="answer")
    def answer(question: str) -> str:
        docs = retrieve(question)
        reply = generate([{"role": "system", "content": "Use: " + docs[0]}, {"role": "user", "content": question}])
        return reply["choices"][0]["message"]["content"]

    with sdk.context(user_id="u7", segment={"variant": "B"}):
        assert answer("How long do refunds take?") == "About 5 days."
    assert sdk.flush(10)
    sdk.shutdown()
    calls = httpx.get(f"{base}/api/v1/calls").json()["items"]
    assert len(calls) == 1
    call = calls[0]
    assert (call["input_tokens"], call["output_tokens"], call["total_tokens"]) == (1000, 200, 1200)
    assert call["cost_source"] == "genai-prices" and call["cost_usd"] == pytest.approx((1000 * 0.15 + 200 * 0.6) / 1e6)
    assert call["input_text"] == "How long do refunds take?" and call["output_text"] == "About 5 days."
    assert call["system_instructions"] == "Use: Refunds take 5 days."
    assert call["user_id"] == "u7" and call["segment"] == {"variant": "B"} and call["response_id"] == "chatcmpl-9"
    assert call["service_name"] == "support-bot"
    trace = httpx.get(f"{base}/api/v1/traces/{call['trace_id']}").json()
    assert trace["span_count"] == 3
    (root,) = trace["roots"]
    assert root["name"] == "answer" and [c["name"] for c in root["children"]] == [
        "test_decorated_app_trace_round_trip.<locals>.retrieve", "chat gpt-4o-mini"]


def test_unreachable_server_costs_the_app_nothing(caplog: pytest.LogCaptureFixture) -> None:
    sdk.configure(endpoint=f"http://127.0.0.1:{free_port()}", max_queue_size=200, schedule_delay_s=0.01,
                  export_timeout_s=1.0)

    @sdk.observe(kind="llm", model="m")
    def ask(prompt: str) -> str:
        return "ok"

    start = time.perf_counter()
    for _ in range(5000):
        assert ask("hello") == "ok"
    per_call = (time.perf_counter() - start) / 5000
    time.sleep(2)  # several failed exports happen meanwhile
    stats = sdk.stats()
    sdk.shutdown()
    assert per_call < 0.001, f"{per_call * 1e6:.0f} µs per call"
    assert stats["dropped"] > 0 and stats["exported"] == 0 and stats["failed"] > 200
    exporter_logs = [r for r in caplog.records if r.name.startswith("opentelemetry.exporter")]
    assert 1 <= len(exporter_logs) <= 3  # rate-limited, not one warning per batch
