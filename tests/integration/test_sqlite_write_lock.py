"""The SQLite write lock across processes (``monitor.store.engine.write_lock``): writers of different
processes (``serve`` workers, the worker, the CLI) queue on an ``flock`` of ``<database>.write-lock``
instead of meeting SQLite's busy handler. Each other process here is a real ``python`` child."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sqlalchemy import text

from monitor.store import make_engine
from monitor.store.engine import write_lock
from monitor.store.keys import get_or_create_project

ROOT = Path(__file__).resolve().parents[2]

HOLD = textwrap.dedent("""
    import sys, time
    from monitor.store import make_engine
    from monitor.store.engine import write_lock
    engine = make_engine(sys.argv[1])
    with write_lock(engine):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
        print("releasing", flush=True)
""")

# Writes batches of spans through the real SpanWriter with SQLite's busy timeout cut to 1 ms, so
# any writer that met another process's transaction in SQLite instead of in the lock would fail
# with "database is locked". Both processes start writing together (the go file).
INGEST = textwrap.dedent("""
    import os, sys, time
    from sqlalchemy import event
    from monitor.domain import LLMCall, Span
    from monitor.store import make_engine
    from monitor.store.writer import SpanWriter
    url, rowid, proc, batches, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def tiny_busy_timeout(dbapi_conn, _record):  # runs after make_engine's own (30 s)
        dbapi_conn.execute("PRAGMA busy_timeout=1")

    with engine.connect() as conn:
        print("busy_timeout", conn.exec_driver_sql("PRAGMA busy_timeout").scalar(), flush=True)
    writer = SpanWriter(engine)
    while not os.path.exists(go):
        time.sleep(0.005)
    now = time.time_ns()
    for b in range(batches):
        writer.write_spans(rowid, [Span(
            trace_id=f"{proc:02x}{b:030x}", span_id=f"{s:016x}", parent_span_id=None, name="chat", kind=3,
            start_ns=now, end_ns=now + 1_000_000, status_code=1, status_message=None, attributes={}, resource={},
            service_name=f"proc-{proc}", llm=LLMCall(operation="chat", provider="openai", request_model="m",
                                                     response_model="m", input_tokens=1, output_tokens=1))
            for s in range(20)])
    print("done", flush=True)
""")


def test_a_writer_waits_for_another_process_holding_the_write_lock(sqlite_url: str, tmp_path: Path) -> None:
    url = sqlite_url
    engine = make_engine(url)
    try:
        # not held by anyone: taken at once (so the wait measured below is the other process's doing)
        t0 = time.monotonic()
        with write_lock(engine):
            pass
        assert time.monotonic() - t0 < 0.5
        holder = subprocess.Popen([sys.executable, "-c", HOLD, url, "1.2"], cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == "locked\n", holder.stderr.read() if holder.stderr else ""
            assert (tmp_path / "monitor.db.write-lock").exists()
            t0 = time.monotonic()
            with write_lock(engine):
                waited = time.monotonic() - t0
                assert holder.stdout.readline() == "releasing\n"  # it was let go only then
                with engine.connect().execution_options(write=True) as conn, conn.begin():
                    conn.execute(text("INSERT INTO projects (name, created_at) VALUES ('after-wait', "
                                      "'2026-01-01 00:00:00.000000')"))
            assert holder.wait(timeout=30) == 0
        finally:
            if holder.poll() is None:
                holder.kill()
        assert waited >= 0.8, f"took the lock after {waited:.2f} s while another process held it for 1.2 s"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM projects WHERE name = 'after-wait'")).scalar() == 1
    finally:
        engine.dispose()


def test_two_processes_ingesting_into_one_file_never_meet_the_busy_handler(sqlite_url: str, tmp_path: Path) -> None:
    """Two processes, 60 transactions of 20 spans each, at the same time, with a 1 ms busy timeout."""
    url = sqlite_url
    engine = make_engine(url)
    rowid = get_or_create_project(engine, "default").rowid  # created here: the children only write spans
    go, batches = tmp_path / "go", 60
    procs = [subprocess.Popen([sys.executable, "-c", INGEST, url, str(rowid), str(p), str(batches), str(go)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in range(2)]
    try:
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline() == "busy_timeout 1\n", p.stderr.read() if p.stderr else ""
        go.touch()
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (out, err) in zip(procs, results, strict=True):
        assert "database is locked" not in err, err[-2000:]
        assert p.returncode == 0 and out == "done\n", err[-2000:]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT service_name, count(*), count(DISTINCT trace_id || span_id) FROM spans "
                                 "GROUP BY service_name ORDER BY service_name")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("proc-0", batches * 20, batches * 20), ("proc-1", batches * 20, batches * 20)]
