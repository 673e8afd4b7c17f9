"""Worker job: LLM calls rolled up per hour and per 12 hours, for the dashboard's long ranges.

Each row of ``call_rollups`` holds the outermost LLM calls (``monitor.query.outermost_calls``) of
one project that started in one hour (or 12-hour block) with one request model, response model,
service and segment: their count, errors, input/output tokens, priced calls and cost, and latency
and TTFT sketches (``monitor.store.sketch``). ``monitor.query_views`` answers a long range from
these for its whole rolled-up hours and from the raw spans for the rest, so counts and sums are
exact and percentiles within 2 %.

**What is rolled up, and when.** An hour is rolled once it ended ``grace_s`` ago; per project,
``call_rollup_state.rolled_until`` is the end of the last one. Rows are recomputed from the spans,
never added to, so rolling an hour again gives the same rows (and two worker replicas cannot
double-count: a second writer of the same rows hits the unique index and retries next round).

**Late spans.** Each round also re-reads the LLM spans *stored* since the previous round began
(less ``grace_s``: ``spans.id`` above the id of the first span received then, found by a binary
search on the primary key, no extra index) and rolls again every already-rolled hour that one of
them started in, and the hour of any LLM span it is the parent of (a late parent makes its
children nested, so they stop counting). Hours whose calls were changed later (GPU-time pricing,
``monitor.gpu_cost``) are marked in ``call_rollup_dirty`` by whoever changes them and rolled again
too. So a late or changed call shows in long-range figures from the next round on (one
``metrics.maintenance_interval_s``), never not at all. The one assumption: a span is stored
within ``grace_s`` of the time the server stamped it ``received_at``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    Text,
    and_,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from monitor.store import sketch
from monitor.store.advisory import try_advisory_lock
from monitor.store.models import CallRollupDirtyRow, CallRollupRow, CallRollupStateRow, ProjectRow, SpanRow

log = logging.getLogger(__name__)
HOUR, BLOCK = 3600, 43200
_LOCK_NAME = "llm-monitor call rollups"
LEVELS = (HOUR, BLOCK)
CHUNK_HOURS = 24  # hours rolled per transaction when catching up


@dataclass
class Acc:
    """Running totals of a set of calls (a rollup row, or a group of a read)."""

    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    priced: int = 0
    cost: float = 0.0
    latency: dict[int, int] = field(default_factory=dict)
    ttft: dict[int, int] = field(default_factory=dict)
    stored: tuple[list[str], list[str]] = field(default_factory=lambda: ([], []))  # sketches not merged yet

    def add_call(self, err: Any, tin: int | None, tout: int | None, cost: float | None, duration: float | None,
                 ttft: float | None) -> None:
        self.requests += 1
        self.errors += bool(err)
        self.input_tokens += tin or 0
        self.output_tokens += tout or 0
        if cost is not None:
            self.priced += 1
            self.cost += cost
        sketch.add(self.latency, duration)
        sketch.add(self.ttft, ttft)

    def add_row(self, requests: int, errors: int, tin: int, tout: int, priced: int, cost: float | None,
                latency: str | None, ttft: str | None) -> None:
        self.requests += requests
        self.errors += errors
        self.input_tokens += tin
        self.output_tokens += tout
        self.priced += priced
        self.cost += cost or 0.0
        if latency:
            self.stored[0].append(latency)
        if ttft:
            self.stored[1].append(ttft)

    def sketches(self) -> tuple[dict[int, int], dict[int, int]]:
        """The latency and TTFT sketches, with every added row merged in."""
        for counts, stored in zip((self.latency, self.ttft), self.stored, strict=True):
            sketch.merge_many(counts, stored)
            stored.clear()
        return self.latency, self.ttft


@dataclass(frozen=True)
class CallRollupStats:
    hours: int = 0  # hours rolled (new or again)
    rerolled: int = 0  # of which rolled again (late spans, dirty marks)
    blocks: int = 0
    rows: int = 0


def floor_to(value: datetime, seconds: int) -> datetime:
    epoch = int(value.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def hour_expr(engine_or_conn: Any, column: Any) -> Any:
    """Epoch seconds of the hour a timestamp column falls in, on either database."""
    if engine_or_conn.dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / HOUR), BigInteger) * HOUR
    return (cast(func.strftime("%s", func.substr(column, 1, 19)), Integer) // HOUR) * HOUR


def rolled_until(conn: Connection, project_rowid: int) -> datetime | None:
    """The end of the project's last rolled-up hour (``None``: nothing rolled up yet)."""
    value = conn.scalar(select(CallRollupStateRow.rolled_until).where(
        CallRollupStateRow.project_rowid == project_rowid))
    return _aware(value) if value is not None else None


