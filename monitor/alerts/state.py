"""The per-rule, per-label-set state machine, and its application in one transaction with the outbox.

    (none) --breaching--> pending --held for `for`--> firing --clear--> resolved
       \\                    \\--clear--> (dropped)       \\--still breaching, `renotify` elapsed--> firing (again)
        \\--breaching, `for` = 0--> firing

``step`` is pure; ``apply`` turns its verdicts into row changes and writes a notification for
each firing / re-notify / resolve in the same transaction. Every change is a conditional update
on the status it expects, so two worker replicas evaluating the same rule notify once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, delete, select, update

from monitor.alerts.evaluate import Reading, is_breaching
from monitor.alerts.outbox import enqueue
from monitor.alerts.payloads import AlertNotice, Transition
from monitor.alerts.rulestore import StoredRule
from monitor.store.models import AlertEventRow, AlertRuleRow

Action = Literal["none", "hold", "pend", "fire", "fire_new", "renotify", "resolve", "cancel"]
EVENTS = AlertEventRow.__table__
RULES = AlertRuleRow.__table__


def step(status: str | None, breaching: bool, now: datetime, started_at: datetime | None,
         last_notified_at: datetime | None, for_: timedelta, renotify: timedelta | None) -> Action:
    """What to do with an alert whose open episode is in ``status`` (``None``: no open episode)."""
    if status is None:
        if not breaching:
            return "none"
        return "fire_new" if for_ <= timedelta(0) else "pend"
    if status == "pending":
        if not breaching:
            return "cancel"
        return "fire" if started_at is not None and now - started_at >= for_ else "hold"
    if not breaching:
        return "resolve"
    if renotify is not None and last_notified_at is not None and now - last_notified_at >= renotify:
        return "renotify"
    return "hold"


def labels_key(labels: Mapping[str, str]) -> str:
    """A stable key of a label set (the alert's identity within its rule)."""
    return hashlib.sha256(json.dumps(dict(labels), sort_keys=True).encode()).hexdigest()


def apply(engine: Engine, rule: StoredRule, readings: Sequence[Reading] | None, error: str | None, now: datetime,
          webhook_formats: Mapping[str, str]) -> dict[str, int]:
    """Advance every label set of ``rule`` and record the evaluation; returns a count per action.

    ``readings`` is ``None`` when evaluation failed (``error`` says why): states are left as they
    are, since an outage of the data is not evidence that the alert resolved.
    """
    counts: dict[str, int] = {}
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        if readings is not None:
            targets = {name: fmt for name, fmt in webhook_formats.items() if name in rule.spec.webhooks}
            for action in _advance(conn, rule, readings, now, targets):
                counts[action] = counts.get(action, 0) + 1
        values = [r.value for r in readings or () if r.value is not None]
        conn.execute(update(RULES).where(RULES.c.id == rule.id).values(
            last_evaluated_at=now, last_error=error, last_value=max(values) if values else None))
    return counts


def _advance(conn: Connection, rule: StoredRule, readings: Sequence[Reading], now: datetime,
             webhooks: Mapping[str, str]) -> list[Action]:
    current = {labels_key(r.labels): r for r in readings}
    opens = {row.labels_key: row for row in conn.execute(
        select(EVENTS).where(EVENTS.c.rule_rowid == rule.id, EVENTS.c.status.in_(("pending", "firing"))))}
    actions: list[Action] = []
    for key in sorted(set(current) | set(opens)):
        reading, row = current.get(key), opens.get(key)
        breaching = reading is not None and is_breaching(rule.spec, reading)
        action = step(row.status if row else None, breaching, now, row.started_at if row else None,
                      row.last_notified_at if row else None, rule.spec.for_, rule.spec.renotify)
        if action != "none":
            _perform(conn, rule, action, key, reading, row, now, webhooks)
            actions.append(action)
    return actions


def _perform(conn: Connection, rule: StoredRule, action: Action, key: str, reading: Reading | None, row: Any,
             now: datetime, webhooks: Mapping[str, str]) -> None:
    value = reading.value if reading is not None else None
    if action in ("pend", "fire_new"):
        assert reading is not None
        firing = action == "fire_new"
        event_id = conn.execute(EVENTS.insert().values(
            project_rowid=rule.project_rowid, rule_rowid=rule.id, rule_name=rule.spec.name,
            severity=rule.spec.severity, labels=reading.labels, labels_key=key,
            status="firing" if firing else "pending", value=value, threshold=rule.spec.threshold, started_at=now,
            fired_at=now if firing else None, last_notified_at=now if firing else None,
            notifications=1 if firing else 0, updated_at=now).returning(EVENTS.c.id)).scalar_one()
        if firing:
            _notify(conn, rule, event_id, "firing", 1, now, webhooks)
        return
    where = [EVENTS.c.id == row.id, EVENTS.c.status == row.status]
    if action == "cancel":
        conn.execute(delete(EVENTS).where(*where))
        return
    if action == "hold":
        conn.execute(update(EVENTS).where(*where).values(value=value, updated_at=now))
        return
    changes: dict[str, Any] = {"updated_at": now, "notifications": row.notifications + 1, "last_notified_at": now}
    if action == "fire":
        changes.update(status="firing", fired_at=now, value=value)
    elif action == "resolve":
        changes.update(status="resolved", resolved_at=now)
    else:
        changes["value"] = value
        where.append(EVENTS.c.notifications == row.notifications)
    if conn.execute(update(EVENTS).where(*where).values(**changes)).rowcount == 1:
        transition: Transition = "firing" if action == "fire" else ("resolved" if action == "resolve" else "renotify")
        _notify(conn, rule, row.id, transition, row.notifications + 1, now, webhooks)


def _notify(conn: Connection, rule: StoredRule, event_id: int, transition: Transition, seq: int, now: datetime,
            webhooks: Mapping[str, str]) -> None:
    """Write the transition's notification for every webhook of the rule (same transaction)."""
    if not webhooks:
        return
    ev = conn.execute(select(EVENTS).where(EVENTS.c.id == event_id)).one()
    key = f"alert-{event_id}-{transition}" + (f"-{seq}" if transition == "renotify" else "")
    notice = AlertNotice(
        transition=transition, idempotency_key=key, project=rule.project, rule=rule.spec.name, rule_id=rule.id,
        event_id=event_id, severity=rule.spec.severity, status=ev.status, labels=dict(ev.labels), value=ev.value,
        threshold=rule.spec.threshold, condition=rule.spec.describe(), started_at=ev.started_at,
        fired_at=ev.fired_at, resolved_at=ev.resolved_at, at=now)
    enqueue(conn, rule.project_rowid, notice, webhooks, now)
