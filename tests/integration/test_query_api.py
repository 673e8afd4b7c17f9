"""The REST API's calls listing (filters, cursor pages) and summary (hand-computed figures)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import httpx
import pytest

from monitor.config import Settings
from monitor.server import ServiceHandle, start_in_thread
from tests.otlp_builders import chat_attrs, make_span, request

PB = {"Content-Type": "application/x-protobuf"}
T0 = 1_764_000_000 * 10**9  # 2025-11-24T16:00:00Z


@pytest.fixture
def base(settings: Settings) -> Iterator[str]:
    handle: ServiceHandle = start_in_thread(settings, with_grpc=False)
    yield f"http://127.0.0.1:{handle.http_port}"
    handle.stop()


def post(base: str, spans: list, resource: dict | None = None) -> None:
    resp = httpx.post(f"{base}/v1/traces", content=request(spans, resource).SerializeToString(), headers=PB)
    assert resp.status_code == 200 and resp.content == b""


def seed(base: str) -> None:
    """10 calls of model a (latency 100..1000 ms, 2 errors, region eu) and 5 of model b (region us)."""
    a = [make_span(chat_attrs("model-a", 10, 5, **{"llm_monitor.segment.region": "eu", "user.id": f"u{i % 2}",
                                                    "gen_ai.response.time_to_first_chunk": i / 100}),
                   duration_ms=100.0 * (i + 1), start_ns=T0 + i * 10**9, status_code=2 if i < 2 else 0)
         for i in range(10)]
    b = [make_span(chat_attrs("model-b", 1, 1, **{"llm_monitor.segment.region": "us",
                                                   "llm_monitor.tags": ["beta", "ab"]}),
                   duration_ms=50.0, start_ns=T0 + (20 + i) * 10**9) for i in range(5)]
    post(base, a, {"service.name": "svc-a"})
    post(base, b, {"service.name": "svc-b"})


def test_filters(base: str) -> None:
    seed(base)

    def count(**params: object) -> int:
        resp = httpx.get(f"{base}/api/v1/calls", params={"limit": 1000, **params})
        assert resp.status_code == 200, resp.text
        return len(resp.json()["items"])

    assert count() == 15
    assert count(model="model-a") == 10
    assert count(service="svc-b") == 5
    assert count(segment="region:eu") == 10
    assert count(segment=["region:us", "region:eu"]) == 15
    assert count(user="u1") == 5
    assert count(tag="beta") == 5 and count(tag="gamma") == 0
    assert count(has_error="true") == 2 and count(has_error="false") == 13
    assert count(start="2025-11-24T16:00:05Z", end="2025-11-24T16:00:21Z") == 5 + 1
    assert httpx.get(f"{base}/api/v1/calls", params={"segment": "nocolon"}).status_code == 422
    assert httpx.get(f"{base}/api/v1/calls", params={"cursor": "%%%"}).status_code == 422


def test_cursor_pagination_visits_every_call_once_newest_first(base: str) -> None:
    seed(base)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{base}/api/v1/calls", params=params).json()
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 4 and len({c["span_id"] for c in seen}) == 15
    starts = [c["start_time"] for c in seen]
    assert starts == sorted(starts, reverse=True)


def test_summary_figures(base: str) -> None:
    seed(base)
    resp = httpx.get(f"{base}/api/v1/metrics/summary", params={"group_by": "model"})
    assert resp.status_code == 200, resp.text
    groups = {g["group"]: g for g in resp.json()["groups"]}
    a = groups["model-a"]
    assert a["requests"] == 10 and a["errors"] == 2 and a["error_rate"] == pytest.approx(0.2)
    # latencies 100..1000 ms: linear interpolation between closest ranks
    assert a["latency_ms_p50"] == pytest.approx(550.0)
    assert a["latency_ms_p95"] == pytest.approx(955.0)
    assert a["latency_ms_p99"] == pytest.approx(991.0)
    assert a["ttft_ms_p50"] == pytest.approx(45.0)
    assert (a["input_tokens"], a["output_tokens"]) == (100, 50)
    assert groups["model-b"]["requests"] == 5 and groups["model-b"]["ttft_ms_p50"] is None
    by_region = httpx.get(f"{base}/api/v1/metrics/summary", params={"group_by": "segment.region"}).json()
    assert {g["group"]: g["requests"] for g in by_region["groups"]} == {"eu": 10, "us": 5}
    total = httpx.get(f"{base}/api/v1/metrics/summary").json()["groups"]
    assert total[0]["requests"] == 15
    assert httpx.get(f"{base}/api/v1/metrics/summary", params={"group_by": "colour"}).status_code == 422
    assert httpx.get(f"{base}/api/v1/metrics/summary", params={"window": "1h"}).json()["groups"] == []


def test_nested_llm_spans_are_counted_once(base: str) -> None:
    trace_id, client_id = os.urandom(16), os.urandom(8)
    client = make_span(chat_attrs("llama", 10, 10), trace_id=trace_id, span_id=client_id, start_ns=time.time_ns())
    server = make_span({"gen_ai.response.model": "llama", "gen_ai.usage.prompt_tokens": 10,
                        "gen_ai.usage.completion_tokens": 10, "gen_ai.latency.time_to_first_token": 0.05},
                       trace_id=trace_id, parent=client_id, name="llm_request")
    post(base, [server])
    post(base, [client])
    calls = httpx.get(f"{base}/api/v1/calls").json()["items"]
    assert [c["span_id"] for c in calls] == [client_id.hex()]
    trace = httpx.get(f"{base}/api/v1/traces/{trace_id.hex()}").json()
    assert trace["span_count"] == 2
    assert trace["roots"][0]["children"][0]["ttft_ms"] == pytest.approx(50.0)


def test_trace_lookup_errors(base: str) -> None:
    assert httpx.get(f"{base}/api/v1/traces/{'ab' * 16}").status_code == 404
    assert httpx.get(f"{base}/api/v1/traces/xyz").status_code == 422
    assert httpx.get(f"{base}/readyz").json() == {"status": "ready"}
    spec = httpx.get(f"{base}/openapi.json").json()
    assert {"/api/v1/calls", "/api/v1/traces/{trace_id}", "/api/v1/metrics/summary"} <= set(spec["paths"])
