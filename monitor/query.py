"""Every read the REST API and the dashboard need, on SQLite and PostgreSQL alike.

LLM spans nested inside another LLM span of the same trace (an app's client span around the
inference server's own span, or two instrumentations wrapping one call) are not counted twice:
calls and summaries use the outermost one.
"""

from __future__ import annotations

import base64
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, and_, bindparam, func, literal, or_, select, text
from sqlalchemy.orm import aliased

from collectors.prometheus import names
from monitor.config import Deployment
from monitor.store.aggregate import add_histograms, quantile
from monitor.store.metric_reads import Retention, SeriesAgg, window_aggs
from monitor.store.models import SpanRow

CALL_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "name", "service_name", "start_time", "end_time", "duration_ms",
    "status_code", "status_message", "operation", "provider", "request_model", "response_model",
    "input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "reasoning_tokens",
    "finish_reasons", "error_type", "ttft_ms", "server_address", "user_id", "session_id", "response_id", "tags",
    "segment",
    "input_text", "output_text", "system_instructions", "retrieval_context", "cost_usd", "cost_source",
)
VIEW_METRICS = (
    names.RUNNING, names.WAITING, names.KV_CACHE, names.PROMPT_TOKENS, names.GENERATION_TOKENS, names.PREEMPTIONS,
    names.FINISHED, names.FAILED, names.TTFT, names.ITL, names.TPOT, names.E2E, names.QUEUE_TIME,
    names.REQUEST_PROMPT_TOKENS, names.REQUEST_GENERATION_TOKENS, names.GPU_UTIL, names.GPU_MEMORY_USED,
    names.GPU_MEMORY_TOTAL, names.GPU_POWER, names.GPU_ENERGY, names.SCRAPE_UP,
)
SPAN_COLUMNS = (*CALL_COLUMNS, "kind", "scope_name", "attributes", "resource", "events", "links", "is_llm")


@dataclass
class CallFilters:
    start: datetime | None = None
    end: datetime | None = None
    service: str | None = None
    model: str | None = None
    user: str | None = None
    session: str | None = None
    tag: str | None = None
    segment: dict[str, list[str]] = field(default_factory=dict)  # label -> accepted values (OR)
    has_error: bool | None = None


def _model_expr() -> Any:
    return func.coalesce(SpanRow.response_model, SpanRow.request_model)


def _not_nested() -> Any:
    # Root spans short-circuit the lookup: without it PostgreSQL hashes every LLM span of the project
    # for the anti-join (128 ms vs 3 ms for a 1-hour window of 200k calls, see docs/benchmarks.md).
    # OFFSET 0 keeps PostgreSQL from turning the EXISTS into that hash anyway (it did, for any range:
    # 1.6 s for the last 24 hours of 1M calls); each child span probes ix_spans_calls_span instead, an
    # index-only lookup of ~4 µs (docs/benchmarks.md, "Dashboard queries").
    parent = aliased(SpanRow)
    probe = select(literal(1)).where(
        parent.project_rowid == SpanRow.project_rowid, parent.trace_id == SpanRow.trace_id,
        parent.span_id == SpanRow.parent_span_id, parent.is_llm,
    ).offset(0)
    return or_(SpanRow.parent_span_id.is_(None), ~probe.exists())


def outermost_calls() -> Any:
    """The condition that keeps only the outermost LLM span of a call (what calls and summaries count)."""
    return _not_nested()


def _error_expr() -> Any:
    return or_(SpanRow.status_code == 2, SpanRow.error_type.is_not(None))


def apply_filters(stmt: Select, engine: Engine, project_rowid: int, f: CallFilters) -> Select:
    """Restrict a select over spans to the outermost LLM calls of a project matching the filters."""
    # ``is_llm``, not ``is_llm IS TRUE`` (same rows: the column is NOT NULL): PostgreSQL can only use the
    # partial indexes ``WHERE is_llm`` (ix_spans_calls_time, ix_spans_calls_model) for the plain form.
    stmt = stmt.where(SpanRow.project_rowid == project_rowid, SpanRow.is_llm, _not_nested())
    if f.start:
        stmt = stmt.where(SpanRow.start_time >= f.start)
    if f.end:
        stmt = stmt.where(SpanRow.start_time < f.end)
    if f.service:
        stmt = stmt.where(SpanRow.service_name == f.service)
    if f.model:
        stmt = stmt.where(or_(SpanRow.response_model == f.model, SpanRow.request_model == f.model))
    if f.user:
        stmt = stmt.where(SpanRow.user_id == f.user)
    if f.session:
        stmt = stmt.where(SpanRow.session_id == f.session)
    if f.has_error is not None:
        stmt = stmt.where(_error_expr() if f.has_error else ~_error_expr())
    for key, values in f.segment.items():
        stmt = stmt.where(SpanRow.segment[key].as_string().in_(values))
    if f.tag:
        stmt = stmt.where(_has_tag(engine, f.tag))
    return stmt


