"""Background WAL checkpoints for SQLite, so the ingest path's commits do not pay for them.

Why: in WAL mode SQLite checkpoints automatically when a commit leaves more than
``wal_autocheckpoint`` pages (1,000 by default, about 4 MB: every few 512-span requests) in the
write-ahead log, and it does so inside that commit, synchronously, with an fsync of the database
file. The request that happens to trigger it waits for the copy, which made the slowest
acknowledgements 2-3x the median (docs/benchmarks.md, "Ingest"). Here a thread checkpoints
``PASSIVE`` every ``interval_s`` (0.1 s): that copies the log into the database *beside* the writers (it
never takes the write lock, and the sqlite3 module releases the GIL while it runs), so the next
commit finds a log that is already backfilled and restarts it. The server raises the automatic
threshold (see ``make_engine``), which stays as the safety net should this thread stop; a log that
still grows past ``restart_over_bytes`` (a reader holding an old snapshot for a long time) is reset
with a ``RESTART`` checkpoint taken under the process's write lock.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

from sqlalchemy import Engine

from monitor.store.engine import is_sqlite, write_lock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckpointResult:
    """What ``PRAGMA wal_checkpoint`` reported: busy flag, frames in the log, frames backfilled."""

    busy: int
    log_frames: int
    checkpointed: int


class WalCheckpointer:
    """Checkpoints one SQLite database's WAL from a daemon thread; a no-op for PostgreSQL."""

    def __init__(self, engine: Engine, interval_s: float = 0.1, restart_over_bytes: int = 256 * 1024 * 1024) -> None:
        # 0.1 s rather than 0.5 s: each checkpoint copies and fsyncs less, and the commits that
        # overlap its fsync wait less (commit p99 60-74 vs 100-108 ms, docs/benchmarks.md); an idle
        # checkpoint costs one PRAGMA.
        self.engine = engine
        self.interval_s = interval_s
        self.restart_over_bytes = restart_over_bytes
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        database = engine.url.database
        self._wal_path = f"{database}-wal" if database and database != ":memory:" else None

    def start(self) -> None:
        if not is_sqlite(self.engine) or self._wal_path is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="llm-monitor-wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def checkpoint(self, mode: str = "PASSIVE") -> CheckpointResult:
        """One checkpoint, outside any transaction (SQLite refuses it inside one)."""
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            busy, frames, done = raw.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        return CheckpointResult(int(busy), int(frames), int(done))

    def wal_bytes(self) -> int:
        try:
            return os.path.getsize(self._wal_path) if self._wal_path else 0
        except OSError:
            return 0

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.checkpoint()
                if self.wal_bytes() > self.restart_over_bytes:
                    with write_lock(self.engine):  # this process's writers wait here, not in SQLite's busy loop
                        result = self.checkpoint("TRUNCATE")
                    log.info("WAL over %d bytes: reset (%s)", self.restart_over_bytes, result)
            except Exception as exc:  # the automatic checkpoint is the safety net; keep trying
                log.warning("background WAL checkpoint failed: %s", exc)
