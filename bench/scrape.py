"""CPU cost of scraping: 20 vLLM-size targets (≈400 sample lines each) every 5 s, stored in a database.

The targets are real ``prometheus_client`` registries served over HTTP on loopback, in a separate
process (their CPU is the servers', not ours), with every counter, gauge and histogram moving
between scrapes. The scraper is ``collectors.prometheus.ScrapeRunner`` exactly as the worker runs
it; its CPU is this process's user + system time (all threads) over the measured window, as a
percentage of one core. With PostgreSQL, the CPU of the database backends is measured too.

    .venv/bin/python -m bench.scrape [--targets 20] [--interval 5] [--seconds 60] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import statistics
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import MetricsHandler

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
LAT = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680]
TTFT = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5, 7.5, 10, 20, 40, 80, 160,
        640, 2560]
ITL = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80]
TOKENS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def vllm_registry() -> tuple[CollectorRegistry, list[Any]]:
    """The metric families a vLLM 0.12-era server exposes (docs/usage/metrics.md), one engine."""
    reg = CollectorRegistry()
    lab = ["model_name", "engine"]
    movers: list[Any] = []
    for name in ("num_requests_running", "num_requests_waiting", "kv_cache_usage_perc"):
        movers.append(("gauge", Gauge(f"vllm:{name}", name, lab, registry=reg).labels(MODEL, "0")))
    for name in ("prompt_tokens", "generation_tokens", "num_preemptions", "prefix_cache_queries",
                 "prefix_cache_hits"):
        movers.append(("counter", Counter(f"vllm:{name}", name, lab, registry=reg).labels(MODEL, "0")))
    success = Counter("vllm:request_success", "finished", [*lab, "finished_reason"], registry=reg)
    for reason in ("stop", "length", "abort"):
        movers.append(("counter", success.labels(MODEL, "0", reason)))
    hists = {"time_to_first_token_seconds": TTFT, "inter_token_latency_seconds": ITL,
             "request_time_per_output_token_seconds": ITL, "e2e_request_latency_seconds": LAT,
             "request_queue_time_seconds": LAT, "request_inference_time_seconds": LAT,
             "request_prefill_time_seconds": LAT, "request_decode_time_seconds": LAT,
             "request_prompt_tokens": TOKENS, "request_generation_tokens": TOKENS,
             "request_params_max_tokens": TOKENS, "request_max_num_generation_tokens": TOKENS,
             "request_params_n": [1, 2, 5, 10, 20],
             "iteration_tokens_total": [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]}
    for name, buckets in hists.items():
        movers.append(("hist", Histogram(f"vllm:{name}", name, lab, registry=reg, buckets=buckets)
                       .labels(MODEL, "0")))
    Gauge("vllm:cache_config_info", "cache config", ["block_size", "cache_dtype", "gpu_memory_utilization"],
          registry=reg).labels("16", "auto", "0.9").set(1)
    # prometheus_fastapi_instrumentator, as vLLM's API server mounts it, and the default process collectors
    http = Counter("http_requests", "requests", ["handler", "method", "status"], registry=reg)
    latency = Histogram("http_request_duration_seconds", "latency", ["handler", "method"], registry=reg,
                        buckets=[0.1, 0.5, 1])
    for handler in ("/v1/chat/completions", "/v1/completions", "/health", "/metrics"):
        method = "POST" if handler.startswith("/v1") else "GET"
        movers.append(("counter", http.labels(handler, method, "2xx")))
        movers.append(("hist", latency.labels(handler, method)))
    movers.append(("hist", Histogram("http_request_duration_highr_seconds", "latency", registry=reg, buckets=[
        0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 7.5, 10, 30, 60])))
    ProcessCollector(registry=reg)
    PlatformCollector(registry=reg)
    GCCollector(registry=reg)
    return reg, movers


def serve_targets(count: int, ready: Any, stop: Any, ports: Any) -> None:
    """Child process: ``count`` exporters on loopback, their values moving every second."""
    rng = random.Random(7)
    all_movers = []
    servers = []
    for i in range(count):
        reg, movers = vllm_registry()
        all_movers.extend(movers)
        server = ThreadingHTTPServer(("127.0.0.1", 0), MetricsHandler.factory(reg))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        ports[i] = server.server_address[1]
    ready.set()
    while not stop.wait(1.0):
        for kind, metric in all_movers:
            if kind == "gauge":
                metric.set(rng.random() * 10)
            elif kind == "counter":
                metric.inc(rng.randint(0, 50))
            else:
                metric.observe(rng.random() * 3)
    for server in servers:
        server.shutdown()


def sample_lines() -> int:
    reg, _ = vllm_registry()
    return sum(1 for line in generate_latest(reg).decode().splitlines() if line and not line.startswith("#"))


def database_url(kind: str, tmp: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'scrape-bench.db'}"
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS llm_monitor_scrape_bench")
        conn.execute("CREATE DATABASE llm_monitor_scrape_bench")
    return "postgresql+psycopg://postgres@127.0.0.1:5432/llm_monitor_scrape_bench"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(targets: int, interval: float, seconds: float, db: str) -> dict[str, Any]:
    from collectors.prometheus import ScrapeRunner
    from monitor.config import Settings
    from monitor.migrate import upgrade
    from monitor.store import make_engine

    ctx = mp.get_context("spawn")
    ready, stop, ports = ctx.Event(), ctx.Event(), ctx.Array("i", targets)
    child = ctx.Process(target=serve_targets, args=(targets, ready, stop, ports), daemon=True)
    child.start()
    ready.wait(60)
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url(db, Path(tmp))
        upgrade(url)
        settings = Settings(database_url=url, scrape={"targets": [
            {"name": f"vllm-{i}", "url": f"http://127.0.0.1:{ports[i]}/metrics", "kind": "vllm", "interval_s": interval,
             "labels": {"deployment": f"llama-{i % 4}", "region": "eu"}} for i in range(targets)]})
        engine = make_engine(url)
        runner = ScrapeRunner(settings, engine)
        halt = threading.Event()
        thread = threading.Thread(target=runner.run, args=(halt,), daemon=True)
        thread.start()
        time.sleep(interval * 2 + 1)                  # warm-up: connections, first (full) parses
        backends = _backend_cpu(db)
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        scrapes0 = sum(s.scrapes for s in runner.targets.values())
        time.sleep(seconds)
        cpu1, wall1 = cpu_seconds(), time.monotonic()
        scrapes = sum(s.scrapes for s in runner.targets.values()) - scrapes0
        db_cpu = backends.used() if backends is not None else None
        halt.set()
        thread.join(30)
        stop.set()
        child.join(10)
        rollup_cpu = _rollup_cpu(engine, db)
        with engine.connect() as conn:
            from sqlalchemy import text

            stored = conn.execute(text("SELECT count(*) FROM metric_points")).scalar()
            durations = [r[0] for r in conn.execute(text(
                "SELECT value FROM metric_points WHERE name = 'llm_monitor.scrape.duration'"))]
        engine.dispose()
    wall = wall1 - wall0
    return {
        "targets": targets, "interval_s": interval, "seconds": round(wall, 1), "db": db,
        "sample_lines_per_target": sample_lines(), "scrapes": scrapes,
        "skipped": sum(s.skipped for s in runner.targets.values()),
        "failures": sum(s.failures for s in runner.targets.values()),
        "full_parses": sum(s.scraper.parser.full_parses for s in runner.targets.values()),
        "rows_stored": stored, "cpu_pct_of_one_core": round(100 * (cpu1 - cpu0) / wall, 2),
        "db_backend_cpu_pct": round(100 * db_cpu / wall, 2) if db_cpu is not None else None,
        "rollup_run_cpu_s": rollup_cpu,
        "scrape_ms_p50": round(1000 * statistics.median(durations), 2) if durations else None,
        "scrape_ms_p99": round(1000 * statistics.quantiles(durations, n=100)[98], 2) if len(durations) > 2 else None,
    }


def _rollup_cpu(engine: Any, db: str) -> float:
    """CPU seconds (this process + database backends) of one rollup run over everything just scraped.

    That is about what the worker's steady-state run each minute reads: the minutes since its last
    run plus the 2-minute grace window it recomputes.
    """
    from datetime import UTC, datetime, timedelta

    from monitor.store.rollup import roll_up

    backends = _backend_cpu(db)
    start = cpu_seconds()
    roll_up(engine, datetime.now(UTC) + timedelta(minutes=1))
    return round(cpu_seconds() - start + (backends.used() if backends is not None else 0.0), 2)


def _backend_cpu(db: str) -> Any:
    if db != "postgres":
        return None
    from bench.cpu import BackendCpu

    return BackendCpu(PG_ADMIN, "llm_monitor_scrape_bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    result = run(args.targets, args.interval, args.seconds, args.db)
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