def _has_tag(engine: Engine, tag: str) -> Any:
    if engine.dialect.name == "postgresql":
        import json

        return text("spans.tags @> CAST(:tag_json AS JSONB)").bindparams(
            bindparam("tag_json", json.dumps([tag])))
    return text("EXISTS (SELECT 1 FROM json_each(spans.tags) WHERE json_each.value = :tag)").bindparams(
        bindparam("tag", tag))


def encode_cursor(start: datetime, rowid: int) -> str:
    return base64.urlsafe_b64encode(f"{start.isoformat()}|{rowid}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Raises ValueError for a cursor we did not issue."""
    raw = base64.urlsafe_b64decode(cursor.encode()).decode()
    stamp, _, rowid = raw.partition("|")
    return datetime.fromisoformat(stamp), int(rowid)


def list_calls(engine: Engine, project_rowid: int, filters: CallFilters, limit: int = 50,
               cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """LLM calls, newest first, keyset-paginated; returns the page and the next cursor."""
    cols = [getattr(SpanRow, c) for c in CALL_COLUMNS]
    stmt = apply_filters(select(SpanRow.id, *cols), engine, project_rowid, filters)
    if cursor:
        start, rowid = decode_cursor(cursor)
        stmt = stmt.where(or_(SpanRow.start_time < start, and_(SpanRow.start_time == start, SpanRow.id < rowid)))
    stmt = stmt.order_by(SpanRow.start_time.desc(), SpanRow.id.desc()).limit(limit + 1)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    items = [dict(zip(CALL_COLUMNS, row[1:], strict=True)) for row in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1].start_time, rows[limit - 1].id) if len(rows) > limit else None
    return items, next_cursor


def get_trace(engine: Engine, project_rowid: int, trace_id: str) -> list[dict[str, Any]]:
    """All spans of a trace as a forest: each span has ``children``; roots are returned."""
    cols = [getattr(SpanRow, c) for c in SPAN_COLUMNS]
    stmt = select(SpanRow.id, *cols).where(SpanRow.project_rowid == project_rowid,
                                           SpanRow.trace_id == trace_id.lower())
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    # Sorted here, not by ORDER BY: with it SQLite (no statistics) walks ix_spans_project_start over the
    # whole project to skip a sort of a few rows (2–3 s at 1M spans) instead of the (project, trace) index.
    rows.sort(key=lambda r: (r.start_time, r.id))
    spans = [dict(zip(SPAN_COLUMNS, row[1:], strict=True)) for row in rows]
    by_id = {s["span_id"]: s for s in spans}
    roots = []
    for span in spans:
        span["children"] = []
    for span in spans:
        parent = by_id.get(span["parent_span_id"] or "")
        (parent["children"] if parent is not None else roots).append(span)
    return roots


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (what PostgreSQL's percentile_cont does)."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


GROUPS = ("model", "service", "provider", "operation", "language")


def summary(engine: Engine, project_rowid: int, filters: CallFilters, group_by: str | None = None
            ) -> list[dict[str, Any]]:
    """Request count, error rate, latency and TTFT percentiles, tokens and cost, per group.

    ``group_by`` is ``model``, ``service``, ``provider``, ``operation``, ``language`` (of the input, set by
    the worker's language job; ``None`` until then or without input text) or ``segment.<label>``.
    """
    key = _group_expr(group_by).label("grp")
    stmt = apply_filters(
        select(key, SpanRow.duration_ms, SpanRow.ttft_ms, _error_expr().label("err"), SpanRow.input_tokens,
               SpanRow.output_tokens, SpanRow.cost_usd),
        engine, project_rowid, filters)
    groups: dict[Any, dict[str, Any]] = defaultdict(lambda: {
        "lat": [], "ttft": [], "errors": 0, "in": 0, "out": 0, "cost": 0.0, "priced": 0})
    with engine.connect() as conn:
        for grp, duration, ttft, err, tin, tout, cost in conn.execute(stmt):
            g = groups[grp]
            g["lat"].append(duration)
            if ttft is not None:
                g["ttft"].append(ttft)
            g["errors"] += bool(err)
            g["in"] += tin or 0
            g["out"] += tout or 0
            if cost is not None:
                g["cost"] += cost
                g["priced"] += 1
    return [_summarise(grp, g) for grp, g in sorted(groups.items(), key=lambda kv: -len(kv[1]["lat"]))]


def _group_expr(group_by: str | None) -> Any:
    if group_by is None:
        return literal("all")
    if group_by == "model":
        return _model_expr()
    if group_by == "language":
        return SpanRow.language
    if group_by in ("service", "provider", "operation"):
        return getattr(SpanRow, "service_name" if group_by == "service" else group_by)
    if group_by.startswith("segment.") and len(group_by) > 8:
        return SpanRow.segment[group_by[8:]].as_string()
    raise ValueError(f"unknown group_by {group_by!r}; use one of {', '.join(GROUPS)} or segment.<label>")


def _summarise(group: Any, g: dict[str, Any]) -> dict[str, Any]:
    lat, ttft = sorted(g["lat"]), sorted(g["ttft"])
    count = len(lat)
    return {
        "group": group,
        "requests": count,
        "errors": g["errors"],
        "error_rate": g["errors"] / count if count else 0.0,
        "latency_ms_p50": percentile(lat, 0.5),
        "latency_ms_p95": percentile(lat, 0.95),
        "latency_ms_p99": percentile(lat, 0.99),
        "ttft_ms_p50": percentile(ttft, 0.5),
        "ttft_ms_p95": percentile(ttft, 0.95),
        "input_tokens": g["in"],
        "output_tokens": g["out"],
        "cost_usd": g["cost"] if g["priced"] else None,
        "priced_requests": g["priced"],
    }


def database_ready(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def server_view(engine: Engine, project_rowid: int, deployment: Deployment, start: datetime, end: datetime,
                now: datetime, retention: Retention) -> dict[str, Any]:
    """One deployment's server and GPU metrics over [start, end), beside its traced requests.

    Gauges sum over the deployment's series (engines, GPUs) except ratios, which are averaged;
    latency percentiles come from the histogram buckets observed in the window; rates divide the
    counters' increase by the window. A figure nothing reported is ``None``, never 0.
    """
    from monitor.gpu_cost import series_matcher

    found = window_aggs(engine, project_rowid, VIEW_METRICS, start, end, now, retention, series_matcher(deployment))
    by_name: dict[str, list[SeriesAgg]] = defaultdict(list)
    for s in found:
        by_name[s.name].append(s)
    window_s = max((end - start).total_seconds(), 1e-9)
    itl = by_name.get(names.ITL) or by_name.get(names.TPOT, [])
    traced = summary(engine, project_rowid, CallFilters(start=start, end=end, model=deployment.model))
    return {
        "deployment": deployment.name, "model": deployment.model, "start": start, "end": end,
        "targets": {s.source: s.agg.last for s in by_name.get(names.SCRAPE_UP, [])},
        "requests_running": _gauge(by_name[names.RUNNING]),
        "requests_waiting": _gauge(by_name[names.WAITING]),
        "kv_cache_usage": _gauge(by_name[names.KV_CACHE], average=True),
        "ttft_s": _percentiles(by_name[names.TTFT]),
        "inter_token_latency_s": _percentiles(itl),
        "e2e_latency_s": _percentiles(by_name[names.E2E]),
        "queue_time_s": _percentiles(by_name[names.QUEUE_TIME]),
        "prompt_tokens_per_s": _rate(by_name[names.PROMPT_TOKENS] or by_name[names.REQUEST_PROMPT_TOKENS], window_s),
        "generation_tokens_per_s": _rate(by_name[names.GENERATION_TOKENS] or by_name[names.REQUEST_GENERATION_TOKENS],
                                         window_s),
        "preemptions": _increase(by_name[names.PREEMPTIONS]),
        "requests_finished": _increase(by_name[names.FINISHED]),
        "requests_failed": _increase(by_name[names.FAILED]),
        "gpu": {
            "count": len(by_name[names.GPU_UTIL]) or None,
            "utilization": _gauge(by_name[names.GPU_UTIL], average=True),
            "memory_used_bytes": _gauge(by_name[names.GPU_MEMORY_USED]),
            "memory_total_bytes": _gauge(by_name[names.GPU_MEMORY_TOTAL]),
            "power_w": _gauge(by_name[names.GPU_POWER]),
            "energy_j": _increase(by_name[names.GPU_ENERGY]),
        },
        "traced": traced[0] if traced else None,
    }


def _gauge(series: list[SeriesAgg], average: bool = False) -> dict[str, float | None]:
    lasts = [s.agg.last for s in series if s.agg.last is not None]
    means = [s.agg.mean for s in series if s.agg.mean is not None]
    maxes = [s.agg.maximum for s in series if s.agg.maximum is not None]
    if not lasts:
        return {"last": None, "mean": None, "max": None}
    combine = (lambda xs: sum(xs) / len(xs)) if average else sum
    return {"last": combine(lasts), "mean": combine(means) if means else None,
            "max": (max(maxes) if average else sum(maxes)) if maxes else None}


def _percentiles(series: list[SeriesAgg]) -> dict[str, float | None]:
    hist = None
    for s in series:
        hist = add_histograms(hist, s.agg.histogram)
    count = hist.total() if hist is not None else 0.0
    return {"p50": quantile(hist, 0.5), "p95": quantile(hist, 0.95), "p99": quantile(hist, 0.99),
            "count": count, "mean": hist.sum / count if hist is not None and hist.sum is not None and count else None}


def _increase(series: list[SeriesAgg]) -> float | None:
    values = [s.agg.increase if s.agg.increase is not None else (s.agg.histogram.sum if s.agg.histogram else None)
              for s in series]
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _rate(series: list[SeriesAgg], window_s: float) -> float | None:
    total = _increase(series)
    return total / window_s if total is not None else None
