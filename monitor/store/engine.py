"""Engine creation: SQLite (WAL, foreign keys, busy timeout) or PostgreSQL through psycopg 3."""

from __future__ import annotations

import threading
import weakref
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

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


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(engine: Engine) -> AbstractContextManager[Any]:
    """Serialises this process's SQLite write transactions in Python (a no-op on PostgreSQL).

    SQLite has one writer; a second ``BEGIN IMMEDIATE`` waits in SQLite's busy handler, which
    sleeps in steps of up to 100 ms, so a request queued behind a commit could wait most of that
    step after the lock was free. A Python lock wakes the next writer as soon as the commit ends
    (other processes, such as the worker, still meet the busy handler).
    """
    if not is_sqlite(engine):
        return nullcontext()
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(engine)
        if lock is None:
            lock = _WRITE_LOCKS[engine] = threading.Lock()
    return lock
