"""How SQLite's write cost per span grows with the size of the ``spans`` table.

Why: ``bench.ingest`` starts from an empty database and stores ~100k spans, which flatters SQLite:
every commit also rewrites the index pages its rows land on, and the two indexes keyed by the
(random) trace id touch more distinct pages the larger they get. This writes normalised benchmark
spans (``bench.payloads``) through the server's own ``SpanWriter`` into one SQLite file, 512 spans a
transaction with fresh trace ids, and prints the CPU and wall time per span for each slice of
``--step`` spans, so a reader can see where an embedded SQLite stops being enough (and PostgreSQL
is the answer). The background checkpointer runs as in the server.

Run ``.venv/bin/python -m bench.sqlite_growth --spans 600000``.
"""

from __future__ import annotations

import argparse
import copy
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.payloads import SPANS_PER_REQUEST, PayloadFactory


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spans", type=int, default=600_000, help="spans to write in all")
    p.add_argument("--step", type=int, default=100_000, help="report every this many spans")
    p.add_argument("--templates", type=int, default=16, help="distinct normalised requests reused with new ids")
    p.add_argument("--drop-index", action="append", default=[], metavar="NAME",
                   help="drop this index after migrating (to price what it costs the writer)")
    args = p.parse_args()

    from collectors.otlp.traces import PROTOBUF, decode_traces
    from monitor.api.app import SERVER_AUTOCHECKPOINT_PAGES, build_ingest
    from monitor.config import Settings
    from monitor.migrate import upgrade
    from monitor.store import make_engine
    from monitor.store.checkpoint import WalCheckpointer
    from monitor.store.keys import get_or_create_project

    workdir = Path(tempfile.mkdtemp(prefix="llm-monitor-growth-"))
    url = f"sqlite:///{workdir / 'growth.db'}"
    try:
        upgrade(url)
        with sqlite3.connect(workdir / "growth.db") as conn:
            for name in args.drop_index:
                conn.execute(f'DROP INDEX "{name}"')
        settings = Settings(database_url=url)
        engine = make_engine(url, sqlite_synchronous=settings.sqlite_synchronous,
                             sqlite_autocheckpoint_pages=SERVER_AUTOCHECKPOINT_PAGES)
        project = get_or_create_project(engine, "bench")
        ingest = build_ingest(settings, engine)
        templates = []
        for body in PayloadFactory().take(args.templates):
            spans = decode_traces(body, PROTOBUF).spans
            for span in spans:
                ingest._normalise(span)
            templates.append(spans)
        checkpointer = WalCheckpointer(engine)
        checkpointer.start()
        rng = random.Random(7)
        print("| spans in the table | CPU µs/span | wall µs/span | database size (MB) |")
        print("|---|---|---|---|")
        written, reported = 0, 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        while written < args.spans:
            template = templates[(written // SPANS_PER_REQUEST) % len(templates)]
            new_ids: dict[str, str] = {}
            batch = []
            for span in template:
                fresh = copy.copy(span)
                fresh.trace_id = new_ids.setdefault(span.trace_id, rng.randbytes(16).hex())
                batch.append(fresh)
            ingest.writer.write_spans(project.rowid, batch)
            written += len(batch)
            if written - reported >= args.step:
                n = written - reported
                size = (workdir / "growth.db").stat().st_size / 1e6
                print(f"| {written:,} | {1e6 * (time.process_time() - cpu0) / n:.0f} | "
                      f"{1e6 * (time.perf_counter() - wall0) / n:.0f} | {size:,.0f} |", flush=True)
                reported = written
                cpu0, wall0 = time.process_time(), time.perf_counter()
        checkpointer.stop()
        engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
