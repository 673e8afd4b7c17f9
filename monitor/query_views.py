"""Reads the dashboard needs beyond ``monitor.query``: time series, cost breakdowns, trace lists and
the values its filters offer. SQLAlchemy Core, the same answers on SQLite and PostgreSQL.

Everything counts LLM calls the way ``monitor.query`` does (the outermost LLM span of a call, the
same ``CallFilters``). Percentiles interpolate linearly between closest ranks: PostgreSQL computes
them with ``percentile_cont``, SQLite in Python with ``monitor.query.percentile``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Float,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql

from monitor.gpu_cost import SOURCE_GPU_TIME
from monitor.query import CallFilters, apply_filters, percentile
from monitor.store import call_rollup, sketch
from monitor.store.models import CallRollupRow, ProjectRow, ScoreRow, SpanRow

BREAKDOWNS = ("model", "service", "provider", "operation", "user", "source", "hosting", "language")
BUCKETS_S = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
HOSTING_API, HOSTING_SELF, HOSTING_UNPRICED = "API", "self-hosted", "unpriced"
OPTIONS_LIMIT = 200
OPTIONS_SCAN = 50_000
LATENCY_QS, TTFT_QS = (0.5, 0.95, 0.99), (0.5, 0.95)
_NONE3, _NONE2 = (None,) * 3, (None,) * 2
PG_WORK_MEM = "64MB"
TRACE_ID = re.compile(r"[0-9a-f]{32}")  # W3C trace id, as stored (lower-case hex)


@dataclass(frozen=True)
class FilterOptions:
    """The values a project's calls carry, for the dashboard's filter widgets."""

    models: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    segments: dict[str, list[str]] = field(default_factory=dict)  # label -> values
    tags: list[str] = field(default_factory=list)


def list_projects(engine: Engine) -> list[tuple[int, str]]:
    """(rowid, name) of every project, by name."""
    with engine.connect() as conn:
        return [(r.id, r.name) for r in conn.execute(select(ProjectRow.id, ProjectRow.name).order_by(ProjectRow.name))]


def model_expr() -> Any:
    return func.coalesce(SpanRow.response_model, SpanRow.request_model)


def error_expr() -> Any:
    return or_(SpanRow.status_code == 2, SpanRow.error_type.is_not(None))


def group_expr(by: str | None) -> Any:
    """The SQL expression a breakdown groups on: one of ``BREAKDOWNS`` or ``segment.<label>``."""
    if by is None:
        return literal("all")
    simple = {"model": model_expr(), "service": SpanRow.service_name, "provider": SpanRow.provider,
              "operation": SpanRow.operation, "user": SpanRow.user_id, "source": SpanRow.cost_source,
              "language": SpanRow.language}
    if by in simple:
        return simple[by]
    if by == "hosting":
        return case((SpanRow.cost_source == SOURCE_GPU_TIME, HOSTING_SELF),
                    (SpanRow.cost_source.is_(None), HOSTING_UNPRICED), else_=HOSTING_API)
    if by.startswith("segment.") and len(by) > len("segment."):
        return SpanRow.segment[by[len("segment."):]].as_string()
    raise ValueError(f"unknown breakdown {by!r}; use one of {', '.join(BREAKDOWNS)} or segment.<label>")


def _calls(engine: Engine, project_rowid: int, filters: CallFilters, *cols: Any) -> Select:
    return apply_filters(select(*cols), engine, project_rowid, filters)


def _scalars(engine: Engine, stmt: Select) -> list[Any]:
    with engine.connect() as conn:
        return [v for v in conn.execute(stmt).scalars() if v is not None]


def filter_options(engine: Engine, project_rowid: int, start: datetime | None = None) -> FilterOptions:
    """Models, services, segment labels and values, and tags of the project's newest ``OPTIONS_SCAN``
    LLM spans (since ``start``): what a filter should offer, read in an index scan however big the
    table is. Nested spans count too: a value only they carry is still worth offering.
    """
    recent = (select(SpanRow.response_model, SpanRow.request_model, SpanRow.service_name, SpanRow.segment,
                     SpanRow.tags)
              .where(SpanRow.project_rowid == project_rowid, SpanRow.is_llm)  # plain: partial indexes apply
              .order_by(SpanRow.start_time.desc()).limit(OPTIONS_SCAN))
    if start is not None:
        recent = recent.where(SpanRow.start_time >= start)
    spans = recent.subquery("recent")
    model = func.coalesce(spans.c.response_model, spans.c.request_model)
    models = _scalars(engine, select(model).select_from(spans).distinct().limit(OPTIONS_LIMIT))
    services = _scalars(engine, select(spans.c.service_name).distinct().limit(OPTIONS_LIMIT))
    segments: dict[str, list[str]] = defaultdict(list)
    for label, value in _json_elements(engine, spans, spans.c.segment, "object"):
        segments[label].append(value)
    tags = sorted(v for (v,) in _json_elements(engine, spans, spans.c.tags, "array"))
    return FilterOptions(sorted(models), sorted(services), {k: sorted(v) for k, v in sorted(segments.items())}, tags)


def _json_elements(engine: Engine, spans: Any, column: Any, kind: str) -> list[tuple]:
    """Distinct (key, value) of the objects, or (value,) of the arrays, held in a JSON column."""
    pg = engine.dialect.name == "postgresql"
    if kind == "object":
        fn, names = (func.jsonb_each_text if pg else func.json_each), ("key", "value")
    else:
        fn, names = (func.jsonb_array_elements_text if pg else func.json_each), ("value",)
    # the functions' own column names (key, value) on both databases, so no column list is rendered
    each = fn(column).table_valued(*names).alias("elements")
    cols = [each.c[n] for n in names]
    typed = (func.jsonb_typeof if pg else func.json_type)(column) == kind
    stmt = select(*cols).select_from(spans).join(each, true()).where(typed)
    with engine.connect() as conn:
        rows = conn.execute(stmt.distinct().limit(OPTIONS_LIMIT)).all()
    return [tuple(str(v) for v in row) for row in rows if None not in row]


def time_bounds(engine: Engine, project_rowid: int, filters: CallFilters) -> tuple[datetime | None, datetime | None]:
    """The first and last start time of the matching calls (``None`` when there are none).

    Two ``ORDER BY start_time LIMIT 1`` reads, which walk the (project, start_time) index from
    either end instead of aggregating the whole range.
    """
    stmt = _calls(engine, project_rowid, filters, SpanRow.start_time).limit(1)
    with engine.connect() as conn:
        first = conn.execute(stmt.order_by(SpanRow.start_time)).scalar()
        last = conn.execute(stmt.order_by(SpanRow.start_time.desc())).scalar()
    return _as_utc(first), _as_utc(last)


def _as_utc(value: Any) -> datetime | None:
    """Aggregates bypass the column type on SQLite (text comes back); parse and stamp UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def pick_bucket_s(start: datetime, end: datetime, target: int = 60) -> int:
    """The smallest round bucket that cuts [start, end) into at most ``target`` buckets."""
    span = max((end - start).total_seconds(), 1.0)
    return next((b for b in BUCKETS_S if span / b <= target), BUCKETS_S[-1])


