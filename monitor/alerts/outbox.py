"""The durable outbox: notifications written with the state change, claimed and settled by the sender.

``enqueue`` runs inside the caller's transaction (the one that changes the alert's state), so a
state change and its notifications commit or vanish together. A sender ``claim``s due rows with
a lease (``locked_until``; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), posts them, then settles
each one: ``delivered`` only after a 2xx, otherwise retried with exponential backoff and jitter
until ``give_up_after``. A sender killed mid-send leaves a lease that simply expires, and the row
is sent again: delivery is at-least-once, and the ``Idempotency-Key`` header lets the receiver
drop the rare repeat.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, or_, select, update

from monitor.alerts.payloads import AlertNotice, render
from monitor.store.models import OutboxRow

OUTBOX = OutboxRow.__table__


@dataclass(frozen=True)
class Claimed:
    """A notification a sender holds the lease on."""

    id: int
    webhook: str
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


def enqueue(conn: Connection, project_rowid: int, notice: AlertNotice, webhooks: Mapping[str, str], now: datetime
            ) -> int:
    """Write one outbox row per webhook (name -> format) in the caller's transaction; returns the count."""
    rows = [{"project_rowid": project_rowid, "event_rowid": notice.event_id, "webhook": name,
             "transition": notice.transition, "idempotency_key": notice.idempotency_key,
             "payload": render(notice, fmt), "status": "pending", "attempts": 0, "next_attempt_at": now,
             "created_at": now} for name, fmt in webhooks.items()]
    if rows:
        conn.execute(OUTBOX.insert(), rows)
    return len(rows)


def claim(engine: Engine, now: datetime, limit: int = 50, lease: timedelta = timedelta(seconds=60)
          ) -> list[Claimed]:
    """Lease up to ``limit`` due notifications, oldest first; other senders skip them until the lease ends."""
    due = (select(OUTBOX.c.id, OUTBOX.c.webhook, OUTBOX.c.idempotency_key, OUTBOX.c.payload, OUTBOX.c.attempts,
                  OUTBOX.c.created_at)
           .where(OUTBOX.c.status == "pending", OUTBOX.c.next_attempt_at <= now,
                  or_(OUTBOX.c.locked_until.is_(None), OUTBOX.c.locked_until <= now))
           .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id).limit(limit))
    if engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        rows = list(conn.execute(due))
        if rows:
            conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_([r.id for r in rows])).values(locked_until=now + lease))
    return [Claimed(r.id, r.webhook, r.idempotency_key, r.payload, r.attempts, r.created_at) for r in rows]


def mark_delivered(engine: Engine, row_id: int, status_code: int, now: datetime) -> None:
    """Settle a notification the receiver acknowledged with a 2xx."""
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        conn.execute(update(OUTBOX).where(OUTBOX.c.id == row_id, OUTBOX.c.status == "pending").values(
            status="delivered", delivered_at=now, attempts=OUTBOX.c.attempts + 1, last_status_code=status_code,
            last_error=None, locked_until=None))


def mark_failed(engine: Engine, item: Claimed, status_code: int | None, error: str, now: datetime,
                retry_at: datetime | None) -> None:
    """Record a failed attempt: retry at ``retry_at``, or give up (``failed``) when it is ``None``."""
    values: dict[str, Any] = {"attempts": OUTBOX.c.attempts + 1, "last_status_code": status_code,
                              "last_error": error[:2000], "locked_until": None}
    if retry_at is None:
        values["status"] = "failed"
    else:
        values["next_attempt_at"] = retry_at
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        conn.execute(update(OUTBOX).where(OUTBOX.c.id == item.id, OUTBOX.c.status == "pending").values(**values))


def backoff(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Delay before retry number ``attempt`` (1-based): ``base * 2**(attempt-1)`` capped, half of it jittered."""
    delay = min(max_s, base_s * 2 ** min(max(attempt - 1, 0), 32))
    return delay / 2 + (rng or random).uniform(0, delay / 2)
