"""Response models of the metrics, deployments, server-view and GPU-cost endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from monitor.api.schemas import SummaryGroup


class GaugeStat(BaseModel):
    last: float | None
    mean: float | None
    max: float | None


class Percentiles(BaseModel):
    p50: float | None
    p95: float | None
    p99: float | None
    count: float
    mean: float | None


class GpuView(BaseModel):
    count: int | None
    utilization: GaugeStat
    memory_used_bytes: GaugeStat
    memory_total_bytes: GaugeStat
    power_w: GaugeStat
    energy_j: float | None


class ServerView(BaseModel):
    """What the inference server and its GPUs reported over the window, beside the traced requests."""

    deployment: str
    model: str
    start: datetime
    end: datetime
    targets: dict[str, float | None]
    requests_running: GaugeStat
    requests_waiting: GaugeStat
    kv_cache_usage: GaugeStat
    ttft_s: Percentiles
    inter_token_latency_s: Percentiles
    e2e_latency_s: Percentiles
    queue_time_s: Percentiles
    prompt_tokens_per_s: float | None
    generation_tokens_per_s: float | None
    preemptions: float | None
    requests_finished: float | None
    requests_failed: float | None
    gpu: GpuView
    traced: SummaryGroup | None


class TargetInfoOut(BaseModel):
    name: str
    url: str
    kind: str
    interval_s: float
    labels: dict[str, str]


class DeploymentOut(BaseModel):
    name: str
    model: str
    gpu_type: str | None
    gpu_count: int
    usd_per_gpu_hour: float
    targets: list[TargetInfoOut]


class ApiComparison(BaseModel):
    model: str
    provider: str | None
    known: bool
    usd: float | None
    cost_per_1m_tokens: float | None


class CostReport(BaseModel):
    """GPU cost over a period: charged to this project's traced requests, to other projects, and idle."""

    deployment: str
    model: str
    gpu_type: str | None
    gpu_count: int
    usd_per_gpu_hour: float
    start: datetime
    end: datetime
    gpu_hours: float
    gpu_cost_usd: float
    requests: int
    input_tokens: int
    output_tokens: int
    attributed_usd: float
    unpriced: int
    other_projects_usd: float
    idle_usd: float
    cost_per_1m_tokens: float | None
    cost_per_1m_output_tokens: float | None
    all_in_cost_per_1m_tokens: float | None
    api_comparison: ApiComparison | None


class Bucket(BaseModel):
    start: datetime
    points: int
    mean: float | None
    min: float | None
    max: float | None
    last: float | None
    increase: float | None
    p50: float | None
    p95: float | None
    p99: float | None


class SeriesOut(BaseModel):
    name: str
    kind: str
    unit: str | None
    source: str | None
    labels: dict[str, str]
    buckets: list[Bucket]


class SeriesPage(BaseModel):
    name: str
    start: datetime
    end: datetime
    resolution_s: int
    series: list[SeriesOut]