def bucket_start(moment: datetime, bucket_s: int) -> datetime:
    """The start of the epoch-aligned bucket holding ``moment`` (what ``call_series`` labels rows with)."""
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % bucket_s, UTC)


def _bucket_expr(engine: Engine, bucket_s: int) -> Any:
    if engine.dialect.name == "postgresql":
        seconds = func.floor(func.extract("epoch", SpanRow.start_time) / bucket_s)
        return (cast(seconds, BigInteger) * bucket_s).label("bucket")
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff"; strftime('%s') would round the fraction, so cut it off.
    seconds = cast(func.strftime("%s", func.substr(SpanRow.start_time, 1, 19)), Integer)
    return ((seconds // bucket_s) * bucket_s).label("bucket")


def call_series(engine: Engine, project_rowid: int, filters: CallFilters, bucket_s: int | None,
                group_by: str | None = None) -> list[dict[str, Any]]:
    """Per time bucket (and group): requests, errors, latency and TTFT percentiles, tokens and cost.

    Rows are sorted by bucket then group; ``bucket`` is the bucket's start (UTC). Buckets without
    calls are absent. ``cost_usd`` is ``None`` where no call of the row was priced. ``bucket_s``
    ``None`` gives one row per group over the whole range (``bucket`` ``None``): see ``call_stats``.

    A range holding at least ``ROLLUP_MIN_HOURS`` whole hours the worker has rolled up is read from
    the call rollups for those hours and from the spans for the rest (``_from_rollups``): counts,
    errors, tokens and cost are the same, percentiles within 2 % (``approximate`` is then ``True``).
    """
    rolled = _from_rollups(engine, project_rowid, filters, bucket_s, group_by)
    if rolled is not None:
        return rolled
    return _raw_series(engine, project_rowid, filters, bucket_s, group_by)


def _raw_series(engine: Engine, project_rowid: int, filters: CallFilters, bucket_s: int | None,
                group_by: str | None = None) -> list[dict[str, Any]]:
    """``call_series`` from the spans alone (exact percentiles)."""
    bucket = _bucket_expr(engine, bucket_s) if bucket_s else literal_column("0").label("bucket")
    grp = group_expr(group_by).label("grp")
    err = func.sum(case((error_expr(), 1), else_=0))
    cols = [bucket, grp, func.count(), err, func.sum(SpanRow.input_tokens), func.sum(SpanRow.output_tokens),
            func.sum(SpanRow.cost_usd), func.count(SpanRow.cost_usd)]
    pg = engine.dialect.name == "postgresql"
    if pg:  # one sort per column and group, however many fractions
        cols += [_pg_percentiles(SpanRow.duration_ms, LATENCY_QS), _pg_percentiles(SpanRow.ttft_ms, TTFT_QS)]
    stmt = _calls(engine, project_rowid, filters, *cols).group_by(*([bucket] if bucket_s else []), grp)
    with engine.begin() as conn:
        _tune(conn)
        rows = conn.execute(stmt).all()
    pcts = {} if pg else _python_percentiles(engine, project_rowid, filters, bucket, grp)
    out = [_series_row(r, bucket_s, pcts.get((r[0], r[1])) if not pg else (*(r[8] or _NONE3), *(r[9] or _NONE2)))
           for r in rows]
    return sorted(out, key=lambda r: (r["bucket"] or 0, str(r["group"])))


def _tune(conn: Connection) -> None:
    """Settings for one big read on PostgreSQL (``SET LOCAL``: this transaction only).

    ``work_mem`` keeps the percentile sorts in memory instead of on disk. JIT goes off: the
    outermost-call check makes the planner's cost estimate large enough to compile the query, and
    compiling took ~0.4 s a query, more than running it (docs/benchmarks.md, "Dashboard queries").
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SET LOCAL work_mem = '{PG_WORK_MEM}'"))
        conn.execute(text("SET LOCAL jit = off"))


def call_stats(engine: Engine, project_rowid: int, filters: CallFilters, group_by: str | None = None
               ) -> list[dict[str, Any]]:
    """``monitor.query.summary``'s figures computed in the database (percentiles by ``percentile_cont``
    on PostgreSQL), one row per group, busiest first.
    """
    rows = call_series(engine, project_rowid, filters, None, group_by)
    return sorted(rows, key=lambda r: (-r["requests"], str(r["group"])))


def _pg_percentiles(column: Any, qs: tuple[float, ...]) -> Any:
    return func.percentile_cont(postgresql.array(qs), type_=postgresql.ARRAY(Float)).within_group(column)


def _python_percentiles(engine: Engine, project_rowid: int, filters: CallFilters, bucket: Any, grp: Any
                        ) -> dict[tuple[Any, Any], tuple[float | None, ...]]:
    stmt = _calls(engine, project_rowid, filters, bucket, grp, SpanRow.duration_ms, SpanRow.ttft_ms)
    values: dict[tuple[Any, Any], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    with engine.connect() as conn:
        for b, g, duration, ttft in conn.execute(stmt):
            lat, first = values[(b, g)]
            lat.append(duration)
            if ttft is not None:
                first.append(ttft)
    out = {}
    for key, (lat, first) in values.items():
        lat.sort()
        first.sort()
        out[key] = (*(percentile(lat, q) for q in LATENCY_QS), *(percentile(first, q) for q in TTFT_QS))
    return out


def _series_row(r: Any, bucket_s: int | None, pcts: tuple[float | None, ...] | None) -> dict[str, Any]:
    b, grp, requests, errors, tin, tout, cost, priced = r[:8]
    p = pcts or (None,) * 5
    return {
        "bucket": datetime.fromtimestamp(int(b), UTC) if bucket_s else None, "bucket_s": bucket_s, "group": grp,
        "requests": requests, "errors": int(errors or 0), "error_rate": (errors or 0) / requests if requests else 0.0,
        "latency_ms_p50": p[0], "latency_ms_p95": p[1], "latency_ms_p99": p[2], "ttft_ms_p50": p[3],
        "ttft_ms_p95": p[4], "input_tokens": int(tin or 0), "output_tokens": int(tout or 0),
        "total_tokens": int(tin or 0) + int(tout or 0), "cost_usd": float(cost) if priced else None,
        "priced_requests": priced, "approximate": False,
    }


# --- long ranges from the call rollups (monitor.store.call_rollup) ----------------------------

ROLLUP_MIN_HOURS = 24  # shorter ranges ("Last 24 hours" and less) are always read exactly from the spans


def rollups_apply(filters: CallFilters, bucket_s: int | None, group_by: str | None) -> bool:
    """Whether the rollups can answer these filters, buckets and breakdown at all (else: spans only).

    They keep model, service and segment, so a user, session, tag or error filter, a breakdown by
    anything else, or buckets shorter than an hour read the spans.
    """
    if filters.user or filters.session or filters.tag or filters.has_error is not None:
        return False
    if bucket_s is not None and bucket_s % call_rollup.HOUR:
        return False
    return group_by in (None, "model", "service") or (group_by or "").startswith("segment.")


def _from_rollups(engine: Engine, project_rowid: int, filters: CallFilters, bucket_s: int | None,
                  group_by: str | None) -> list[dict[str, Any]] | None:
    """``call_series`` from the rollups of the whole rolled-up hours in range plus the spans of the rest
    (the partial first hour, and everything after the last rolled-up hour); ``None`` where the rollups
    do not apply or cover fewer than ``ROLLUP_MIN_HOURS`` hours of the range.
    """
    if not rollups_apply(filters, bucket_s, group_by):
        return None
    filters = replace(filters, start=_as_utc(filters.start), end=_as_utc(filters.end))  # naive means UTC
    hour = timedelta(seconds=call_rollup.HOUR)
    with engine.connect() as conn:
        until = call_rollup.rolled_until(conn, project_rowid)
        if until is None:
            return None
        # from the first stored call's hour at the earliest: rollups of calls deleted since (retention) are not read
        first = conn.scalar(select(SpanRow.start_time).where(SpanRow.project_rowid == project_rowid, SpanRow.is_llm)
                            .order_by(SpanRow.start_time).limit(1))
        if first is None:
            return None
        start = call_rollup.floor_to(_as_utc(first), call_rollup.HOUR)
        if filters.start is not None:
            wanted = call_rollup.floor_to(filters.start, call_rollup.HOUR)
            start = max(start, wanted if wanted == filters.start else wanted + hour)
        end = until if filters.end is None else min(until, call_rollup.floor_to(filters.end, call_rollup.HOUR))
        if end - start < ROLLUP_MIN_HOURS * hour:
            return None
        accs: dict[tuple[int, Any], call_rollup.Acc] = defaultdict(call_rollup.Acc)
        for level, a, b in _levels(start, end, bucket_s):
            _read_rollups(conn, project_rowid, filters, level, a, b, bucket_s, group_by, accs)
    edges = [(filters.start, start)] if filters.start is not None and filters.start < start else []
    if filters.end is None or end < filters.end:
        edges.append((end, filters.end))
    for a, b in edges:
        _read_spans(engine, project_rowid, replace(filters, start=a, end=b), bucket_s, group_by, accs)
    out = [_acc_row(b, g, acc, bucket_s) for (b, g), acc in accs.items() if acc.requests]
    return sorted(out, key=lambda r: (r["bucket"] or _EPOCH, str(r["group"])))


_EPOCH = datetime.fromtimestamp(0, UTC)


def _levels(start: datetime, end: datetime, bucket_s: int | None) -> list[tuple[int, datetime, datetime]]:
    """[start, end) as (resolution, from, to): 12-hour rows where they fit whole in the range and in the
    buckets, hourly rows for the rest."""
    block = timedelta(seconds=call_rollup.BLOCK)
    if bucket_s is None or bucket_s % call_rollup.BLOCK == 0:
        a = call_rollup.floor_to(start, call_rollup.BLOCK)
        a = a if a == start else a + block
        b = call_rollup.floor_to(end, call_rollup.BLOCK)
        if a < b:
            parts = [(call_rollup.HOUR, start, a), (call_rollup.BLOCK, a, b), (call_rollup.HOUR, b, end)]
            return [p for p in parts if p[1] < p[2]]
    return [(call_rollup.HOUR, start, end)]


def _rollup_group(group_by: str | None) -> Any:
    t = CallRollupRow
    if group_by is None:
        return literal("all")
    if group_by == "model":
        return func.coalesce(t.response_model, t.request_model)
    if group_by == "service":
        return t.service_name
    return t.segment[group_by[len("segment."):]].as_string()


def _read_rollups(conn: Connection, project_rowid: int, filters: CallFilters, level: int, start: datetime,
                  end: datetime, bucket_s: int | None, group_by: str | None,
                  accs: dict[tuple[int, Any], call_rollup.Acc]) -> None:
    t = CallRollupRow
    epoch = call_rollup.hour_expr(conn, t.bucket_start)
    stmt = select(epoch, _rollup_group(group_by), t.requests, t.errors, t.input_tokens, t.output_tokens,
                  t.priced, t.cost_usd, t.latency, t.ttft).where(
        t.project_rowid == project_rowid, t.resolution_s == level, t.bucket_start >= start, t.bucket_start < end)
    if filters.service:
        stmt = stmt.where(t.service_name == filters.service)
    if filters.model:
        stmt = stmt.where(or_(t.response_model == filters.model, t.request_model == filters.model))
    for key, values in filters.segment.items():
        stmt = stmt.where(t.segment[key].as_string().in_(values))
    for epoch, grp, requests, errors, tin, tout, priced, cost, latency, ttft in conn.execute(stmt).all():
        b = int(epoch) - int(epoch) % bucket_s if bucket_s else 0
        accs[(b, grp)].add_row(requests, errors, int(tin), int(tout), priced, cost, latency, ttft)


def _read_spans(engine: Engine, project_rowid: int, filters: CallFilters, bucket_s: int | None,
                group_by: str | None, accs: dict[tuple[int, Any], call_rollup.Acc]) -> None:
    bucket = _bucket_expr(engine, bucket_s) if bucket_s else literal_column("0").label("bucket")
    stmt = _calls(engine, project_rowid, filters, bucket, group_expr(group_by), error_expr(), SpanRow.input_tokens,
                  SpanRow.output_tokens, SpanRow.cost_usd, SpanRow.duration_ms, SpanRow.ttft_ms)
    with engine.connect() as conn:
        for b, grp, err, tin, tout, cost, duration, ttft in conn.execute(stmt):
            accs[(int(b), grp)].add_call(err, tin, tout, cost, duration, ttft)


def _acc_row(b: int, grp: Any, acc: call_rollup.Acc, bucket_s: int | None) -> dict[str, Any]:
    latency_counts, ttft_counts = acc.sketches()
    lat = sketch.quantiles(latency_counts, LATENCY_QS)
    ttft = sketch.quantiles(ttft_counts, TTFT_QS)
    return {
        "bucket": datetime.fromtimestamp(b, UTC) if bucket_s else None, "bucket_s": bucket_s, "group": grp,
        "requests": acc.requests, "errors": acc.errors, "error_rate": acc.errors / acc.requests,
        "latency_ms_p50": lat[0], "latency_ms_p95": lat[1], "latency_ms_p99": lat[2], "ttft_ms_p50": ttft[0],
        "ttft_ms_p95": ttft[1], "input_tokens": acc.input_tokens, "output_tokens": acc.output_tokens,
        "total_tokens": acc.input_tokens + acc.output_tokens, "cost_usd": acc.cost if acc.priced else None,
        "priced_requests": acc.priced, "approximate": True,
    }


def cost_breakdown(engine: Engine, project_rowid: int, filters: CallFilters, by: str) -> list[dict[str, Any]]:
    """Cost, requests and tokens per ``by`` group (see ``group_expr``), costliest first.

    ``usd_per_1m_tokens`` divides the cost by the tokens of the priced calls only, so unpriced
    calls do not make a model look cheaper than it is.
    """
    grp = group_expr(by).label("grp")
    priced_tokens = case((SpanRow.cost_usd.is_not(None),
                          func.coalesce(SpanRow.input_tokens, 0) + func.coalesce(SpanRow.output_tokens, 0)), else_=0)
    stmt = _calls(engine, project_rowid, filters, grp, func.count(), func.count(SpanRow.cost_usd),
                  func.sum(SpanRow.cost_usd), func.sum(SpanRow.input_tokens), func.sum(SpanRow.output_tokens),
                  func.sum(priced_tokens)).group_by(grp)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    out = [{
        "group": g, "requests": n, "priced_requests": priced, "cost_usd": float(cost) if priced else None,
        "input_tokens": int(tin or 0), "output_tokens": int(tout or 0), "priced_tokens": int(ptok or 0),
        "usd_per_1m_tokens": float(cost) * 1e6 / int(ptok) if priced and ptok else None,
    } for g, n, priced, cost, tin, tout, ptok in rows]
    return sorted(out, key=lambda r: (-(r["cost_usd"] or 0.0), -r["requests"], str(r["group"])))


def language_breakdown(engine: Engine, project_rowid: int, filters: CallFilters) -> list[dict[str, Any]]:
    """Per input language (``spans.language``; ``None``: no input text, or not labelled yet): requests,
    tokens, input characters, input tokens per character and cost per request, busiest first.

    ``input_chars`` counts the input text and the system instructions, the text input tokens are
    counted over. ``tokens_per_char`` uses only the calls that report input tokens and have input
    text; ``cost_per_request_usd`` divides by the priced calls, so unpriced ones do not make a
    language look cheaper than it is.
    """
    chars = (func.coalesce(func.length(SpanRow.input_text), 0)
             + func.coalesce(func.length(SpanRow.system_instructions), 0))
    measured = and_(SpanRow.input_tokens.is_not(None), SpanRow.input_text.is_not(None))
    measured_tokens = func.sum(case((measured, SpanRow.input_tokens), else_=0))
    measured_chars = func.sum(case((measured, chars), else_=0))
    stmt = _calls(engine, project_rowid, filters, SpanRow.language, func.count(), func.sum(SpanRow.input_tokens),
                  func.sum(SpanRow.output_tokens), func.sum(chars), measured_tokens, measured_chars,
                  func.count(SpanRow.cost_usd), func.sum(SpanRow.cost_usd)).group_by(SpanRow.language)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    out = [{
        "language": lang, "requests": n, "input_tokens": int(tin or 0), "output_tokens": int(tout or 0),
        "input_chars": int(chars_all or 0), "tokens_per_char": int(m_tok) / int(m_chars) if m_chars else None,
        "priced_requests": priced, "cost_usd": float(cost) if priced else None,
        "cost_per_request_usd": float(cost) / priced if priced else None,
    } for lang, n, tin, tout, chars_all, m_tok, m_chars, priced, cost in rows]
    return sorted(out, key=lambda r: (-r["requests"], str(r["language"])))


def list_traces(engine: Engine, project_rowid: int, filters: CallFilters, search: str | None = None,
                limit: int = 50) -> list[dict[str, Any]]:
    """Traces with matching LLM calls, newest first, one row each with the matching calls' totals.

    ``search`` matches a trace id exactly or, case-insensitively, text in a call's input or output.
    A search that is the id of a trace with matching calls returns that trace alone, read through
    the (project, trace, span) index: the text is not scanned for it (a scan of the range's prompts
    and answers, seconds over days of traffic). ``duration_ms`` runs from the first matching call's
    start to the last one's end. The traces are those of the newest ``limit × 20`` matching calls
    (an index scan, not an aggregate of the whole range), so a page of very long traces can hold
    fewer than ``limit``. A text search reads the range newest first, in windows (``search_traces``),
    and stops once it has the page.
    """
    return search_traces(engine, project_rowid, filters, search, limit).traces


@dataclass(frozen=True)
class TraceSearch:
    """``list_traces``' rows, and how far back a text search read: ``searched_from`` is the start of the
    oldest window read (``None``: the whole range), ``complete`` whether it read all it had to."""

    traces: list[dict[str, Any]]
    searched_from: datetime | None = None
    complete: bool = True


SEARCH_FIRST_WINDOW = timedelta(hours=1)
SEARCH_GROWTH = 2  # each window twice the previous: 1 h, 2 h, 4 h, ... (a page found reads < 2× what it needs)
SEARCH_MIN_WINDOW = timedelta(minutes=5)


def search_traces(engine: Engine, project_rowid: int, filters: CallFilters, search: str | None = None,
                  limit: int = 50, budget_s: float | None = None) -> TraceSearch:
    """``list_traces`` with a time budget for text searches.

    A text search reads the range newest first in windows (1 hour, then twice longer each time) and
    stops once the newest ``limit`` matching traces are known, so a word found in recent calls never
    reads the older ones. With ``budget_s``, each next window is cut to what the time left allows at
    the pace so far, the search stops once that many seconds are spent, and says where it stopped
    (``complete`` ``False``, ``searched_from``): a word found nowhere otherwise reads every prompt
    and answer of the range (≈ 20 µs a call on PostgreSQL).
    """
    import time

    q = (search or "").strip()
    with engine.begin() as conn:
        _tune(conn)
        if TRACE_ID.fullmatch(q.lower()) and (found := _traces(conn, engine, project_rowid, filters, [q.lower()])):
            return TraceSearch(found)
        newest = _calls(engine, project_rowid, filters, SpanRow.trace_id)
        if not q:
            ids = _newest_ids(conn, newest, limit * 20, {}, limit)
            return TraceSearch(_traces(conn, engine, project_rowid, filters, ids) if ids else [])
        newest = newest.where(or_(SpanRow.trace_id == q.lower(), SpanRow.input_text.icontains(q, autoescape=True),
                                  SpanRow.output_text.icontains(q, autoescape=True)))
        first, last = _bounds(conn, project_rowid, filters)
        if first is None or last is None:
            return TraceSearch([])
        started = time.perf_counter()
        found_ids: dict[str, None] = {}
        calls = 0
        top, window = last + timedelta(microseconds=1), SEARCH_FIRST_WINDOW
        complete = True
        while top > first:
            bottom = max(top - window, first)
            stmt = newest.where(SpanRow.start_time >= bottom, SpanRow.start_time < top)
            rows = conn.execute(stmt.order_by(SpanRow.start_time.desc(), SpanRow.id.desc())
                                .limit(limit * 20 - calls)).scalars().all()
            calls += len(rows)
            found_ids.update(dict.fromkeys(rows))
            top, window = bottom, window * SEARCH_GROWTH
            if len(found_ids) >= limit or calls >= limit * 20 or top <= first:
                break
            if budget_s is not None:  # the next window only as long as the time left allows, at the pace so far
                spent = time.perf_counter() - started
                if spent >= budget_s:
                    complete = False
                    break
                pace = spent / max((last - top).total_seconds(), 1.0)  # seconds spent per second of range read
                window = max(min(window, timedelta(seconds=(budget_s - spent) / max(pace, 1e-9))),
                             SEARCH_MIN_WINDOW)
        ids = list(found_ids)[:limit]
        traces = _traces(conn, engine, project_rowid, filters, ids) if ids else []
        return TraceSearch(traces, None if complete else top, complete)


def _newest_ids(conn: Connection, stmt: Select, calls: int, seen: dict[str, None], limit: int) -> list[str]:
    rows = conn.execute(stmt.order_by(SpanRow.start_time.desc(), SpanRow.id.desc()).limit(calls)).scalars()
    seen.update(dict.fromkeys(rows))
    return list(seen)[:limit]


def _bounds(conn: Connection, project_rowid: int, filters: CallFilters) -> tuple[datetime | None, datetime | None]:
    """First and last start time of the project's LLM calls within the filters' time range (two index reads)."""
    stmt = select(SpanRow.start_time).where(SpanRow.project_rowid == project_rowid, SpanRow.is_llm)
    if filters.start:
        stmt = stmt.where(SpanRow.start_time >= filters.start)
    if filters.end:
        stmt = stmt.where(SpanRow.start_time < filters.end)
    first = conn.execute(stmt.order_by(SpanRow.start_time).limit(1)).scalar()
    last = conn.execute(stmt.order_by(SpanRow.start_time.desc()).limit(1)).scalar()
    return _as_utc(first), _as_utc(last)


def _traces(conn: Connection, engine: Engine, project_rowid: int, filters: CallFilters, ids: list[str]
            ) -> list[dict[str, Any]]:
    """One row per trace of ``ids`` with matching calls (totals of those calls), newest first."""
    stmt = _calls(engine, project_rowid, filters, SpanRow.trace_id, func.min(SpanRow.start_time),
                  func.max(SpanRow.end_time), func.count(), func.sum(case((error_expr(), 1), else_=0)),
                  func.sum(SpanRow.input_tokens), func.sum(SpanRow.output_tokens), func.sum(SpanRow.cost_usd),
                  func.count(SpanRow.cost_usd), func.max(SpanRow.service_name), func.max(model_expr()),
                  func.count(func.distinct(model_expr())))
    rows = conn.execute(stmt.where(SpanRow.trace_id.in_(ids)).group_by(SpanRow.trace_id)).all()
    return sorted((_trace_row(r) for r in rows), key=lambda t: (t["start_time"], t["trace_id"]), reverse=True)


def _trace_row(r: Any) -> dict[str, Any]:
    trace_id, first, last, calls, errors, tin, tout, cost, priced, service, model, models = r
    first, last = _as_utc(first), _as_utc(last)
    return {
        "trace_id": trace_id, "start_time": first, "duration_ms": (last - first) / timedelta(milliseconds=1),
        "calls": calls, "errors": int(errors or 0), "input_tokens": int(tin or 0), "output_tokens": int(tout or 0),
        "cost_usd": float(cost) if priced else None, "service_name": service,
        "model": model if models <= 1 else f"{model} (+{models - 1})",
    }


SCORE_COLUMNS = ("trace_id", "span_id", "name", "value", "label", "explanation", "source", "evaluator",
                 "evaluator_version", "created_at")


def trace_scores(engine: Engine, project_rowid: int, trace_id: str) -> list[dict[str, Any]]:
    """Every score of a trace's spans (evaluators, people, OTel evaluation results), oldest first."""
    stmt = (select(*(getattr(ScoreRow, c) for c in SCORE_COLUMNS))
            .where(ScoreRow.project_rowid == project_rowid, ScoreRow.trace_id == trace_id.lower())
            .order_by(ScoreRow.created_at, ScoreRow.id))
    with engine.connect() as conn:
        return [dict(zip(SCORE_COLUMNS, row, strict=True)) for row in conn.execute(stmt)]
