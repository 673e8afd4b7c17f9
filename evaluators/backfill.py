"""Backfill: score stored LLM calls in bulk (``llm-monitor eval --since 24h --evaluator NAME``).

Why not just let the worker do it: the worker looks back ``evaluation.lookback_h`` and samples;
a backfill is an explicit, one-off request ("score last week's calls with the new judge"), shown with
a progress bar. Calls that already have a score of that name are skipped, and the calls it scores get
a ``done`` queue row so the online worker does not score them again.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from evaluators.base import Evaluator
from evaluators.errors import EvaluatorError, InvalidItemError
from evaluators.queue import CALL_FIELDS, DONE, PARKED, Q, candidate_calls, item_of, score_row, write_tx
from monitor.query import CallFilters
from monitor.store.models import ProjectRow, ScoreRow, SpanRow


@dataclass
class BackfillSummary:
    """What the backfill did, for the CLI; ``exit_code`` is 0 only when nothing failed."""

    evaluator: str
    total: int = 0
    scored: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.failed == 0 else 1

    def describe(self) -> str:
        return f"{self.evaluator}: {self.scored}/{self.total} stored calls scored, {self.failed} failed"


def parse_since(value: str, now: datetime) -> datetime:
    """``24h``, ``30m``, ``7d`` (ago) or an ISO 8601 time (UTC when it has no offset)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value[-1:] in units and value[:-1].isdigit():
        return now - timedelta(seconds=int(value[:-1]) * units[value[-1]])
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--since {value!r} must look like 30m, 24h, 7d or an ISO time such as 2026-11-01T00:00") \
            from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def backfill(engine: Engine, evaluator: Evaluator, since: datetime, until: datetime | None = None,
             filters: CallFilters | None = None, project: str | None = None, progress: bool = True) -> BackfillSummary:
    """Score every stored call in [since, until) without a score named ``evaluator.score_name``."""
    summary = BackfillSummary(evaluator=evaluator.score_name)
    base = filters or CallFilters()
    base.start, base.end = since, until
    name = evaluator.score_name
    projects = _projects(engine, project)
    with engine.connect() as conn:
        summary.total = sum(conn.execute(select(func.count()).select_from(
            candidate_calls(engine, pid, name, base, unscored=True).subquery())).scalar_one() for pid in projects)
    chunk = evaluator.batch_size * 4
    with _progress(summary.total, progress, name) as bar:
        for pid in projects:
            after = 0
            while True:
                with engine.connect() as conn:
                    ids = conn.execute(candidate_calls(engine, pid, name, base, chunk, after, unscored=True)).all()
                if not ids:
                    break
                after = ids[-1].id
                _score_chunk(engine, evaluator, pid, [r.id for r in ids], summary)
                bar.update(len(ids))
    return summary


def _score_chunk(engine: Engine, evaluator: Evaluator, pid: int, span_ids: list[int], summary: BackfillSummary) -> None:
    with engine.connect() as conn:
        calls = conn.execute(select(*CALL_FIELDS, SpanRow.start_time).where(SpanRow.id.in_(span_ids))
                             .order_by(SpanRow.id)).all()
    valid, bad = [], []
    for call in calls:
        try:
            evaluator.validate([item_of(call)])
            valid.append(call)
        except InvalidItemError as exc:
            bad.append((call, str(exc)))
    scores: list[Any] = []
    if valid:
        try:
            scores = evaluator.score([item_of(c) for c in valid])
        except EvaluatorError as exc:
            bad.extend((c, str(exc)) for c in valid)
            valid = []
    now, name = datetime.now(UTC), evaluator.score_name
    with write_tx(engine) as conn:
        if valid:
            rows = [score_row(pid, c.id, c.trace_id, c.span_id, s, now) for c, s in zip(valid, scores, strict=True)]
            conn.execute(ScoreRow.__table__.insert(), rows)
        marks = [_mark(pid, name, c, DONE, None, now) for c in valid]
        marks += [_mark(pid, name, c, PARKED, e, now) for c, e in bad]
        if marks:
            conn.execute(_upsert(engine), marks)
    summary.scored += len(valid)
    summary.failed += len(bad)
    summary.errors.extend(e for _, e in bad[:max(0, 5 - len(summary.errors))])


def _mark(pid: int, evaluator: str, call: Any, state: str, error: str | None, now: datetime) -> dict[str, Any]:
    return {"project_rowid": pid, "span_rowid": call.id, "evaluator": evaluator, "state": state, "attempts": 1,
            "call_time": call.start_time, "next_attempt_at": now, "last_error": error, "created_at": now,
            "updated_at": now}


def _upsert(engine: Engine) -> Any:
    """Queue rows for what the backfill did; an existing row (pending, skipped) takes the new state."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(Q)
    return stmt.on_conflict_do_update(index_elements=[Q.span_rowid, Q.evaluator],
                                      set_={"state": stmt.excluded.state, "last_error": stmt.excluded.last_error,
                                            "claimed_by": None, "lease_until": None,
                                            "updated_at": stmt.excluded.updated_at})


def _projects(engine: Engine, name: str | None) -> list[int]:
    stmt = select(ProjectRow.id).order_by(ProjectRow.id)
    if name is not None:
        stmt = stmt.where(ProjectRow.name == name)
    with engine.connect() as conn:
        found = list(conn.execute(stmt).scalars())
    if name is not None and not found:
        raise ValueError(f"no project named {name!r}")
    return found


@contextmanager
def _progress(total: int, enabled: bool, name: str) -> Iterator[Any]:
    from tqdm import tqdm

    with tqdm(total=total, disable=not enabled, unit="call", desc=name, file=sys.stderr) as bar:
        yield bar
