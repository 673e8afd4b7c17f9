"""Engine creation: SQLite (WAL, foreign keys, busy timeout) or PostgreSQL through psycopg 3."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

try:
    import fcntl
except ImportError:  # not POSIX: writers of other processes meet SQLite's busy handler
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

PG_CONNECT_ARGS = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                   "keepalives_count": 3}


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 5,
                sqlite_autocheckpoint_pages: int = 1000) -> Engine:
    """An engine tuned for the ingest path of each database.

    ``sqlite_autocheckpoint_pages``: SQLite's automatic WAL checkpoint threshold; the server raises
    it because its own background checkpointer does the work (``monitor.store.checkpoint``).
    """
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_pragmas(engine, sqlite_synchronous, sqlite_autocheckpoint_pages)
        return engine
    # A database that stops answering (a partition, a host gone) must fail a connect within
    # seconds, not hang the thread that asked; keepalives notice a dead established connection.
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                           pool_recycle=1800, connect_args={**PG_CONNECT_ARGS})
    _postgres_session_settings(engine)
    return engine


def _postgres_session_settings(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # lz4 compresses prompts and answers several times faster than the default pglz;
        # servers built without lz4 keep their default.
        try:
            with dbapi_conn.cursor() as cur:
                cur.execute("SET default_toast_compression = 'lz4'")
            dbapi_conn.commit()
        except Exception:
            dbapi_conn.rollback()


def _sqlite_pragmas(engine: Engine, synchronous: str, autocheckpoint_pages: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # WAL lets the API read while ingest writes; FULL sync makes every ack durable.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint_pages)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # pysqlite's own transaction handling is off; take the write lock up front.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class WriteLock:
    """This process's threads queue on a ``threading.Lock``; for a SQLite file they then take an
    exclusive ``flock`` on ``<database>.write-lock``, so writers in *other* processes (``serve``
    workers, the worker, the CLI) queue in the kernel too, and the next one wakes the moment the
    previous commit ends. Without a lock file (a memory database, a read-only directory, no
    ``fcntl``) it is the thread lock alone.
    """

    def __init__(self, path: str | None) -> None:
        self._thread_lock = threading.Lock()
        self._path = path
        self._fd: int | None = None
        self._fd_pid = 0

    def __enter__(self) -> WriteLock:
        self._thread_lock.acquire()
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd is not None and self._fd_pid == os.getpid():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _file(self) -> int | None:
        """The lock file's descriptor, opened once per process (a forked child opens its own)."""
        if self._path is None or fcntl is None:
            return None
        if self._fd is None or self._fd_pid != os.getpid():
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._fd_pid = os.getpid()
            except OSError as exc:
                log.warning("cannot open %s (%s): SQLite writers of other processes will wait in "
                            "SQLite's busy handler instead", self._path, exc)
                self._path = None
                return None
        return self._fd


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, WriteLock] = weakref.WeakKeyDictionary()
_WRITE_LOCKS_GUARD = threading.Lock()


def sqlite_file(engine: Engine) -> str | None:
    """The database file of a SQLite engine, or ``None`` for a memory database (or PostgreSQL)."""
    if not is_sqlite(engine):
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:") or "mode=memory" in str(engine.url):
        return None
    return database


def write_lock(engine: Engine) -> AbstractContextManager[Any]:
    """Serialises SQLite write transactions of this process, and of every process that uses it
    (a no-op on PostgreSQL).

    SQLite has one writer; a second ``BEGIN IMMEDIATE`` waits in SQLite's busy handler, which
    sleeps in steps of up to 100 ms, so a request queued behind a commit could wait most of that
    step after the lock was free. A lock that blocks (``WriteLock``) wakes the next writer as soon
    as the commit ends; writers that do not use it (ad-hoc tools) still meet the busy handler.
    """
    if not is_sqlite(engine):
        return nullcontext()
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(engine)
        if lock is None:
            path = sqlite_file(engine)
            lock = _WRITE_LOCKS[engine] = WriteLock(f"{path}.write-lock" if path else None)
    return lock
