"""A named lease in ``worker_leases``: on SQLite exactly one worker process runs the evaluations.

SQLite has no ``SKIP LOCKED``, and one writer at a time anyway, so rather than several workers
fighting over the write lock, one holds the lease and renews it; another takes over only after
it has expired (the holder died). ``BEGIN IMMEDIATE`` makes the check-and-take atomic.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select, update

from evaluators.queue import write_tx
from monitor.store.models import WorkerLeaseRow as L


def acquire(engine: Engine, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease; False while another holder's lease is still valid."""
    with write_tx(engine) as conn:
        row = conn.execute(select(L.holder, L.expires_at).where(L.name == name)).first()
        if row is None:
            conn.execute(L.__table__.insert().values(name=name, holder=holder, expires_at=now + ttl))
            return True
        if row.holder != holder and row.expires_at > now:
            return False
        conn.execute(update(L).where(L.name == name).values(holder=holder, expires_at=now + ttl))
        return True


def release(engine: Engine, name: str, holder: str) -> None:
    """Give the lease up (shutdown), so a successor need not wait for it to expire."""
    with write_tx(engine) as conn:
        conn.execute(delete(L).where(L.name == name, L.holder == holder))


def holder_of(engine: Engine, name: str, now: datetime) -> str | None:
    """Who holds a valid lease now (None if nobody)."""
    with engine.connect() as conn:
        row = conn.execute(select(L.holder, L.expires_at).where(L.name == name)).first()
    return row.holder if row is not None and row.expires_at > now else None
