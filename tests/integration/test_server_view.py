"""The unified server view of a deployment: scraped vLLM and DCGM series joined with traced requests
of the same model, through the REST API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine

from collectors.prometheus import ScrapeRunner
from monitor.config import Settings
from monitor.server import ServiceHandle, start_in_thread
from monitor.worker import Worker
from tests.integration.test_scrape import Exporter, dcgm, vllm_new
from tests.otlp_builders import chat_attrs, make_span, request

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
S = 10**9


@pytest.fixture
def exporters() -> Iterator[dict[str, Exporter]]:
    servers = {"vllm": Exporter(vllm_new), "dcgm": Exporter(dcgm)}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def view_settings(settings: Settings, exporters: dict[str, Exporter]) -> Settings:
    linked = Settings(
        deployments=[{"name": "llama-8b", "model": MODEL, "gpu_type": "H100", "usd_per_gpu_hour": 2.5,
                      "server": exporters["vllm"].url[:-8]}],
        scrape={"targets": [
            {"name": "vllm", "url": exporters["vllm"].url, "kind": "vllm"},
            {"name": "dcgm", "url": exporters["dcgm"].url, "kind": "dcgm", "labels": {"deployment": "llama-8b"}},
        ]})
    return settings.model_copy(update={"deployments": linked.deployments, "scrape": linked.scrape})


@pytest.fixture
def service(view_settings: Settings) -> Iterator[ServiceHandle]:
    handle = start_in_thread(view_settings, with_grpc=False)
    yield handle
    handle.stop()


def test_server_view_joins_server_gpu_and_traced_requests(service: ServiceHandle, view_settings: Settings,
                                                          exporters: dict[str, Exporter], engine: Engine) -> None:
    assert view_settings.scrape.targets[0].labels == {"deployment": "llama-8b"}  # linked through `server`
    v, d = exporters["vllm"].m, exporters["dcgm"].m
    runner = ScrapeRunner(view_settings, engine)
    now = datetime.now(UTC)
    t0 = now - timedelta(minutes=4)
    ttfts = []
    for i in range(4):                      # a scrape a minute; the first one is the baseline
        v.running.set(i + 1)
        v.waiting.set(2 * i)
        v.kv.set(0.1 * (i + 1))
        d.util.set(50 + 10 * i)
        d.fb_used.set(1000 * (i + 1))
        d.power.set(400 + i)
        if i:
            v.generation.inc(600)
            v.prompt.inc(1800)
            v.preemptions.inc(1)
            d.energy.inc(60_000_000)        # 60 kJ in mJ
            for x in (0.03, 0.09, 0.4):
                v.ttft.observe(x)
                ttfts.append(x)
            v.itl.observe(0.02)
        at = int((t0 + timedelta(minutes=i)).timestamp() * S)
        assert runner.scrape_once("vllm", at) and runner.scrape_once("dcgm", at)
    runner.close()
    spans = [make_span(chat_attrs(MODEL, 100, 40), start_ns=int((t0 + timedelta(seconds=30 * i)).timestamp() * S),
                       duration_ms=800) for i in range(5)]
    spans.append(make_span(chat_attrs("gpt-4o-mini", 10, 5)))
    assert httpx.post(f"http://127.0.0.1:{service.http_port}/v1/traces", content=request(spans).SerializeToString(),
                      headers={"Content-Type": "application/x-protobuf"}).status_code == 200

    url = f"http://127.0.0.1:{service.http_port}/api/v1/deployments/llama-8b/view"
    view = httpx.get(url, params={"window": "15m"}).json()
    assert view["deployment"] == "llama-8b" and view["model"] == MODEL
    assert view["targets"] == {"vllm": 1.0, "dcgm": 1.0}
    assert view["requests_running"] == {"last": 4.0, "mean": 2.5, "max": 4.0}
    assert view["requests_waiting"]["last"] == 6.0
    assert view["kv_cache_usage"]["last"] == pytest.approx(0.4) and view["kv_cache_usage"]["max"] == pytest.approx(0.4)
    assert view["ttft_s"]["count"] == 9 and view["ttft_s"]["mean"] == pytest.approx(sum(ttfts) / 9)
    assert 0.08 < view["ttft_s"]["p50"] <= 0.1 and 0.25 < view["ttft_s"]["p95"] <= 0.5
    assert view["inter_token_latency_s"]["count"] == 3
    assert view["generation_tokens_per_s"] == pytest.approx(1800 / 900)
    assert view["prompt_tokens_per_s"] == pytest.approx(5400 / 900)
    assert view["preemptions"] == 3
    gpu = view["gpu"]
    assert gpu["count"] == 1 and gpu["utilization"]["last"] == pytest.approx(0.8)
    assert gpu["utilization"]["mean"] == pytest.approx(0.65)
    assert gpu["memory_used_bytes"]["last"] == 4000 * 1024 * 1024 and gpu["power_w"]["max"] == 403
    assert gpu["energy_j"] == pytest.approx(180_000)
    traced = view["traced"]
    assert traced["requests"] == 5 and traced["input_tokens"] == 500 and traced["output_tokens"] == 200
    assert traced["latency_ms_p50"] == pytest.approx(800)

    Worker(view_settings, engine).maintain_once(now + timedelta(minutes=1))  # roll up, then read a long window
    week = httpx.get(url, params={"window": "7d"}).json()
    assert week["generation_tokens_per_s"] == pytest.approx(1800 / (7 * 86400))
    assert week["ttft_s"]["count"] == 9 and week["gpu"]["energy_j"] == pytest.approx(180_000)
    assert week["requests_running"]["max"] == 4.0 and week["traced"]["requests"] == 5


def test_view_of_a_deployment_with_no_data_says_none(service: ServiceHandle) -> None:
    view = httpx.get(f"http://127.0.0.1:{service.http_port}/api/v1/deployments/llama-8b/view").json()
    assert view["requests_running"] == {"last": None, "mean": None, "max": None}
    assert view["ttft_s"]["p50"] is None and view["generation_tokens_per_s"] is None
    assert view["gpu"]["count"] is None and view["traced"] is None
    assert httpx.get(f"http://127.0.0.1:{service.http_port}/api/v1/deployments/x/view").status_code == 404


def test_metric_series_endpoint(service: ServiceHandle, view_settings: Settings, exporters: dict[str, Exporter],
                                engine: Engine) -> None:
    runner = ScrapeRunner(view_settings, engine)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    for i in range(3):
        exporters["dcgm"].m.util.set(10 * (i + 1))
        runner.scrape_once("dcgm", int((start + timedelta(minutes=i, seconds=5)).timestamp() * S))
    runner.close()
    base = f"http://127.0.0.1:{service.http_port}/api/v1/metrics/series"
    page = httpx.get(base, params={"name": "hw.gpu.utilization", "window": "10m", "label": "gpu:0"}).json()
    assert page["resolution_s"] == 60
    (series,) = page["series"]
    assert series["unit"] == "1" and series["labels"]["UUID"] == "GPU-8d0c"
    assert [b["last"] for b in series["buckets"]] == pytest.approx([0.1, 0.2, 0.3])
    assert httpx.get(base, params={"name": "hw.gpu.utilization", "label": "gpu:1"}).json()["series"] == []
    assert httpx.get(base, params={"name": "x", "label": "nocolon"}).status_code == 422
    assert httpx.get(base, params={"name": "x", "window": "400d"}).status_code == 422
