"""Scraping real HTTP endpoints on loopback, served by prometheus_client registries that carry the
metric names, labels and units of vLLM (two versions), SGLang, TGI, Triton and the DCGM exporter
(TELEMETRY.md §4), into SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import MetricsHandler
from sqlalchemy import Engine, select

from collectors.prometheus import ScrapeRunner
from monitor.config import Settings
from monitor.store.metric_reads import Retention, window_aggs
from monitor.store.models import MetricPointRow, MetricRollupRow
from monitor.store.rollup import prune, roll_up

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5, 7.5, 10, 20, 40, 80,
                160, 640, 2560]
ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80]
E2E_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680]


class Exporter:
    """A registry served by prometheus_client's own handler; ``restart()`` is a server restart (counters to 0)."""

    def __init__(self, build: Callable[[CollectorRegistry], Any]) -> None:
        self._build = build
        self.registry = CollectorRegistry()
        self.m = build(self.registry)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), MetricsHandler.factory(self.registry))
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/metrics"

    def restart(self, build: Callable[[CollectorRegistry], Any] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.m = (build or self._build)(self.registry)
        self.server.RequestHandlerClass = MetricsHandler.factory(self.registry)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def vllm_new(reg: CollectorRegistry) -> SimpleNamespace:
    """vLLM ≥ 0.12: kv_cache_usage_perc and inter_token_latency_seconds."""
    labels = ["model_name", "engine"]
    ns = SimpleNamespace(
        running=Gauge("vllm:num_requests_running", "running", labels, registry=reg).labels(MODEL, "0"),
        waiting=Gauge("vllm:num_requests_waiting", "waiting", labels, registry=reg).labels(MODEL, "0"),
        kv=Gauge("vllm:kv_cache_usage_perc", "kv", labels, registry=reg).labels(MODEL, "0"),
        prompt=Counter("vllm:prompt_tokens", "prefill", labels, registry=reg).labels(MODEL, "0"),
        generation=Counter("vllm:generation_tokens", "gen", labels, registry=reg).labels(MODEL, "0"),
        preemptions=Counter("vllm:num_preemptions", "pre", labels, registry=reg).labels(MODEL, "0"),
        ttft=Histogram("vllm:time_to_first_token_seconds", "ttft", labels, registry=reg,
                       buckets=TTFT_BUCKETS).labels(MODEL, "0"),
        itl=Histogram("vllm:inter_token_latency_seconds", "itl", labels, registry=reg,
                      buckets=ITL_BUCKETS).labels(MODEL, "0"),
        e2e=Histogram("vllm:e2e_request_latency_seconds", "e2e", labels, registry=reg,
                      buckets=E2E_BUCKETS).labels(MODEL, "0"),
    )
    success = Counter("vllm:request_success", "done", [*labels, "finished_reason"], registry=reg)
    ns.stop, ns.length = success.labels(MODEL, "0", "stop"), success.labels(MODEL, "0", "length")
    Gauge("vllm:cache_config_info", "cfg", ["block_size", "gpu_memory_utilization"], registry=reg).labels(
        "16", "0.9").set(1)
    return ns


def vllm_old(reg: CollectorRegistry) -> SimpleNamespace:
    """vLLM 0.10: gpu_cache_usage_perc and time_per_output_token_seconds (removed since)."""
    labels = ["model_name", "engine"]
    return SimpleNamespace(
        running=Gauge("vllm:num_requests_running", "running", labels, registry=reg).labels(MODEL, "0"),
        kv=Gauge("vllm:gpu_cache_usage_perc", "kv", labels, registry=reg).labels(MODEL, "0"),
        generation=Counter("vllm:generation_tokens", "gen", labels, registry=reg).labels(MODEL, "0"),
        itl=Histogram("vllm:time_per_output_token_seconds", "tpot", labels, registry=reg,
                      buckets=ITL_BUCKETS).labels(MODEL, "0"),
    )


def sglang(reg: CollectorRegistry) -> SimpleNamespace:
    labels = ["model_name"]
    return SimpleNamespace(
        running=Gauge("sglang:num_running_reqs", "r", labels, registry=reg).labels("qwen"),
        queue=Gauge("sglang:num_queue_reqs", "q", labels, registry=reg).labels("qwen"),
        usage=Gauge("sglang:token_usage", "kv", labels, registry=reg).labels("qwen"),
        throughput=Gauge("sglang:gen_throughput", "tok/s", labels, registry=reg).labels("qwen"),
        prompt=Counter("sglang:prompt_tokens", "p", labels, registry=reg).labels("qwen"),
        ttft=Histogram("sglang:time_to_first_token_seconds", "t", labels, registry=reg,
                       buckets=[0.1, 0.5, 1, 5]).labels("qwen"),
        itl=Histogram("sglang:inter_token_latency_seconds", "i", labels, registry=reg,
                      buckets=[0.01, 0.05, 0.1]).labels("qwen"),
    )


def tgi(reg: CollectorRegistry) -> SimpleNamespace:
    return SimpleNamespace(
        queue=Gauge("tgi_queue_size", "q", registry=reg),
        batch=Gauge("tgi_batch_current_size", "b", registry=reg),
        count=Counter("tgi_request_count", "c", registry=reg),
        failure=Counter("tgi_request_failure", "f", ["err"], registry=reg),
        duration=Histogram("tgi_request_duration", "d", registry=reg, buckets=[0.5, 1, 5, 10]),
        per_token=Histogram("tgi_request_mean_time_per_token_duration", "t", registry=reg, buckets=[0.01, 0.05, 0.1]),
        generated=Histogram("tgi_request_generated_tokens", "g", registry=reg, buckets=[16, 64, 256, 1024]),
    )


def triton(reg: CollectorRegistry) -> SimpleNamespace:
    mv, gpu = ["model", "version"], ["gpu_uuid"]
    return SimpleNamespace(
        success=Counter("nv_inference_request_success", "s", mv, registry=reg).labels("llama", "1"),
        failure=Counter("nv_inference_request_failure", "f", [*mv, "reason"], registry=reg).labels(
            "llama", "1", "BACKEND"),
        duration=Counter("nv_inference_request_duration_us", "d", mv, registry=reg).labels("llama", "1"),
        infer=Counter("nv_inference_compute_infer_duration_us", "i", mv, registry=reg).labels("llama", "1"),
        pending=Gauge("nv_inference_pending_request_count", "p", mv, registry=reg).labels("llama", "1"),
        first=Histogram("nv_inference_first_response_histogram_ms", "ttft", mv, registry=reg,
                        buckets=[100, 500, 2000, 5000]).labels("llama", "1"),
        util=Gauge("nv_gpu_utilization", "u", gpu, registry=reg).labels("GPU-1"),
        used=Gauge("nv_gpu_memory_used_bytes", "m", gpu, registry=reg).labels("GPU-1"),
        power=Gauge("nv_gpu_power_usage", "w", gpu, registry=reg).labels("GPU-1"),
    )


def dcgm(reg: CollectorRegistry) -> SimpleNamespace:
    labels = ["gpu", "UUID", "device", "modelName", "Hostname"]
    ids = ("0", "GPU-8d0c", "nvidia0", "NVIDIA H100 80GB HBM3", "node-1")
    return SimpleNamespace(
        util=Gauge("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", labels, registry=reg).labels(*ids),
        fb_used=Gauge("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", labels, registry=reg).labels(*ids),
        fb_free=Gauge("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", labels, registry=reg).labels(*ids),
        power=Gauge("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", labels, registry=reg).labels(*ids),
        energy=Counter("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "energy (in mJ)", labels, registry=reg).labels(*ids),
        tensor=Gauge("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "ratio", labels, registry=reg).labels(*ids),
        enc=Gauge("DCGM_FI_DEV_ENC_UTIL", "encoder %", labels, registry=reg).labels(*ids),
    )


@pytest.fixture
def exporters() -> Iterator[dict[str, Exporter]]:
    servers = {"vllm": Exporter(vllm_new), "vllm-old": Exporter(vllm_old), "sglang": Exporter(sglang),
               "tgi": Exporter(tgi), "triton": Exporter(triton), "dcgm": Exporter(dcgm)}
    yield servers
    for server in servers.values():
        server.stop()


def scrape_settings(settings: Settings, exporters: dict[str, Exporter], **extra: Any) -> Settings:
    kinds = {"vllm-old": "vllm"}
    targets = [{"name": name, "url": e.url, "kind": kinds.get(name, name), "interval_s": 5,
                "labels": {"deployment": "llama-8b"} if name in ("vllm", "dcgm") else {}}
               for name, e in exporters.items()]
    return settings.model_copy(update={"scrape": Settings(scrape={"targets": targets, **extra}).scrape})


def rows(engine: Engine, source: str | None = None) -> dict[str, list[Any]]:
    table = MetricPointRow.__table__
    stmt = select(table).order_by(table.c.time, table.c.id)
    if source:
        stmt = stmt.where(table.c.source == source)
    out: dict[str, list[Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(stmt):
            out.setdefault(row.name, []).append(row)
    return out


def test_each_server_kind_is_scraped_into_canonical_series(settings: Settings, engine: Engine,
                                                           exporters: dict[str, Exporter]) -> None:
    v = exporters["vllm"].m
    v.running.set(3)
    v.waiting.set(1)
    v.kv.set(0.42)
    v.prompt.inc(1200)
    v.generation.inc(300)
    for x in (0.03, 0.07, 0.2):
        v.ttft.observe(x)
    v.stop.inc(2)
    exporters["vllm-old"].m.kv.set(0.55)
    exporters["vllm-old"].m.itl.observe(0.02)
    s = exporters["sglang"].m
    s.running.set(5)
    s.queue.set(2)
    s.usage.set(0.7)
    s.itl.observe(0.03)
    t = exporters["tgi"].m
    t.queue.set(4)
    t.duration.observe(2.0)
    t.failure.labels("validation").inc()
    tr = exporters["triton"].m
    tr.duration.inc(2_500_000)
    tr.infer.inc(1_500_000)
    tr.first.observe(350)
    tr.util.set(0.9)
    d = exporters["dcgm"].m
    d.util.set(87)
    d.fb_used.set(40960)
    d.power.set(612.5)
    d.energy.inc(3_600_000)
    d.tensor.set(9223372036854775794)  # DCGM blank: field not supported on this GPU
    d.enc.set(2147483632)              # DCGM_INT32_BLANK
    runner = ScrapeRunner(scrape_settings(settings, exporters), engine)
    assert all(runner.scrape_once(name) for name in exporters)
    runner.close()

    vllm = rows(engine, "vllm")
    running = vllm["inference.requests.running"][0]
    assert running.value == 3 and running.kind == "gauge" and running.unit == "{request}"
    assert running.labels == {"model_name": MODEL, "engine": "0", "deployment": "llama-8b"}
    assert vllm["inference.kv_cache.usage"][0].value == pytest.approx(0.42)
    prompt = vllm["inference.tokens.prompt"][0]
    assert prompt.kind == "counter" and prompt.value == 1200 and prompt.start_time is not None
    ttft = vllm["gen_ai.server.time_to_first_token"][0]
    assert ttft.kind == "histogram" and ttft.histogram["bounds"] == TTFT_BUCKETS
    assert sum(ttft.histogram["counts"]) == 3 and ttft.histogram["sum"] == pytest.approx(0.3)
    assert {r.labels["finished_reason"]: r.value for r in vllm["inference.requests.finished"]} == {"stop": 2,
                                                                                                   "length": 0}
    assert "vllm:cache_config_info" in vllm
    old = rows(engine, "vllm-old")
    assert old["inference.kv_cache.usage"][0].value == pytest.approx(0.55)
    assert sum(old["inference.inter_token_latency"][0].histogram["counts"]) == 1
    sg = rows(engine, "sglang")
    assert (sg["inference.requests.running"][0].value, sg["inference.requests.waiting"][0].value) == (5, 2)
    assert sg["inference.kv_cache.usage"][0].value == pytest.approx(0.7)
    assert "sglang:gen_throughput" in sg
    tg = rows(engine, "tgi")
    assert tg["inference.requests.waiting"][0].value == 4
    assert tg["inference.requests.failed"][0].labels == {"err": "validation"}
    assert sum(tg["gen_ai.server.request.duration"][0].histogram["counts"]) == 1
    tr_rows = rows(engine, "triton")
    assert tr_rows["inference.request.duration_total"][0].value == pytest.approx(2.5)
    assert tr_rows["nv_inference_compute_infer_duration_seconds"][0].value == pytest.approx(1.5)
    first = tr_rows["gen_ai.server.time_to_first_token"][0].histogram
    assert first["bounds"] == pytest.approx([0.1, 0.5, 2.0, 5.0]) and first["sum"] == pytest.approx(0.35)
    assert tr_rows["hw.gpu.utilization"][0].value == pytest.approx(0.9)
    gpu = rows(engine, "dcgm")
    assert gpu["hw.gpu.utilization"][0].value == pytest.approx(0.87)
    assert gpu["hw.gpu.memory.usage"][0].value == 40960 * 1024 * 1024
    assert gpu["hw.gpu.power"][0].value == pytest.approx(612.5)
    assert gpu["hw.gpu.energy"][0].value == pytest.approx(3600.0) and gpu["hw.gpu.energy"][0].unit == "J"
    assert gpu["hw.gpu.utilization"][0].labels["modelName"] == "NVIDIA H100 80GB HBM3"
    assert "hw.gpu.tensor_active" not in gpu and "DCGM_FI_DEV_ENC_UTIL" not in gpu
    assert all(r.value is None or r.value < 1e12 for series in gpu.values() for r in series
               if r.name != "hw.gpu.memory.usage" and r.name != "hw.gpu.memory.free")
    assert {r.source: r.value for r in rows(engine)["llm_monitor.scrape.up"]} == dict.fromkeys(exporters, 1.0)


def test_counter_reset_and_version_upgrade_keep_series_and_totals(settings: Settings, engine: Engine,
                                                                  exporters: dict[str, Exporter]) -> None:
    """vLLM 0.10 serves 300 tokens, is upgraded (restart: counters from 0, renamed metrics), serves 250 more."""
    server = exporters["vllm"]
    server.restart(vllm_old)
    runner = ScrapeRunner(scrape_settings(settings, {"vllm": server}), engine)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    at = lambda s: int((t0 + timedelta(seconds=s)).timestamp() * 1e9)  # noqa: E731
    server.m.generation.inc(1000)                    # before the first scrape: not counted
    server.m.kv.set(0.2)
    runner.scrape_once("vllm", at(0))
    server.m.generation.inc(300)
    server.m.itl.observe(0.02)
    runner.scrape_once("vllm", at(15))
    server.restart(vllm_new)                         # upgrade: new names, counters start again from 0
    server.m.generation.inc(100)
    server.m.kv.set(0.6)
    server.m.itl.observe(0.3)
    runner.scrape_once("vllm", at(30))
    server.m.generation.inc(150)
    runner.scrape_once("vllm", at(45))
    runner.close()
    found = rows(engine, "vllm")
    gen = found["inference.tokens.generation"]
    assert [r.value for r in gen] == [1000, 1300, 100, 250]
    assert len({r.series_key for r in gen}) == 1
    kv = found["inference.kv_cache.usage"]
    assert [r.value for r in kv] == pytest.approx([0.2, 0.2, 0.6, 0.6]) and len({r.series_key for r in kv}) == 1
    aggs = {a.name: a.agg for a in window_aggs(engine, None, ["inference.tokens.generation",
                                                                "inference.inter_token_latency"],
                                               t0 - timedelta(seconds=1), t0 + timedelta(minutes=1),
                                               datetime.now(UTC), Retention(timedelta(hours=48), timedelta(days=30)))}
    assert aggs["inference.tokens.generation"].increase == 300 + 100 + 150
    assert aggs["inference.inter_token_latency"].histogram.count == 2  # one before, one after the restart


def test_down_failing_and_garbage_targets_are_recorded_not_raised(settings: Settings, engine: Engine) -> None:
    class Broken(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>oops</html>" if self.path == "/garbage" else b"boom"
            self.send_response(200 if self.path == "/garbage" else 500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    targets = [{"name": "http500", "url": f"http://127.0.0.1:{port}/metrics"},
               {"name": "garbage", "url": f"http://127.0.0.1:{port}/garbage"},
               {"name": "refused", "url": "http://127.0.0.1:9/metrics", "timeout_s": 2}]
    cfg = settings.model_copy(update={"scrape": Settings(scrape={"targets": targets}).scrape})
    runner = ScrapeRunner(cfg, engine)
    try:
        assert not any(runner.scrape_once(t["name"]) for t in targets)
    finally:
        runner.close()
        server.shutdown()
        server.server_close()
    up = {r.source: r.value for r in rows(engine)["llm_monitor.scrape.up"]}
    assert up == {"http500": 0.0, "garbage": 0.0, "refused": 0.0}
    assert all(s.failures == 1 for s in runner.targets.values())


def test_rollups_retention_and_long_range_reads_agree(settings: Settings, engine: Engine,
                                                      exporters: dict[str, Exporter]) -> None:
    server = exporters["vllm"]
    runner = ScrapeRunner(scrape_settings(settings, {"vllm": server}), engine)
    now = datetime.now(UTC)
    t0 = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    total_tokens = 0
    for i in range(12):                              # every 15 s for 3 minutes, a restart in the middle
        if i == 6:
            server.restart()
        server.m.generation.inc(10 * (i + 1))
        total_tokens += 10 * (i + 1) if i not in (0,) else 0
        server.m.running.set(i % 4)
        server.m.ttft.observe(0.05 * (i + 1))
        runner.scrape_once("vllm", int((t0 + timedelta(seconds=15 * i)).timestamp() * 1e9))
    runner.close()
    stats = roll_up(engine, now, grace_s=120)
    assert stats.minutes > 0 and stats.hours > 0
    with engine.connect() as conn:
        minutes = conn.execute(select(MetricRollupRow.__table__).where(
            MetricRollupRow.name == "inference.tokens.generation", MetricRollupRow.resolution_s == 60)
            .order_by(MetricRollupRow.bucket_start)).all()
        hours = conn.execute(select(MetricRollupRow.__table__).where(
            MetricRollupRow.name == "inference.tokens.generation", MetricRollupRow.resolution_s == 3600)).all()
    assert [m.points for m in minutes] == [4, 4, 4]
    assert sum(m.increase for m in minutes) == total_tokens == hours[0].increase
    names = ["inference.tokens.generation", "inference.requests.running", "gen_ai.server.time_to_first_token"]
    start, end = t0 - timedelta(minutes=1), t0 + timedelta(minutes=5)
    raw = {a.name: a.agg for a in window_aggs(engine, None, names, start, end, now,
                                               Retention(timedelta(hours=48), timedelta(days=30)))}
    assert raw["inference.tokens.generation"].increase == total_tokens
    assert raw["gen_ai.server.time_to_first_token"].histogram.count == 12 - 1  # the first scrape is the baseline
    assert roll_up(engine, now, grace_s=120).minutes >= 0  # idempotent rerun
    kept = prune(engine, now, timedelta(hours=1), timedelta(days=30), timedelta(days=400))
    assert kept["metric_points"] == 0  # still within what the next rollup run re-reads
    deleted = prune(engine, now, timedelta(hours=1), timedelta(days=30), timedelta(days=400), grace_s=0,
                    lookback=timedelta(0))
    assert deleted["metric_points"] == 12 * 15 and not rows(engine, "vllm")
    for retention in (Retention(timedelta(hours=1), timedelta(days=30)),   # 1-minute rollups
                      Retention(timedelta(hours=1), timedelta(hours=2))):  # 1-hour rollups
        from_rollups = {a.name: a.agg for a in window_aggs(engine, None, names, start, end, now, retention)}
        assert from_rollups["inference.tokens.generation"].increase == total_tokens
        assert from_rollups["inference.requests.running"].maximum == 3
        assert from_rollups["inference.requests.running"].mean == pytest.approx(raw["inference.requests.running"].mean)
        assert from_rollups["gen_ai.server.time_to_first_token"].histogram.counts == \
            raw["gen_ai.server.time_to_first_token"].histogram.counts


def test_worker_scrapes_on_its_interval_and_stops(settings: Settings, engine: Engine,
                                                  exporters: dict[str, Exporter]) -> None:
    from monitor.worker import Worker

    cfg = scrape_settings(settings, {"vllm": exporters["vllm"], "dcgm": exporters["dcgm"]})
    for target in cfg.scrape.targets:
        target.interval_s = 0.5
    worker = Worker(cfg, engine)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            up = rows(engine).get("llm_monitor.scrape.up", [])
            if sum(r.source == "vllm" for r in up) >= 3 and sum(r.source == "dcgm" for r in up) >= 3:
                break
            time.sleep(0.2)
    finally:
        worker.stop(timeout_s=10)
    up = rows(engine)["llm_monitor.scrape.up"]
    assert sum(r.source == "vllm" for r in up) >= 3 and {r.value for r in up} == {1.0}
    assert not any(t.is_alive() for t in threading.enumerate() if t.name.startswith(("llm-monitor-", "scrape")))


def test_database_outage_keeps_batches_and_a_refused_point_does_not_block(
        settings: Settings, engine: Engine, db_url: str, exporters: dict[str, Exporter]) -> None:
    from monitor.store import make_engine
    from monitor.store.metric_writer import MetricWriter

    server = exporters["vllm"]
    Gauge("x" * 250, "a name longer than the column", registry=server.registry).set(1)
    runner = ScrapeRunner(scrape_settings(settings, {"vllm": server}), engine)
    good = runner.writer
    down = "sqlite:////nonexistent-dir/m.db" if db_url.startswith("sqlite") else \
        "postgresql+psycopg://postgres@127.0.0.1:1/none"
    runner.writer = MetricWriter(make_engine(down))
    base = datetime.now(UTC) - timedelta(minutes=5)
    for i in range(3):
        server.m.generation.inc(10)
        runner.scrape_once("vllm", int((base + timedelta(seconds=15 * i)).timestamp() * 1e9))
    state = runner.targets["vllm"]
    assert len(state.pending) == 3 and not rows(engine)       # nothing lost, nothing stored yet
    runner.writer = good                                       # the database is back
    runner.scrape_once("vllm", int((base + timedelta(seconds=45)).timestamp() * 1e9))
    runner.close()
    assert not state.pending
    assert [r.value for r in rows(engine, "vllm")["inference.tokens.generation"]] == [10, 20, 30, 30]
    long_name = "x" * 250 in rows(engine, "vllm")
    assert state.refused_points == (0 if long_name else 4)    # PostgreSQL refuses it; SQLite has no limit
    assert long_name == db_url.startswith("sqlite")
