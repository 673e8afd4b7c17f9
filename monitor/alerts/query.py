"""Reads for the API and the dashboard's Alerts page: rules, alert history, deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from monitor.alerts.rulestore import list_rules
from monitor.store.models import AlertEventRow, OutboxRow

EVENT_STATUSES = ("pending", "firing", "resolved")
DELIVERY_STATUSES = ("pending", "delivered", "failed")


def rules(engine: Engine, project_rowid: int | None) -> list[dict[str, Any]]:
    """Every rule of the project with its last evaluation."""
    return [r.to_json() for r in list_rules(engine, project_rowid)]


def events(engine: Engine, project_rowid: int | None, status: str | None = None, rule_id: int | None = None,
           since: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Alert episodes, newest first (``status`` pending, firing or resolved)."""
    if status is not None and status not in EVENT_STATUSES:
        raise ValueError(f"status {status!r}: use one of {', '.join(EVENT_STATUSES)}")
    t = AlertEventRow.__table__
    stmt = select(t).order_by(t.c.started_at.desc(), t.c.id.desc()).limit(limit)
    if project_rowid is not None:
        stmt = stmt.where(t.c.project_rowid == project_rowid)
    if status is not None:
        stmt = stmt.where(t.c.status == status)
    if rule_id is not None:
        stmt = stmt.where(t.c.rule_rowid == rule_id)
    if since is not None:
        stmt = stmt.where(t.c.started_at >= since)
    with engine.connect() as conn:
        return [{"id": r.id, "rule_id": r.rule_rowid, "rule": r.rule_name, "severity": r.severity,
                 "labels": r.labels, "status": r.status, "value": r.value, "threshold": r.threshold,
                 "started_at": r.started_at, "fired_at": r.fired_at, "resolved_at": r.resolved_at,
                 "last_notified_at": r.last_notified_at, "notifications": r.notifications}
                for r in conn.execute(stmt)]


def deliveries(engine: Engine, project_rowid: int | None, status: str | None = None, event_id: int | None = None,
               limit: int = 100) -> list[dict[str, Any]]:
    """Webhook notifications, newest first, with their delivery state (payloads left out)."""
    if status is not None and status not in DELIVERY_STATUSES:
        raise ValueError(f"status {status!r}: use one of {', '.join(DELIVERY_STATUSES)}")
    t = OutboxRow.__table__
    cols = [c for c in t.c if c.name != "payload"]
    stmt = select(*cols).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
    if project_rowid is not None:
        stmt = stmt.where(t.c.project_rowid == project_rowid)
    if status is not None:
        stmt = stmt.where(t.c.status == status)
    if event_id is not None:
        stmt = stmt.where(t.c.event_rowid == event_id)
    with engine.connect() as conn:
        return [{"id": r.id, "event_id": r.event_rowid, "webhook": r.webhook, "transition": r.transition,
                 "idempotency_key": r.idempotency_key, "status": r.status, "attempts": r.attempts,
                 "next_attempt_at": r.next_attempt_at, "last_status_code": r.last_status_code,
                 "last_error": r.last_error, "created_at": r.created_at, "delivered_at": r.delivered_at}
                for r in conn.execute(stmt)]


def counts(engine: Engine, project_rowid: int | None) -> dict[str, int]:
    """Open alerts and undelivered notifications, for a page header."""
    ev, ob = AlertEventRow.__table__, OutboxRow.__table__
    with engine.connect() as conn:
        by_status = dict(conn.execute(select(ev.c.status, func.count()).where(
            *([ev.c.project_rowid == project_rowid] if project_rowid is not None else [])).group_by(ev.c.status)).all())
        outbox = dict(conn.execute(select(ob.c.status, func.count()).where(
            *([ob.c.project_rowid == project_rowid] if project_rowid is not None else [])).group_by(ob.c.status)).all())
    return {"pending": by_status.get("pending", 0), "firing": by_status.get("firing", 0),
            "deliveries_pending": outbox.get("pending", 0), "deliveries_failed": outbox.get("failed", 0)}
