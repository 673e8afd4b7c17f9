"""Where SQLite's slow acknowledgements come from: WAL checkpoints inside the ingest commit, or not.

Runs the OTLP/HTTP handler's own functions (``decode_traces`` and ``IngestService.ingest_traces``
from ``build_ingest``) on the ingest benchmark's 512-span payloads, one request after another,
into a fresh SQLite file per mode, and prints per-request time percentiles. Modes, alternated in
one run so background load weighs on each alike:

* ``auto``: SQLite's automatic checkpoint (1,000 pages), which runs inside the commit that
  crosses the threshold (llm-monitor before the background checkpointer);
* ``background``: the server's setup: threshold raised, ``WalCheckpointer`` thread running;
* ``none``: no checkpoint at all during the run (the lower bound; the log grows without limit).

    .venv/bin/python -m bench.sqlite_checkpoint --requests 100 --rounds 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.payloads import PayloadFactory
from collectors.otlp.traces import decode_traces
from monitor.api.app import SERVER_AUTOCHECKPOINT_PAGES, build_ingest
from monitor.config import Settings
from monitor.migrate import upgrade
from monitor.store import make_engine
from monitor.store.checkpoint import WalCheckpointer
from monitor.store.keys import get_or_create_project

PAGES = {"auto": 1000, "background": SERVER_AUTOCHECKPOINT_PAGES, "none": 0}


def run_mode(mode: str, bodies: list[bytes], workdir: Path) -> list[float]:
    """Milliseconds per request, sorted."""
    url = f"sqlite:///{workdir / f'{mode}-{time.monotonic_ns()}.db'}"
    upgrade(url)
    engine = make_engine(url, sqlite_autocheckpoint_pages=PAGES[mode])
    checkpointer = WalCheckpointer(engine)
    if mode == "background":
        checkpointer.start()
    ingest = build_ingest(Settings(database_url=url, auth="disabled"), engine)
    project = get_or_create_project(engine, "default").rowid
    times = []
    try:
        for body in bodies:
            started = time.perf_counter()
            ingest.ingest_traces(project, decode_traces(body, "application/x-protobuf"))
            times.append((time.perf_counter() - started) * 1000)
    finally:
        checkpointer.stop()
        engine.dispose()
    return sorted(times)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    bodies = PayloadFactory().take(args.requests)
    print("| round | WAL checkpoints | p50 (ms) | p90 | p99 | max |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(1, args.rounds + 1):
            for mode in PAGES:
                t = run_mode(mode, bodies, Path(tmp))
                n = len(t)
                print(f"| {round_no} | {mode} | {t[n // 2]:.0f} | {t[int(n * 0.9)]:.0f} | "
                      f"{t[min(n - 1, int(n * 0.99))]:.0f} | {t[-1]:.0f} |", flush=True)


if __name__ == "__main__":
    main()
