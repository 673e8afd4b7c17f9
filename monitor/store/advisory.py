"""One PostgreSQL advisory lock per named job, so that of several workers or replicas only one runs it.

Why a session lock taken with ``pg_try_advisory_lock``: the job may span several transactions
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
