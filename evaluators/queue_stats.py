"""Read-only view of the evaluation queue: depth per evaluator, age of the oldest unscored call, parked items.

Used by ``GET /api/v1/evaluations/queue``, by the worker's periodic log line and by the dashboard.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from evaluators.queue import CLAIMED, PARKED, PENDING, STATES, Q
from monitor.store.models import SpanRow


def queue_stats(engine: Engine, now: datetime, project_rowid: int | None = None,
                parked_limit: int = 20) -> list[dict[str, Any]]:
    """One entry per evaluator: counts by state, ``oldest_unscored_age_s`` and the latest parked items."""
    scope = [Q.project_rowid == project_rowid] if project_rowid is not None else []
    with engine.connect() as conn:
        counts = conn.execute(select(Q.evaluator, Q.state, func.count()).where(*scope)
                              .group_by(Q.evaluator, Q.state)).all()
        oldest = dict(conn.execute(select(Q.evaluator, func.min(Q.call_time))
                                   .where(*scope, Q.state.in_((PENDING, CLAIMED))).group_by(Q.evaluator)).all())
        parked = conn.execute(select(Q.evaluator, SpanRow.trace_id, SpanRow.span_id, Q.attempts, Q.last_error,
                                     Q.updated_at).join(SpanRow, SpanRow.id == Q.span_rowid)
                              .where(*scope, Q.state == PARKED).order_by(Q.updated_at.desc()).limit(parked_limit)).all()
    out: dict[str, dict[str, Any]] = {}
    for evaluator, state, count in counts:
        entry = out.setdefault(evaluator, _empty(evaluator))
        entry[state] = count
    for evaluator, entry in out.items():
        entry["depth"] = entry[PENDING] + entry[CLAIMED]
        first = _aware(oldest.get(evaluator))
        entry["oldest_unscored_age_s"] = (now - first).total_seconds() if first else None
    for row in parked:
        out[row.evaluator]["parked_items"].append({
            "trace_id": row.trace_id, "span_id": row.span_id, "attempts": row.attempts, "error": row.last_error,
            "parked_at": _aware(row.updated_at)})
    return [out[name] for name in sorted(out)]


def _empty(evaluator: str) -> dict[str, Any]:
    return {"evaluator": evaluator, **dict.fromkeys(STATES, 0), "depth": 0, "oldest_unscored_age_s": None,
            "parked_items": []}


def _aware(value: Any) -> datetime | None:
    """Aggregates bypass the column type on SQLite (naive text); read them back as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
