"""The SQLite WAL is checkpointed by a background thread, not inside the ingest path's commits.

Why it matters: an automatic checkpoint runs inside the commit that crosses the threshold and made
the slowest acknowledgements several times the median (docs/benchmarks.md, "Ingest").
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from monitor.config import Settings
from monitor.server import start_in_thread
from monitor.store import make_engine
from monitor.store.checkpoint import WalCheckpointer
from monitor.store.models import SpanRow
from tests.otlp_builders import chat_attrs, make_span, request

PB = {"Content-Type": "application/x-protobuf"}
BIG = "lorem ipsum dolor sit amet " * 40  # ~1 KB of prompt a span, so the WAL grows fast


def _body(spans: int = 200) -> bytes:
    attrs = {**chat_attrs(), "gen_ai.prompt": BIG, "gen_ai.completion": BIG}
    return request([make_span(attrs) for _ in range(spans)]).SerializeToString()


def test_passive_checkpoint_backfills_the_log_beside_a_writer(sqlite_url: str) -> None:
    url = sqlite_url
    engine = make_engine(url, sqlite_autocheckpoint_pages=1_000_000)  # nothing checkpoints by itself
    writer_engine = make_engine(url, sqlite_autocheckpoint_pages=1_000_000)
    checkpointer = WalCheckpointer(engine)
    with writer_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE blob_log (body TEXT)")
        conn.exec_driver_sql("INSERT INTO blob_log VALUES (?)", [(BIG * 10,) for _ in range(300)])
    assert checkpointer.wal_bytes() > 1_000_000  # the log holds the writes, none backfilled yet

    # a write transaction stays open (holding SQLite's write lock) while the checkpoint runs
    in_tx, release = threading.Event(), threading.Event()

    def hold_write_lock() -> None:
        with writer_engine.connect().execution_options(write=True) as conn, conn.begin():
            conn.exec_driver_sql("INSERT INTO blob_log VALUES ('x')")
            in_tx.set()
            release.wait(10)

    holder = threading.Thread(target=hold_write_lock)
    holder.start()
    assert in_tx.wait(10)
    started = time.monotonic()
    result = checkpointer.checkpoint()
    took = time.monotonic() - started
    release.set()
    holder.join()
    assert result.busy == 0 and result.log_frames > 0
    assert result.checkpointed == result.log_frames  # every committed frame copied into the database
    assert took < 5  # PASSIVE never waited for the writer's lock

    assert checkpointer.checkpoint().checkpointed > result.checkpointed  # the holder's commit, too
    size_before = checkpointer.wal_bytes()
    with writer_engine.begin() as conn:  # the next writer restarts the backfilled log from its start
        conn.exec_driver_sql("INSERT INTO blob_log VALUES ('y')")
    after = checkpointer.checkpoint()
    assert after.log_frames < result.log_frames // 10 and checkpointer.wal_bytes() == size_before
    engine.dispose()
    writer_engine.dispose()


def test_log_over_the_limit_is_truncated(sqlite_url: str) -> None:
    url = sqlite_url
    engine = make_engine(url, sqlite_autocheckpoint_pages=1_000_000)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE blob_log (body TEXT)")
        conn.exec_driver_sql("INSERT INTO blob_log VALUES (?)", [(BIG * 10,) for _ in range(100)])
    checkpointer = WalCheckpointer(engine, interval_s=0.05, restart_over_bytes=100_000)
    assert checkpointer.wal_bytes() > 100_000
    checkpointer.start()
    try:
        deadline = time.monotonic() + 10
        while checkpointer.wal_bytes() > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer.wal_bytes() == 0
    finally:
        checkpointer.stop()
    with engine.connect() as conn:  # the data went into the database file, none lost
        assert conn.exec_driver_sql("SELECT count(*) FROM blob_log").scalar() == 100
    engine.dispose()


def test_server_checkpoints_in_the_background_and_stops_with_it(sqlite_url: str, tmp_path: Path) -> None:
    url = sqlite_url
    handle = start_in_thread(Settings(database_url=url, auth="disabled"), with_grpc=False)
    names = {t.name for t in threading.enumerate()}
    assert "llm-monitor-wal-checkpoint" in names
    wal = Path(f"{tmp_path / 'monitor.db'}-wal")
    sent, biggest = 0, 0
    try:
        for _ in range(30):  # ~10 MB of spans, far below the server's raised automatic threshold
            resp = httpx.post(f"http://127.0.0.1:{handle.http_port}/v1/traces", content=_body(), headers=PB,
                              timeout=30)
            assert resp.status_code == 200
            sent += 200
            biggest = max(biggest, wal.stat().st_size)
            time.sleep(0.1)
    finally:
        handle.stop()
    db_bytes = (tmp_path / "monitor.db").stat().st_size
    # without the background checkpoints the log would hold every page written (more than the
    # database itself); with them it is restarted from its beginning over and over
    assert biggest < db_bytes / 2, (biggest, db_bytes)
    assert "llm-monitor-wal-checkpoint" not in {t.name for t in threading.enumerate()}
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(SpanRow)) == sent
    engine.dispose()
