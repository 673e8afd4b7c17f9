"""REST API ``/api/v1``: reads only, through ``monitor.query``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

from monitor import query
from monitor.api.schemas import CallPage, Summary, Trace
from monitor.domain import Principal


def reader(request: Request) -> Principal:
    """Authenticates a read request (raises AuthError, mapped to 401 by the app)."""
    return request.app.state.auth.principal(request.headers.get("authorization"), "read")


def _filters(
    start: Annotated[datetime | None, Query(description="inclusive lower bound of start time (ISO 8601)")] = None,
    end: Annotated[datetime | None, Query(description="exclusive upper bound of start time (ISO 8601)")] = None,
    service: str | None = None,
    model: Annotated[str | None, Query(description="matches the response or the request model")] = None,
    user: str | None = None,
    session: str | None = None,
    tag: str | None = None,
    segment: Annotated[list[str] | None,
                       Query(description="label:value, repeatable; values of one label are ORed")] = None,
    has_error: bool | None = None,
) -> query.CallFilters:
    labels: dict[str, list[str]] = {}
    for item in segment or []:
        label, sep, value = item.partition(":")
        if not sep or not label:
            raise HTTPException(422, f"segment filter {item!r} must look like label:value")
        labels.setdefault(label, []).append(value)
    return query.CallFilters(start=as_utc(start), end=as_utc(end), service=service, model=model, user=user,
                             session=session, tag=tag, segment=labels, has_error=has_error)


def as_utc(value: datetime | None) -> datetime | None:
    """Query datetimes without a zone are taken as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


router = APIRouter(prefix="/api/v1")


@router.get("/traces/{trace_id}", response_model=Trace)
async def get_trace(trace_id: str, request: Request, who: Annotated[Principal, Depends(reader)]) -> Trace:
    """A trace with its span tree (every span, LLM or not)."""
    if len(trace_id) != 32 or any(c not in "0123456789abcdefABCDEF" for c in trace_id):
        raise HTTPException(422, "trace_id must be 32 hex digits")
    roots = await run_in_threadpool(query.get_trace, request.app.state.engine, who.project.rowid, trace_id)
    if not roots:
        raise HTTPException(404, f"trace {trace_id} not found")
    return Trace(trace_id=trace_id.lower(), span_count=_count(roots), roots=roots)  # type: ignore[arg-type]


def _count(nodes: list[dict]) -> int:
    return sum(1 + _count(n["children"]) for n in nodes)


@router.get("/calls", response_model=CallPage)
async def list_calls(
    request: Request,
    who: Annotated[Principal, Depends(reader)],
    filters: Annotated[query.CallFilters, Depends(_filters)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> CallPage:
    """LLM calls, newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    try:
        if cursor:
            query.decode_cursor(cursor)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(422, "invalid cursor") from exc
    items, nxt = await run_in_threadpool(query.list_calls, request.app.state.engine, who.project.rowid, filters,
                                         limit, cursor)
    return CallPage(items=items, next_cursor=nxt)  # type: ignore[arg-type]


@router.get("/metrics/summary", response_model=Summary)
async def metrics_summary(
    request: Request,
    who: Annotated[Principal, Depends(reader)],
    filters: Annotated[query.CallFilters, Depends(_filters)],
    group_by: Annotated[str | None, Query(
        description="model, service, provider, operation, language (of the input) or segment.<label>")] = None,
    window: Annotated[str | None, Query(description="shorthand for start = now - window, e.g. 15m, 1h, 7d")]
    = None,
) -> Summary:
    """Requests, error rate, latency p50/p95/p99, TTFT p50/p95, tokens and cost over a window."""
    if window:
        filters.start = datetime.now(UTC) - parse_window(window)
    try:
        query._group_expr(group_by)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    groups = await run_in_threadpool(query.summary, request.app.state.engine, who.project.rowid, filters,
                                     group_by)
    return Summary(start=filters.start, end=filters.end, group_by=group_by, groups=groups)  # type: ignore[arg-type]


def parse_window(value: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = value[:-1], value[-1:]
    if unit not in units or not number.isdigit() or len(number) > 9:
        raise HTTPException(422, f"window {value!r} must look like 30s, 15m, 1h or 7d")
    return timedelta(seconds=int(number) * units[unit])
