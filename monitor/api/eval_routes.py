"""REST API for online evaluation and drift: ``GET /api/v1/evaluations/queue`` and ``GET /api/v1/drift``.

Reads only, through ``evaluators.queue_stats`` and ``evaluators.drift.query`` (the same functions the
dashboard and the worker's log lines use).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from monitor.api.routes import as_utc, reader
from monitor.domain import Principal

router = APIRouter(prefix="/api/v1")


class ParkedItem(BaseModel):
    trace_id: str
    span_id: str
    attempts: int
    error: str | None
    parked_at: datetime | None


class EvaluatorQueue(BaseModel):
    evaluator: str
    depth: int  # pending + claimed: calls waiting for this evaluator
    oldest_unscored_age_s: float | None
    pending: int
    claimed: int
    done: int
    skipped: int  # not in the sample, or filtered out
    parked: int  # failed max_attempts times; see parked_items
    parked_items: list[ParkedItem]


class QueueReport(BaseModel):
    evaluators: list[EvaluatorQueue]


class DriftResult(BaseModel):
    feature: str
    statistic: str
    score: float | None
    threshold: float | None
    drifted: bool
    segment: str
    window_start: datetime
    window_end: datetime
    reference_start: datetime
    reference_end: datetime
    current_count: int
    reference_count: int
    details: dict | None


class DriftReport(BaseModel):
    items: list[DriftResult]


@router.get("/evaluations/queue", response_model=QueueReport)
async def evaluation_queue(request: Request, who: Annotated[Principal, Depends(reader)]) -> QueueReport:
    """Queue depth per online evaluator, age of the oldest unscored call, and the parked calls with their error."""
    from evaluators.queue_stats import queue_stats

    stats = await run_in_threadpool(queue_stats, request.app.state.engine, datetime.now(UTC), who.project.rowid)
    return QueueReport(evaluators=stats)  # type: ignore[arg-type]


@router.get("/drift", response_model=DriftReport)
async def drift_results(
    request: Request,
    who: Annotated[Principal, Depends(reader)],
    start: Annotated[datetime | None, Query(description="windows ending at or after this time")] = None,
    end: Annotated[datetime | None, Query(description="windows ending before this time")] = None,
    feature: str | None = None,
    segment: Annotated[str | None, Query(description="'all', 'model=NAME', 'service=NAME', 'tag=NAME', …")] = None,
    drifted: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> DriftReport:
    """Stored drift test results, newest window first."""
    from evaluators.drift.query import DriftFilters, list_drift_results

    filters = DriftFilters(start=as_utc(start), end=as_utc(end), feature=feature, segment=segment, drifted=drifted)
    items = await run_in_threadpool(list_drift_results, request.app.state.engine, who.project.rowid, filters, limit)
    return DriftReport(items=items)  # type: ignore[arg-type]
