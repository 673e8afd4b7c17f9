"""The cost of self-hosted serving: GPU hours shared out among the requests that used them.

A deployment costs ``gpu_count × usd_per_gpu_hour`` whether it is busy or not. Over every
stretch of time, that cost is split evenly among the requests the server was running then: a
request alone on the GPU for 10 s pays 10 s of GPU time; two requests side by side pay half each.
How many requests were running comes from the scraped gauge (``inference.requests.running``,
which also sees traffic that is not traced) and from the traced requests of the deployment's
model that overlap; the larger of the two is used, since each can undercount (the gauge is
sampled, traces may be partial). GPU time that no traced request was charged is the idle (or
untraced) cost, reported separately, never spread onto requests.

Requests are priced by the worker once they have been finished for ``gpu_cost_settle_s``, so
that the requests overlapping them have arrived; the cost is stored on the call with source
``gpu_time``. At ingest, calls to a deployment's model are left unpriced for this job (they would
otherwise get an API list price, which is not what a self-hosted request costs).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import Engine, bindparam, func, or_, select, update

from collectors.prometheus.names import RUNNING
from monitor.config import Deployment, ModelPrice
from monitor.cost import CostCalculator
from monitor.domain import LLMCall
from monitor.store.call_rollup import mark_dirty
from monitor.store.models import MetricPointRow, SpanRow
from monitor.store.rollup import to_ns

log = logging.getLogger(__name__)
SOURCE_GPU_TIME = "gpu_time"
MODEL_LABELS = ("model_name", "model", "gen_ai.request.model", "gen_ai.response.model")


class DeploymentAwareCost(CostCalculator):
    """Prices calls as ``CostCalculator`` does, except calls to a deployment's model (GPU time prices those)."""

    def __init__(self, prices: Mapping[str, ModelPrice] | None, deployments: Iterable[Deployment]) -> None:
        super().__init__(prices)
        self._self_hosted = frozenset(d.model for d in deployments)

    def apply(self, call: LLMCall) -> None:
        if call.response_model in self._self_hosted or call.request_model in self._self_hosted:
            return
        super().apply(call)


def series_matcher(deployment: Deployment) -> Any:
    """Which metric series describe a deployment: labelled with its name, or (unlabelled) with its model."""
    def match(labels: Mapping[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in deployment.labels.items()):
            return False
        named = labels.get("deployment")
        if named is not None:
            return named == deployment.name
        return any(labels.get(k) == deployment.model for k in MODEL_LABELS)
    return match


@dataclass(frozen=True, slots=True)
class Request:
    key: Any
    start_ns: int
    end_ns: int


def attribute(requests: Sequence[Request], usd_per_second: float,
              running: Sequence[Sequence[tuple[int, float]]] = (), stale_ns: int = 30 * 10**9) -> dict[Any, float]:
    """Each request's share of GPU cost: ∫ rate / concurrency dt over its lifetime.

    ``running`` holds the scraped running-requests gauge, one time-sorted list of (time, value)
    per series; a sample holds until the next one or until it is ``stale_ns`` old. Concurrency at
    any moment is max(gauge total, overlapping requests, 1).
    """
    if not requests:
        return {}
    cuts = {t for r in requests for t in (r.start_ns, r.end_ns)}
    for series in running:
        for i, (t, _) in enumerate(series):
            cuts.add(t)
            nxt = series[i + 1][0] if i + 1 < len(series) else None
            if nxt is None or nxt - t > stale_ns:
                cuts.add(t + stale_ns)
    lo, hi = min(r.start_ns for r in requests), max(r.end_ns for r in requests)
    times = sorted(t for t in cuts if lo <= t <= hi)
    cost = dict.fromkeys((r.key for r in requests), 0.0)
    by_start = sorted(requests, key=lambda r: r.start_ns)
    active: list[Request] = []
    nxt_req = 0
    pointers = [0] * len(running)
    for t0, t1 in pairwise(times):
        while nxt_req < len(by_start) and by_start[nxt_req].start_ns <= t0:
            active.append(by_start[nxt_req])
            nxt_req += 1
        active = [r for r in active if r.end_ns > t0]
        if not active:
            continue
        gauge = _gauge_at(running, pointers, t0, stale_ns)
        share = usd_per_second * (t1 - t0) / 1e9 / max(len(active), gauge, 1.0)
        for r in active:
            cost[r.key] += share
    return cost


def _gauge_at(running: Sequence[Sequence[tuple[int, float]]], pointers: list[int], t: int, stale_ns: int) -> float:
    total = 0.0
    for i, series in enumerate(running):
        while pointers[i] + 1 < len(series) and series[pointers[i] + 1][0] <= t:
            pointers[i] += 1
        if series and series[pointers[i]][0] <= t < series[pointers[i]][0] + stale_ns:
            total += series[pointers[i]][1]
    return total


def _model_filter(model: str) -> Any:
    """The calls of a model, as ``monitor.query`` filters them (response or request model)."""
    return or_(SpanRow.response_model == model, SpanRow.request_model == model)


def _outermost() -> Any:
    from monitor.query import outermost_calls

    return outermost_calls()


def attribute_gpu_costs(engine: Engine, deployments: Iterable[Deployment], now: datetime, settle_s: float = 120.0,
                        batch: int = 5000, stale_s: float = 30.0) -> int:
    """Price the finished, not yet priced calls of every deployment; returns how many were priced."""
    priced = 0
    for deployment in deployments:
        priced += _attribute_deployment(engine, deployment, now - timedelta(seconds=settle_s), batch, stale_s)
    return priced


def _attribute_deployment(engine: Engine, deployment: Deployment, settled: datetime, batch: int,
                          stale_s: float) -> int:
    base = (SpanRow.is_llm.is_(True), _outermost(), _model_filter(deployment.model))
    with engine.connect() as conn:
        todo = conn.execute(
            select(SpanRow.id, SpanRow.start_time, SpanRow.end_time, SpanRow.project_rowid)
            .where(*base, SpanRow.cost_source.is_(None), SpanRow.end_time < settled)
            .order_by(SpanRow.start_time).limit(batch)).all()
        if not todo:
            return 0
        lo, hi = min(r.start_time for r in todo), max(r.end_time for r in todo)
        context = conn.execute(select(SpanRow.id, SpanRow.start_time, SpanRow.end_time)
                               .where(*base, SpanRow.start_time < hi, SpanRow.end_time > lo)).all()
        stale = timedelta(seconds=stale_s)
        gauges = conn.execute(select(MetricPointRow.series_key, MetricPointRow.time, MetricPointRow.value,
                                     MetricPointRow.labels)
                              .where(MetricPointRow.name == RUNNING, MetricPointRow.time >= lo - stale,
                                     MetricPointRow.time < hi)
                              .order_by(MetricPointRow.series_key, MetricPointRow.time)).all()
    rows = {r.id: r for r in (*todo, *context)}
    requests = [Request(r.id, to_ns(r.start_time), to_ns(r.end_time)) for r in rows.values()]
    costs = attribute(requests, deployment.usd_per_second, _running_series(gauges, deployment), int(stale_s * 1e9))
    wanted = {r.id for r in todo}
    updates = [{"rid": rid, "cost": round(cost, 10)} for rid, cost in costs.items() if rid in wanted]
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        conn.execute(update(SpanRow).where(SpanRow.id == bindparam("rid"))
                     .values(cost_usd=bindparam("cost"), cost_source=SOURCE_GPU_TIME), updates)
        # the hours these calls started in may be rolled up already: have the call rollups redone
        started = {r.id: (r.project_rowid, r.start_time) for r in todo}
        mark_dirty(conn, (started[u["rid"]] for u in updates))
    log.info("priced %d calls of deployment %s by GPU time", len(updates), deployment.name)
    return len(updates)


def _running_series(rows: Sequence[Any], deployment: Deployment) -> list[list[tuple[int, float]]]:
    match = series_matcher(deployment)
    series: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        if row.value is not None and match(row.labels):
            series.setdefault(row.series_key, []).append((to_ns(row.time), float(row.value)))
    return list(series.values())


def unpriced_count(engine: Engine, deployment: Deployment) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(SpanRow).where(
            SpanRow.is_llm.is_(True), _model_filter(deployment.model), SpanRow.cost_source.is_(None))) or 0)


