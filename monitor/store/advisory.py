"""PostgreSQL advisory locks: one per named job, so that of several workers or replicas only one runs
it, and short transaction locks that order two writers' read-after-write steps.

Why a session lock taken with ``pg_try_advisory_lock`` for jobs: the job may span several transactions
(partition maintenance, call rollups), and a worker that finds the lock taken skips the round
instead of queueing behind the one already doing it. The key is derived from the name, so every
version and every process agree on it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text


def lock_key(name: str) -> int:
    return zlib.crc32(name.encode())


@contextmanager
def try_advisory_lock(engine: Engine, name: str) -> Iterator[Connection | None]:
    """A connection holding the lock ``name``, or ``None`` if another session holds it (PostgreSQL only)."""
    key = lock_key(name)
    with engine.connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        conn.commit()  # a session lock: it outlives this transaction
        if not got:
            yield None
            return
        try:
            yield conn
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


def _int4(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


def transaction_lock(conn: Connection, name: str, scope: int) -> None:
    """Wait for the lock (``name``, ``scope``) held until this transaction ends (PostgreSQL; a no-op on
    SQLite, whose writers are already serialised by ``monitor.store.engine.WriteLock``)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k, :s)"), {"k": _int4(lock_key(name)), "s": _int4(scope)})
