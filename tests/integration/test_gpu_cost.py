"""GPU-time cost of self-hosted requests, checked to the cent on hand-computed scenarios.

One H100 at $7.20 an hour costs $0.002 a second. Request A runs from 0 s to 600 s, request B from
300 s to 1200 s:

- 0–300 s, A alone: A pays 300 × 0.002 = $0.60
- 300–600 s, A and B: each pays 300 × 0.002 / 2 = $0.30
- 600–1200 s, B alone: B pays 600 × 0.002 = $1.20

So A = $0.90, B = $1.50; over 0–1800 s the GPU costs $3.60, of which $1.20 is idle.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine

from collectors.prometheus import ScrapeRunner
from monitor.config import Settings
from monitor.cost import catalog_cost
from monitor.gpu_cost import Request, attribute
from monitor.server import ServiceHandle, start_in_thread
from monitor.worker import Worker
from tests.integration.test_scrape import Exporter, vllm_new
from tests.otlp_builders import chat_attrs, make_span, request

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
S = 10**9


def test_attribution_arithmetic() -> None:
    reqs = [Request("A", 0, 600 * S), Request("B", 300 * S, 1200 * S)]
    costs = attribute(reqs, 0.002)
    assert costs == {"A": pytest.approx(0.90), "B": pytest.approx(1.50)}
    gauge = [[(0, 2.0), (300 * S, 3.0), (600 * S, 2.0), (1200 * S, 0.0)]]
    with_untraced = attribute(reqs, 0.002, gauge, stale_ns=3600 * S)
    assert with_untraced == {"A": pytest.approx(0.50), "B": pytest.approx(0.80)}
    stale = attribute(reqs, 0.002, [[(0, 5.0)]], stale_ns=60 * S)  # a gauge that stopped reporting
    assert stale["A"] == pytest.approx(60 * 0.002 / 5 + 240 * 0.002 + 0.30)
    assert attribute([], 0.002) == {}


@pytest.fixture
def gpu_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"deployments": Settings(deployments=[{
        "name": "llama-8b", "model": MODEL, "gpu_type": "H100", "gpu_count": 1, "usd_per_gpu_hour": 7.20,
    }]).deployments})


@pytest.fixture
def service(gpu_settings: Settings) -> Iterator[ServiceHandle]:
    handle = start_in_thread(gpu_settings, with_grpc=False)
    yield handle
    handle.stop()


def send(service: ServiceHandle, t0: datetime) -> dict[str, str]:
    """A and B (A wrapping the server's own span of the same request), and one API call."""
    start = int(t0.timestamp()) * S
    trace_a = b"\xaa" * 16
    a = make_span(chat_attrs(MODEL, 1000, 500), trace_id=trace_a, span_id=b"\x0a" * 8, start_ns=start,
                  duration_ms=600_000)
    a_server = make_span(chat_attrs(MODEL, 1000, 500), trace_id=trace_a, span_id=b"\x0b" * 8, parent=b"\x0a" * 8,
                         name="llm_request", start_ns=start + S, duration_ms=598_000)
    b = make_span(chat_attrs(MODEL, 2000, 1000), span_id=b"\x0c" * 8, start_ns=start + 300 * S,
                  duration_ms=900_000)
    api = make_span(chat_attrs("gpt-4o-mini", 1000, 500), span_id=b"\x0d" * 8, start_ns=start + 10 * S)
    body = request([a, a_server, b, api]).SerializeToString()
    resp = httpx.post(f"http://127.0.0.1:{service.http_port}/v1/traces", content=body,
                      headers={"Content-Type": "application/x-protobuf"})
    assert resp.status_code == 200
    return {"A": "0a" * 8, "A-server": "0b" * 8, "B": "0c" * 8, "api": "0d" * 8}


def calls(service: ServiceHandle) -> dict[str, dict]:
    items = httpx.get(f"http://127.0.0.1:{service.http_port}/api/v1/calls", params={"limit": 100}).json()["items"]
    return {c["span_id"]: c for c in items}


def test_two_overlapping_requests_on_one_gpu(service: ServiceHandle, gpu_settings: Settings, engine: Engine) -> None:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    ids = send(service, t0)
    before = calls(service)
    assert before[ids["A"]]["cost_usd"] is None and before[ids["B"]]["cost_usd"] is None  # left for GPU time
    assert before[ids["api"]]["cost_source"] == "genai-prices"
    worker = Worker(gpu_settings, engine)
    assert worker.maintain_once()["gpu_cost"] == 2
    assert worker.maintain_once()["gpu_cost"] == 0  # priced once
    after = calls(service)
    for name, usd in (("A", 0.90), ("B", 1.50)):
        assert after[ids[name]]["cost_source"] == "gpu_time"
        assert after[ids[name]]["cost_usd"] == pytest.approx(usd, abs=1e-9)
        assert round(after[ids[name]]["cost_usd"], 2) == usd
    trace = httpx.get(f"http://127.0.0.1:{service.http_port}/api/v1/traces/{'aa' * 16}").json()
    assert trace["roots"][0]["children"][0]["cost_usd"] is None  # the nested server span is not charged twice

    report = httpx.get(f"http://127.0.0.1:{service.http_port}/api/v1/deployments/llama-8b/cost", params={
        "start": t0.isoformat(), "end": (t0 + timedelta(seconds=1800)).isoformat(),
        "compare_model": "gpt-4o-mini", "compare_provider": "openai"}).json()
    assert report["gpu_hours"] == pytest.approx(0.5) and round(report["gpu_cost_usd"], 2) == 3.60
    assert round(report["attributed_usd"], 2) == 2.40 and round(report["idle_usd"], 2) == 1.20
    assert (report["requests"], report["input_tokens"], report["output_tokens"], report["unpriced"]) == (2, 3000,
                                                                                                       1500, 0)
    assert round(report["cost_per_1m_tokens"], 2) == round(2.40 / 4500 * 1e6, 2) == 533.33
    assert round(report["cost_per_1m_output_tokens"], 2) == 1600.00
    api_usd = catalog_cost("gpt-4o-mini", "openai", 1000, 500) + catalog_cost("gpt-4o-mini", "openai", 2000, 1000)
    assert report["api_comparison"]["known"] and report["api_comparison"]["usd"] == pytest.approx(api_usd)
    assert report["api_comparison"]["cost_per_1m_tokens"] == pytest.approx(api_usd / 4500 * 1e6)


def test_scraped_running_gauge_counts_untraced_requests(service: ServiceHandle, gpu_settings: Settings,
                                                        engine: Engine) -> None:
    """vLLM reports one more request than was traced (2, then 3 while A and B overlap, then 2):
    A = 300 × 0.002 / 2 + 300 × 0.002 / 3 = $0.50, B = 300 × 0.002 / 3 + 600 × 0.002 / 2 = $0.80."""
    exporter = Exporter(vllm_new)
    cfg = gpu_settings.model_copy(update={"scrape": Settings(scrape={"targets": [
        {"name": "vllm", "url": exporter.url, "kind": "vllm", "labels": {"deployment": "llama-8b"}}]}).scrape})
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    runner = ScrapeRunner(cfg, engine)
    try:
        for t in range(-20, 1240, 20):
            exporter.m.running.set(3 if 300 <= t < 600 else 2)
            runner.scrape_once("vllm", int(t0.timestamp() + t) * S)
    finally:
        runner.close()
        exporter.stop()
    ids = send(service, t0)
    assert Worker(cfg, engine).maintain_once()["gpu_cost"] == 2
    after = calls(service)
    assert round(after[ids["A"]]["cost_usd"], 2) == 0.50 and after[ids["A"]]["cost_usd"] == pytest.approx(0.50)
    assert round(after[ids["B"]]["cost_usd"], 2) == 0.80 and after[ids["B"]]["cost_usd"] == pytest.approx(0.80)


def test_unknown_deployment_and_bad_ranges_are_clear_errors(service: ServiceHandle) -> None:
    base = f"http://127.0.0.1:{service.http_port}/api/v1/deployments"
    missing = httpx.get(f"{base}/nope/cost")
    assert missing.status_code == 404 and "llama-8b" in missing.json()["detail"]
    assert httpx.get(f"{base}/llama-8b/cost", params={"window": "forever"}).status_code == 422
    assert httpx.get(f"{base}/llama-8b/cost", params={"window": "99999999999d"}).status_code == 422
    assert httpx.get(f"{base}/llama-8b/cost", params={"start": "2026-01-02T00:00:00Z",
                                                       "end": "2026-01-01T00:00:00Z"}).status_code == 422
    listed = httpx.get(base).json()
    assert listed == [{"name": "llama-8b", "model": MODEL, "gpu_type": "H100", "gpu_count": 1,
                       "usd_per_gpu_hour": 7.2, "targets": []}]