def cost_report(engine: Engine, project_rowid: int, deployment: Deployment, start: datetime, end: datetime,
                compare_model: str | None = None, compare_provider: str | None = None) -> dict[str, Any]:
    """GPU cost of a deployment over [start, end): what this project's traced requests were charged,
    what other projects were, the idle rest, cost per 1M tokens, and an API model's list price for the same
    traffic."""
    from monitor.cost import catalog_cost

    period_s = max((end - start).total_seconds(), 0.0)
    gpu_cost = deployment.usd_per_second * period_s
    stmt = select(SpanRow.project_rowid, SpanRow.input_tokens, SpanRow.output_tokens, SpanRow.cost_usd,
                  SpanRow.cost_source).where(SpanRow.is_llm.is_(True), _outermost(), _model_filter(deployment.model),
                                             SpanRow.start_time >= start, SpanRow.start_time < end)
    mine = {"requests": 0, "input_tokens": 0, "output_tokens": 0, "attributed_usd": 0.0, "unpriced": 0}
    others_usd, others_tokens, api_usd, api_known = 0.0, 0, 0.0, True
    with engine.connect() as conn:
        for project, tin, tout, cost, source in conn.execute(stmt):
            gpu = cost if source == SOURCE_GPU_TIME and cost is not None else None
            if project != project_rowid:
                others_usd += gpu or 0.0
                others_tokens += (tin or 0) + (tout or 0)
                continue
            mine["requests"] += 1
            mine["input_tokens"] += tin or 0
            mine["output_tokens"] += tout or 0
            mine["attributed_usd"] += gpu or 0.0
            mine["unpriced"] += gpu is None
            if compare_model:
                price = catalog_cost(compare_model, compare_provider, tin or 0, tout or 0)
                api_known = api_known and price is not None
                api_usd += price or 0.0
    tokens = mine["input_tokens"] + mine["output_tokens"]
    idle = max(gpu_cost - mine["attributed_usd"] - others_usd, 0.0)
    report: dict[str, Any] = {
        "deployment": deployment.name, "model": deployment.model, "gpu_type": deployment.gpu_type,
        "gpu_count": deployment.gpu_count, "usd_per_gpu_hour": deployment.usd_per_gpu_hour,
        "start": start, "end": end, "gpu_hours": deployment.gpu_count * period_s / 3600.0, "gpu_cost_usd": gpu_cost,
        **mine, "other_projects_usd": others_usd, "idle_usd": idle,
        "cost_per_1m_tokens": mine["attributed_usd"] / tokens * 1e6 if tokens else None,
        "cost_per_1m_output_tokens": (mine["attributed_usd"] / mine["output_tokens"] * 1e6
                                      if mine["output_tokens"] else None),
        "all_in_cost_per_1m_tokens": gpu_cost / (tokens + others_tokens) * 1e6 if tokens + others_tokens else None,
        "api_comparison": None,
    }
    if compare_model:
        report["api_comparison"] = {
            "model": compare_model, "provider": compare_provider, "known": api_known,
            "usd": api_usd if api_known else None,
            "cost_per_1m_tokens": api_usd / tokens * 1e6 if api_known and tokens else None,
        }
    return report
