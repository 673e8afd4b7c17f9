"""The ``eval_queue`` claim table: enqueue calls, claim them, finish, fail, release, and count them.

Why a claim table and not a flag on ``spans``: each call needs one state per evaluator, and
workers must hand calls to each other without a broker. A row moves
``pending -> claimed -> done`` (or ``-> pending`` again with a backoff after a failure, or
``-> parked`` after ``max_attempts``); calls outside the sample get a ``skipped`` row so they are
looked at once. Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas never wait on or
take each other's rows; a claim carries a lease, and a worker that dies leaves rows whose lease
runs out and which the next claim picks up. Scores are written in the same transaction that
marks the rows done, and only for rows the worker still owns: a call is scored exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, exists, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from evaluators.base import EvalItem, Score
from evaluators.sampling import SamplingRule
from monitor.query import CallFilters, apply_filters
from monitor.store.models import EvalQueueRow, ProjectRow, ScoreRow, SpanRow

Q = EvalQueueRow
PENDING, CLAIMED, DONE, SKIPPED, PARKED = "pending", "claimed", "done", "skipped", "parked"
STATES = (PENDING, CLAIMED, DONE, SKIPPED, PARKED)
OPEN = "eval_queue.state IN ('pending', 'claimed')"  # spelled as the partial index is, so both databases use it


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed queue row with the call it stands for."""

    queue_id: int
    span_rowid: int
    project_rowid: int
    attempts: int
    trace_id: str
    span_id: str
    item: EvalItem


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A write transaction (``BEGIN IMMEDIATE`` on SQLite, so two writers never deadlock on upgrade)."""
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        yield conn


def insert_ignore(engine: Engine, table: Any) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the engine's dialect."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def candidate_calls(engine: Engine, project_rowid: int, evaluator: str, filters: CallFilters,
                    limit: int | None = None, after_rowid: int = 0, unscored: bool = False) -> Any:
    """Outermost LLM calls matching the filters that have no queue row for ``evaluator`` yet.

    With ``unscored`` (the backfill): calls without a score of that name that no worker has done or
    holds, whatever their queue row says (a call outside the online sample is still backfilled).
    """
    has_score = exists().where(ScoreRow.project_rowid == SpanRow.project_rowid, ScoreRow.trace_id == SpanRow.trace_id,
                               ScoreRow.span_id == SpanRow.span_id, ScoreRow.name == evaluator)
    stmt = select(SpanRow.id, SpanRow.trace_id, SpanRow.span_id, SpanRow.start_time, has_score.label("has_score"))
    stmt = apply_filters(stmt, engine, project_rowid, filters).where(SpanRow.id > after_rowid)
    queued = exists().where(Q.span_rowid == SpanRow.id, Q.evaluator == evaluator)
    held_or_done = queued.where(Q.state.in_((DONE, CLAIMED)))
    stmt = stmt.where(~has_score, ~held_or_done) if unscored else stmt.where(~queued)
    stmt = stmt.order_by(SpanRow.id)
    return stmt.limit(limit) if limit else stmt


def enqueue(engine: Engine, evaluator: str, rule: SamplingRule, now: datetime, lookback: timedelta,
            limit: int, after_rowid: int = 0) -> dict[str, int]:
    """Add queue rows for new calls (sampled: pending; others: skipped; already scored: done).

    Only spans with an id above ``after_rowid`` are looked at (the worker's watermark); the returned
    ``max_rowid`` is the highest span id seen, to move it on.
    """
    counts = {PENDING: 0, SKIPPED: 0, DONE: 0, "max_rowid": after_rowid}
    filters = rule.call_filters()
    filters.start = now - lookback
    with engine.connect() as conn:
        projects = conn.execute(select(ProjectRow.id)).scalars().all()
    for project_rowid in projects:
        with engine.connect() as conn:
            calls = conn.execute(candidate_calls(engine, project_rowid, evaluator, filters, limit, after_rowid)).all()
        rows = []
        for call in calls:
            counts["max_rowid"] = max(counts["max_rowid"], call.id)
            state = _initial_state(rule, evaluator, call)
            counts[state] += 1
            rows.append(_queue_row(project_rowid, call.id, evaluator, state, call.start_time, now))
        if rows:
            with write_tx(engine) as conn:
                conn.execute(insert_ignore(engine, Q), rows)
    return counts


def _initial_state(rule: SamplingRule, evaluator: str, call: Any) -> str:
    if call.has_score:  # scored already (a backfill, or a score sent with the span)
        return DONE
    return PENDING if rule.sampled(evaluator, call.trace_id, call.span_id) else SKIPPED


def _queue_row(project_rowid: int, span_rowid: int, evaluator: str, state: str, call_time: datetime,
               now: datetime) -> dict[str, Any]:
    return {"project_rowid": project_rowid, "span_rowid": span_rowid, "evaluator": evaluator, "state": state,
            "attempts": 0, "call_time": call_time, "next_attempt_at": now, "created_at": now, "updated_at": now}


def claim(engine: Engine, evaluator: str, worker_id: str, n: int, now: datetime, lease: timedelta) -> list[Claimed]:
    """Claim up to ``n`` ready rows (pending and due, or claimed with an expired lease); oldest first."""
    ready = or_(and_(Q.state == PENDING, Q.next_attempt_at <= now), and_(Q.state == CLAIMED, Q.lease_until < now))
    ids = (select(Q.id).where(Q.evaluator == evaluator, text(OPEN), ready).order_by(Q.id).limit(n)
           .with_for_update(skip_locked=True))
    stmt = (update(Q).where(Q.id.in_(ids.scalar_subquery()))
            .values(state=CLAIMED, claimed_by=worker_id, lease_until=now + lease, attempts=Q.attempts + 1,
                    updated_at=now)
            .returning(Q.id, Q.span_rowid, Q.project_rowid, Q.attempts))
    with write_tx(engine) as conn:
        rows = conn.execute(stmt).all()
        if not rows:
            return []
        span_ids = [r.span_rowid for r in rows]
        calls = {r.id: r for r in conn.execute(select(*CALL_FIELDS).where(SpanRow.id.in_(span_ids)))}
        gone = [r.id for r in rows if r.span_rowid not in calls]
        if gone:  # the call was removed by retention after it was queued (no foreign key on PostgreSQL)
            conn.execute(delete(Q).where(Q.id.in_(gone)))
            rows = [r for r in rows if r.span_rowid in calls]
    return sorted((Claimed(r.id, r.span_rowid, r.project_rowid, r.attempts, calls[r.span_rowid].trace_id,
                           calls[r.span_rowid].span_id, item_of(calls[r.span_rowid])) for r in rows),
                  key=lambda c: c.queue_id)


CALL_FIELDS = (SpanRow.id, SpanRow.trace_id, SpanRow.span_id, SpanRow.input_text, SpanRow.output_text,
               SpanRow.retrieval_context, SpanRow.response_model, SpanRow.service_name)


def item_of(call: Any) -> EvalItem:
    """The evaluator's view of a stored call."""
    return EvalItem(input=call.input_text or "", output=call.output_text, context=call.retrieval_context or None,
                    metadata={"model": call.response_model, "service": call.service_name})


def score_row(project_rowid: int, span_rowid: int, trace_id: str, span_id: str, score: Score,
              now: datetime) -> dict[str, Any]:
    """A ``scores`` row for an evaluator's result."""
    return {"project_rowid": project_rowid, "span_rowid": span_rowid, "trace_id": trace_id, "span_id": span_id,
            "name": score.name, "value": score.value, "label": score.label, "explanation": score.explanation,
            "source": "evaluator", "evaluator": score.evaluator, "evaluator_version": score.evaluator_version,
            "model": score.model, "latency_ms": score.latency_ms, "details": {"direction": score.direction},
            "created_at": now}


def complete(engine: Engine, worker_id: str, results: Sequence[tuple[Claimed, Score]], now: datetime) -> int:
    """Mark rows done and write their scores in one transaction, only for rows this worker still owns."""
    if not results:
        return 0
    by_id = {claimed.queue_id: (claimed, score) for claimed, score in results}
    stmt = (update(Q).where(Q.id.in_(list(by_id)), Q.state == CLAIMED, Q.claimed_by == worker_id)
            .values(state=DONE, claimed_by=None, lease_until=None, last_error=None, updated_at=now)
            .returning(Q.id))
    with write_tx(engine) as conn:
        owned = conn.execute(stmt).scalars().all()
        rows = [score_row(c.project_rowid, c.span_rowid, c.trace_id, c.span_id, s, now)
                for c, s in (by_id[i] for i in owned)]
        if rows:
            conn.execute(ScoreRow.__table__.insert(), rows)
    return len(owned)


def fail(engine: Engine, worker_id: str, claimed: Iterable[Claimed], error: str, now: datetime, max_attempts: int,
         backoff_s: float, max_backoff_s: float) -> dict[str, int]:
    """Record a failure: back to pending after an exponential backoff, or parked after ``max_attempts``."""
    params = []
    for c in claimed:
        parked = c.attempts >= max_attempts
        delay = min(max_backoff_s, backoff_s * 2 ** (c.attempts - 1))
        params.append({"qid": c.queue_id, "new_state": PARKED if parked else PENDING,
                       "due": now + timedelta(seconds=delay)})
    _set_state(engine, worker_id, params, error[:4000], now)
    parked = sum(p["new_state"] == PARKED for p in params)
    return {PARKED: parked, PENDING: len(params) - parked}


def park(engine: Engine, worker_id: str, claimed: Iterable[Claimed], error: str, now: datetime) -> int:
    """Park rows at once (an item no retry can fix, such as a call without the text the evaluator needs)."""
    params = [{"qid": c.queue_id, "new_state": PARKED, "due": now} for c in claimed]
    _set_state(engine, worker_id, params, error[:4000], now)
    return len(params)


def _set_state(engine: Engine, worker_id: str, params: list[dict[str, Any]], error: str | None,
               now: datetime) -> None:
    if not params:
        return
    stmt = (update(Q).where(Q.id == bindparam("qid"), Q.state == CLAIMED, Q.claimed_by == worker_id)
            .values(state=bindparam("new_state"), next_attempt_at=bindparam("due"), claimed_by=None,
                    lease_until=None, last_error=error, updated_at=now))
    with write_tx(engine) as conn:
        conn.execute(stmt, params)


def release(engine: Engine, worker_id: str, queue_ids: Sequence[int], now: datetime) -> int:
    """Hand claimed rows back untouched (shutdown): pending again, and the claim does not count as an attempt."""
    if not queue_ids:
        return 0
    stmt = (update(Q).where(Q.id.in_(list(queue_ids)), Q.state == CLAIMED, Q.claimed_by == worker_id)
            .values(state=PENDING, claimed_by=None, lease_until=None, attempts=Q.attempts - 1, updated_at=now))
    with write_tx(engine) as conn:
        return conn.execute(stmt).rowcount
