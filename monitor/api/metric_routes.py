"""REST endpoints for metrics and self-hosted deployments: series, the server view, GPU cost.

Reads only, through ``monitor.query``, ``monitor.store.metric_reads`` and ``monitor.gpu_cost``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

from monitor import query
from monitor.api.metric_schemas import (
    Bucket,
    CostReport,
    DeploymentOut,
    SeriesOut,
    SeriesPage,
    ServerView,
    TargetInfoOut,
)
from monitor.api.routes import as_utc, parse_window, reader
from monitor.config import Deployment, Settings
from monitor.domain import Principal
from monitor.gpu_cost import cost_report
from monitor.store.aggregate import Agg, quantile
from monitor.store.metric_reads import Retention, bucket_seconds, bucketed

router = APIRouter(prefix="/api/v1")
MAX_BUCKETS = 2000


def _range(start: datetime | None, end: datetime | None, window: str | None, default: str) -> tuple[datetime, datetime]:
    """[start, end) from explicit bounds or ``window`` back from ``end`` (default now)."""
    end = as_utc(end) or datetime.now(UTC)
    try:
        begin = as_utc(start) if start is not None else end - parse_window(window or default)
    except OverflowError as exc:
        raise HTTPException(422, "window reaches before year 1") from exc
    assert begin is not None
    if begin >= end:
        raise HTTPException(422, "start must be before end")
    return begin, end


def _deployment(settings: Settings, name: str) -> Deployment:
    found = settings.deployment(name)
    if found is None:
        known = ", ".join(d.name for d in settings.deployments) or "none configured"
        raise HTTPException(404, f"no deployment {name!r} (known: {known})")
    return found


def _retention(settings: Settings) -> Retention:
    return Retention.of(settings.metrics)


@router.get("/deployments", response_model=list[DeploymentOut])
async def list_deployments(request: Request, _who: Annotated[Principal, Depends(reader)]) -> list[DeploymentOut]:
    """Configured self-hosted deployments and the scrape targets that report on them."""
    settings: Settings = request.app.state.settings
    return [DeploymentOut(name=d.name, model=d.model, gpu_type=d.gpu_type, gpu_count=d.gpu_count,
                          usd_per_gpu_hour=d.usd_per_gpu_hour,
                          targets=[TargetInfoOut(name=t.name, url=t.url, kind=t.kind, interval_s=t.interval_s,
                                                 labels=t.labels)
                                   for t in settings.scrape.targets if t.labels.get("deployment") == d.name])
            for d in settings.deployments]


@router.get("/deployments/{name}/view", response_model=ServerView)
async def deployment_view(
    name: str, request: Request, who: Annotated[Principal, Depends(reader)],
    start: datetime | None = None, end: datetime | None = None,
    window: Annotated[str | None, Query(description="e.g. 15m, 1h, 7d (default 15m)")] = None,
) -> ServerView:
    """Requests running and waiting, KV cache, TTFT/ITL percentiles, token rates, preemptions and GPU
    utilisation, memory, power and energy of one deployment, with its traced requests."""
    settings: Settings = request.app.state.settings
    deployment = _deployment(settings, name)
    begin, finish = _range(start, end, window, "15m")
    view = await run_in_threadpool(query.server_view, request.app.state.engine, who.project.rowid, deployment,
                                   begin, finish, datetime.now(UTC), _retention(settings))
    return ServerView(**view)


@router.get("/deployments/{name}/cost", response_model=CostReport)
async def deployment_cost(
    name: str, request: Request, who: Annotated[Principal, Depends(reader)],
    start: datetime | None = None, end: datetime | None = None,
    window: Annotated[str | None, Query(description="e.g. 1h, 24h, 7d (default 24h)")] = None,
    compare_model: Annotated[str | None, Query(description="API model to price the same traffic at")] = None,
    compare_provider: Annotated[str | None, Query(description="genai-prices provider id, e.g. openai")] = None,
) -> CostReport:
    """GPU cost over a period: charged to traced requests (cost per 1M tokens), idle, and an API model's
    list price for the same tokens."""
    deployment = _deployment(request.app.state.settings, name)
    begin, finish = _range(start, end, window, "24h")
    report = await run_in_threadpool(cost_report, request.app.state.engine, who.project.rowid, deployment, begin,
                                     finish, compare_model, compare_provider)
    return CostReport(**report)


@router.get("/metrics/series", response_model=SeriesPage)
async def metric_series(
    request: Request, who: Annotated[Principal, Depends(reader)],
    name: Annotated[str, Query(min_length=1, max_length=200, description="metric name, e.g. hw.gpu.utilization")],
    label: Annotated[list[str] | None, Query(description="key:value, repeatable (all must match)")] = None,
    start: datetime | None = None, end: datetime | None = None,
    window: Annotated[str | None, Query(description="e.g. 1h, 7d (default 1h)")] = None,
) -> SeriesPage:
    """One metric's series over time: 1-minute buckets for recent windows, hourly rollups for long ones."""
    wanted: dict[str, str] = {}
    for item in label or []:
        key, sep, value = item.partition(":")
        if not sep or not key:
            raise HTTPException(422, f"label filter {item!r} must look like key:value")
        wanted[key] = value
    begin, finish = _range(start, end, window, "1h")
    settings: Settings = request.app.state.settings
    retention = _retention(settings)
    now = datetime.now(UTC)
    if (finish - begin).total_seconds() / bucket_seconds(begin, finish) > MAX_BUCKETS:
        raise HTTPException(422, f"window too long: more than {MAX_BUCKETS} buckets")
    resolution, lines = await run_in_threadpool(
        bucketed, request.app.state.engine, who.project.rowid, name, begin, finish, now, retention,
        (lambda labels: all(labels.get(k) == v for k, v in wanted.items())) if wanted else None)
    series = [SeriesOut(name=head.name, kind=head.kind, unit=head.unit, source=head.source, labels=head.labels,
                        buckets=[_bucket(epoch, agg) for epoch, agg in buckets]) for head, buckets in lines]
    return SeriesPage(name=name, start=begin, end=finish, resolution_s=resolution, series=series)


def _bucket(epoch: int, agg: Agg) -> Bucket:
    hist = agg.histogram
    return Bucket(start=datetime.fromtimestamp(epoch, UTC), points=agg.points, mean=agg.mean, min=agg.minimum,
                  max=agg.maximum, last=agg.last, increase=agg.increase, p50=quantile(hist, 0.5),
                  p95=quantile(hist, 0.95), p99=quantile(hist, 0.99))