def mark_dirty(conn: Connection, hours: Iterable[tuple[int, datetime]]) -> None:
    """Ask the next round to roll these (project, time) hours again: their calls changed."""
    rows = [{"project_rowid": p, "hour": floor_to(_aware(t), HOUR)} for p, t in set(hours)]
    if rows:
        conn.execute(insert(CallRollupDirtyRow), rows)


def roll_up_calls(engine: Engine, now: datetime, grace_s: float = 120.0) -> CallRollupStats:
    """Bring every project's call rollups up to the last hour that ended ``grace_s`` before ``now``.

    With several workers on one PostgreSQL, the one holding a session advisory lock does the round
    and the others skip it (two at once would compute the same rows and race on the state row).
    """
    with _one_worker(engine) as mine:
        return _roll_up_calls(engine, now, grace_s) if mine else CallRollupStats()


@contextmanager
def _one_worker(engine: Engine) -> Iterator[bool]:
    """Whether this process takes the round: always on SQLite (one worker), else the advisory lock's holder."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with try_advisory_lock(engine, _LOCK_NAME) as conn:
        yield conn is not None


def _roll_up_calls(engine: Engine, now: datetime, grace_s: float) -> CallRollupStats:
    end = floor_to(now - timedelta(seconds=grace_s), HOUR)
    stats = CallRollupStats()
    with engine.connect() as conn:
        projects = list(conn.scalars(select(ProjectRow.id).order_by(ProjectRow.id)))
        states = {r.project_rowid: (_aware(r.rolled_until), _aware(r.checked_at))
                  for r in conn.execute(select(CallRollupStateRow))}
        oldest_check = min((c for _, c in states.values()), default=None)
        since_id = _id_received_before(conn, oldest_check - timedelta(seconds=grace_s)) if oldest_check else 0
    for project in projects:
        stats = _add(stats, _roll_project(engine, project, states.get(project), end, now, since_id))
    return stats


def _add(a: CallRollupStats, b: CallRollupStats) -> CallRollupStats:
    return CallRollupStats(a.hours + b.hours, a.rerolled + b.rerolled, a.blocks + b.blocks, a.rows + b.rows)


def _id_received_before(conn: Connection, moment: datetime) -> int:
    """The largest span id stored before ``moment`` (by ``received_at``): a binary search on the primary key.

    Ids grow with the time spans are stored; the search looks at ~log2(ids) rows. 0 when none is older.
    """
    lo = 0
    hi = conn.scalar(select(func.max(SpanRow.id)))
    if hi is None:
        return 0
    while lo < hi:  # invariant: every id <= lo was received before moment (or does not exist)
        mid = (lo + hi + 1) // 2
        row = conn.execute(select(SpanRow.id, SpanRow.received_at).where(SpanRow.id >= mid)
                           .order_by(SpanRow.id).limit(1)).first()
        if row is None or _aware(row.received_at) >= moment:
            hi = mid - 1
        else:
            lo = row.id
    return lo


def _roll_project(engine: Engine, project: int, state: tuple[datetime, datetime] | None, end: datetime,
                  now: datetime, since_id: int) -> CallRollupStats:
    if state is None:
        with engine.connect() as conn:
            first = conn.scalar(select(SpanRow.start_time).where(SpanRow.project_rowid == project, SpanRow.is_llm)
                                .order_by(SpanRow.start_time).limit(1))
        if first is None:
            return CallRollupStats()
        done = floor_to(_aware(first), HOUR)
        dirty: set[datetime] = set()
        marks: list[int] = []
    else:
        done = state[0]
        with engine.connect() as conn:
            dirty = _late_hours(conn, project, since_id, done)
            marked = conn.execute(select(CallRollupDirtyRow.id, CallRollupDirtyRow.hour)
                                  .where(CallRollupDirtyRow.project_rowid == project)).all()
        marks = [m.id for m in marked]
        dirty |= {floor_to(_aware(m.hour), HOUR) for m in marked if _aware(m.hour) < done}
    stats = CallRollupStats()
    # new hours, a day per transaction (the state moves with them: a crash leaves consistent rows)
    chunk = done
    while chunk < end:
        chunk_end = min(floor_to(chunk, 86400) + timedelta(days=1), end)
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            rows = _roll_hours(conn, project, chunk, chunk_end)
            blocks = _roll_blocks(conn, project, _blocks_between(chunk, chunk_end), chunk_end)
            _save_state(conn, project, chunk_end, now)
        stats = _add(stats, CallRollupStats(int((chunk_end - chunk).total_seconds()) // HOUR, 0, blocks, rows))
        chunk = chunk_end
    final = max(done, end)
    # hours rolled before whose calls changed: roll them and their blocks again, one transaction
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        rows = 0
        for hour in sorted(dirty):
            rows += _roll_hours(conn, project, hour, hour + timedelta(hours=1))
        blocks = _roll_blocks(conn, project, {floor_to(h, BLOCK) for h in dirty}, final)
        if marks:
            conn.execute(delete(CallRollupDirtyRow).where(CallRollupDirtyRow.id.in_(marks)))
        _save_state(conn, project, final, now)
        _prune(conn, project)
    if dirty:
        log.info("project %d: rolled %d hour(s) again for late or changed calls", project, len(dirty))
    return _add(stats, CallRollupStats(len(dirty), len(dirty), blocks, rows))


def _prune(conn: Connection, project: int) -> None:
    """Drop the rows of hours before the first stored call (its spans were deleted: span retention)."""
    first = conn.scalar(select(SpanRow.start_time).where(SpanRow.project_rowid == project, SpanRow.is_llm)
                        .order_by(SpanRow.start_time).limit(1))
    if first is None:
        return
    hour = floor_to(_aware(first), HOUR)
    t = CallRollupRow
    conn.execute(delete(t).where(t.project_rowid == project, or_(
        and_(t.resolution_s == HOUR, t.bucket_start < hour),
        and_(t.resolution_s == BLOCK, t.bucket_start <= hour - timedelta(seconds=BLOCK)))))


def _save_state(conn: Connection, project: int, until: datetime, now: datetime) -> None:
    values = {"rolled_until": until, "checked_at": now}
    if conn.execute(update(CallRollupStateRow).where(CallRollupStateRow.project_rowid == project)
                               .values(**values)).rowcount:
        return
    conn.execute(insert(CallRollupStateRow).values(project_rowid=project, **values))


def _late_hours(conn: Connection, project: int, since_id: int, done: datetime) -> set[datetime]:
    """Rolled-up hours holding an LLM span stored after ``since_id``, or an LLM child of one."""
    new = select(SpanRow.start_time).where(SpanRow.id > since_id, SpanRow.project_rowid == project, SpanRow.is_llm,
                                           SpanRow.start_time < done)
    parent, child = aliased(SpanRow), aliased(SpanRow)
    children = (select(child.start_time)
                .join(parent, and_(parent.project_rowid == child.project_rowid, parent.trace_id == child.trace_id,
                                   parent.span_id == child.parent_span_id))
                .where(parent.id > since_id, parent.project_rowid == project, parent.is_llm, child.is_llm,
                       child.start_time < done))
    hours = set()
    for stmt in (new, children):
        hours |= {floor_to(_aware(t), HOUR) for t in conn.scalars(stmt)}
    return hours


def _dims_key(request_model: str | None, response_model: str | None, service: str | None,
              segment: dict[str, str] | None) -> str:
    raw = orjson.dumps([request_model, response_model, service, segment], option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def _roll_hours(conn: Connection, project: int, start: datetime, end: datetime) -> int:
    """Recompute the hourly rows of [start, end) from the spans; returns the rows written."""
    from monitor.query import outermost_calls
    from monitor.query_views import error_expr

    hour = hour_expr(conn, SpanRow.start_time)
    stmt = select(hour, SpanRow.request_model, SpanRow.response_model, SpanRow.service_name,
                  cast(SpanRow.segment, Text), error_expr(), SpanRow.input_tokens, SpanRow.output_tokens,
                  SpanRow.cost_usd, SpanRow.duration_ms, SpanRow.ttft_ms).where(
        SpanRow.project_rowid == project, SpanRow.is_llm, outermost_calls(),
        SpanRow.start_time >= start, SpanRow.start_time < end)
    accs: dict[tuple[int, str], tuple[tuple[Any, ...], Acc]] = {}
    for h, req, resp, service, seg_text, err, tin, tout, cost, duration, ttft in conn.execute(stmt):
        segment = orjson.loads(seg_text) if seg_text and seg_text != "null" else None
        key = _dims_key(req, resp, service, segment)
        held = accs.get((h, key))
        if held is None:
            held = accs[(h, key)] = ((req, resp, service, segment), Acc())
        held[1].add_call(err, tin, tout, cost, duration, ttft)
    rows = [_row(project, HOUR, datetime.fromtimestamp(int(h), UTC), key, dims, acc)
            for (h, key), (dims, acc) in accs.items()]
    conn.execute(delete(CallRollupRow).where(CallRollupRow.project_rowid == project,
                                             CallRollupRow.resolution_s == HOUR,
                                             CallRollupRow.bucket_start >= start, CallRollupRow.bucket_start < end))
    if rows:
        conn.execute(insert(CallRollupRow), rows)
    return len(rows)


def _row(project: int, resolution: int, start: datetime, key: str, dims: tuple[Any, ...], acc: Acc) -> dict:
    req, resp, service, segment = dims
    return {"project_rowid": project, "resolution_s": resolution, "bucket_start": start, "dims_key": key,
            "request_model": req, "response_model": resp, "service_name": service, "segment": segment,
            "requests": acc.requests, "errors": acc.errors, "input_tokens": acc.input_tokens,
            "output_tokens": acc.output_tokens, "priced": acc.priced, "cost_usd": acc.cost if acc.priced else None,
            "latency": sketch.dumps(acc.sketches()[0]), "ttft": sketch.dumps(acc.sketches()[1])}


def _blocks_between(start: datetime, end: datetime) -> set[datetime]:
    blocks, at = set(), floor_to(start, BLOCK)
    while at < end:
        blocks.add(at)
        at += timedelta(seconds=BLOCK)
    return blocks


def _roll_blocks(conn: Connection, project: int, blocks: set[datetime], until: datetime) -> int:
    """Recompute the 12-hour rows of the complete blocks (ending by ``until``) from their hours."""
    done = sorted(b for b in blocks if b + timedelta(seconds=BLOCK) <= until)
    t = CallRollupRow
    for block in done:
        stop = block + timedelta(seconds=BLOCK)
        merged: dict[str, tuple[tuple[Any, ...], Acc]] = {}
        stmt = select(t.dims_key, t.request_model, t.response_model, t.service_name, t.segment, t.requests,
                      t.errors, t.input_tokens, t.output_tokens, t.priced, t.cost_usd, t.latency, t.ttft).where(
            t.project_rowid == project, t.resolution_s == HOUR, t.bucket_start >= block, t.bucket_start < stop)
        for r in conn.execute(stmt):
            held = merged.get(r.dims_key)
            if held is None:
                held = merged[r.dims_key] = ((r.request_model, r.response_model, r.service_name, r.segment), Acc())
            held[1].add_row(r.requests, r.errors, r.input_tokens, r.output_tokens, r.priced, r.cost_usd, r.latency,
                            r.ttft)
        conn.execute(delete(t).where(t.project_rowid == project, t.resolution_s == BLOCK, t.bucket_start == block))
        if merged:
            conn.execute(insert(t), [_row(project, BLOCK, block, key, dims, acc)
                                     for key, (dims, acc) in merged.items()])
    return len(done)
