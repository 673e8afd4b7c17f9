"""Profile the server's ingest path in-process: decode → normalise/price → write, stage by stage.

Why: the HTTP benchmark says *how fast*, not *where the time goes*. This runs the very functions
the OTLP/HTTP handler calls (``decode_traces`` and ``IngestService.ingest_traces`` built by
``build_ingest``) on the benchmark payloads, without HTTP, and reports

* CPU time of this process per span for each stage (decode, normalise + price, row building,
  database write), so the cost of each layer is visible on its own;
* the CPU time the PostgreSQL backend spent per span (read from ``/proc``), since on a 2-core
  machine the database competes with the service for the same cores;
* optionally a cProfile of the whole path (``--cprofile``), top functions by own time.

Run ``.venv/bin/python -m bench.profile_ingest --db postgres``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cpu import BackendCpu
from bench.ingest import pg_conninfo, recreate_pg_database
from bench.payloads import SPANS_PER_REQUEST, PayloadFactory


def database_url(db: str, args: argparse.Namespace, workdir: Path) -> str:
    if db == "postgres":
        recreate_pg_database(args.pg_admin_url, args.pg_database)
        return "postgresql+psycopg://" + pg_conninfo(args.pg_admin_url, args.pg_database).split("://", 1)[1]
    return f"sqlite:///{workdir / 'profile.db'}"


def timed(totals: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    t0 = time.thread_time()
    result = fn()
    totals[name] = totals.get(name, 0.0) + time.thread_time() - t0
    return result


def run(db: str, args: argparse.Namespace, payloads: Sequence[bytes], workdir: Path) -> str:
    from collectors.otlp.traces import PROTOBUF, decode_traces
    from collectors.semconv import normalize_span
    from monitor.api.app import build_ingest
    from monitor.config import Settings
    from monitor.migrate import upgrade
    from monitor.store import make_engine
    from monitor.store.keys import get_or_create_project
    from monitor.store.rows import span_row

    url = database_url(db, args, workdir)
    upgrade(url)
    settings = Settings(database_url=url)
    engine = make_engine(url, sqlite_synchronous=settings.sqlite_synchronous)
    project = get_or_create_project(engine, "bench")
    ingest = build_ingest(settings, engine)
    ingest.ingest_traces(project.rowid, decode_traces(payloads[0], PROTOBUF))  # warm caches, pool, prices

    # Stage by stage, on copies of the decoded batches (normalisation mutates spans).
    totals: dict[str, float] = {}
    now = datetime.now(UTC)
    for body in payloads[1:]:
        batch = timed(totals, "decode (protobuf → Span)", lambda b=body: decode_traces(b, PROTOBUF))
        timed(totals, "normalise + price", lambda s=batch.spans: [
            ingest.cost.apply(x.llm) for x in s if normalize_span(x, ingest.options).llm is not None])
        timed(totals, "span_row (rows + JSON dumps)", lambda s=batch.spans: [span_row(1, x, now) for x in s])
    n = (len(payloads) - 1) * SPANS_PER_REQUEST

    # The whole path as the handler runs it (fresh ids: the stage loop above wrote nothing), unprofiled.
    backends = BackendCpu(pg_conninfo(args.pg_admin_url, "postgres"), args.pg_database) if db == "postgres" else None
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    for body in args.factory.take(len(payloads) - 1):
        ingest.ingest_traces(project.rowid, decode_traces(body, PROTOBUF))
    wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    pg_cpu = backends.used() if backends is not None else 0.0
    profiler = None
    if args.cprofile:  # a separate pass: cProfile slows Python code 2-3x and would skew the table
        profiler = cProfile.Profile()
        bodies = args.factory.take(len(payloads) - 1)
        profiler.enable()
        for body in bodies:
            ingest.ingest_traces(project.rowid, decode_traces(body, PROTOBUF))
        profiler.disable()
    engine.dispose()

    us = 1e6 / n
    lines = [f"## {db}: {n:,} spans ({len(payloads) - 1} requests x {SPANS_PER_REQUEST})", "",
             "| stage | CPU µs/span | share |", "|---|---|---|"]
    stage_sum = sum(totals.values())
    for name, seconds in totals.items():
        lines.append(f"| {name} | {seconds * us:.1f} | {seconds / cpu:.0%} of the full path |")
    write = max(cpu - stage_sum, 0.0)
    lines.append(f"| database write in this process (rest of the full path) | {write * us:.1f} | "
                 f"{write / cpu:.0%} |")
    lines.append(f"| **full path, this process** | **{cpu * us:.1f}** | {n / cpu:,.0f} spans/s of one core |")
    if backends is not None:
        lines.append(f"| PostgreSQL backend (other process) | {pg_cpu * us:.1f} | {n / pg_cpu:,.0f} spans/s "
                     "of one core |" if pg_cpu else "| PostgreSQL backend | n/a | |")
    lines.append(f"| wall clock, one thread, no HTTP | {wall * us:.1f} | {n / wall:,.0f} spans/s |")
    if profiler is not None:
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(args.top)
        lines += ["", "```", buf.getvalue().strip(), "```"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_ingest", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="postgres")
    p.add_argument("--requests", type=int, default=21)
    p.add_argument("--cprofile", action="store_true", help="also print the top functions of the full path")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--pg-database", default="llm_monitor_bench")
    args = p.parse_args(argv)
    args.factory = PayloadFactory()
    payloads = args.factory.take(args.requests)
    dbs = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    with tempfile.TemporaryDirectory(prefix="llm-monitor-profile-") as tmp:
        for db in dbs:
            print(run(db, args, payloads, Path(tmp)), flush=True)
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
