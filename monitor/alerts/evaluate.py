"""The current value of a rule, per label set, read from the database through ``monitor.query``.

A ``Reading`` whose ``value`` is ``None`` means "no data" (or fewer samples than
``min_samples``): it never breaches, so an alert resolves when its data goes away, except for
absence rules, whose whole point is that the data went away.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, MetaData, Table, case, func, inspect, select

from monitor import query
from monitor.alerts.errors import AlertError
from monitor.alerts.rules import CALL_METRICS, RuleSpec
from monitor.store.aggregate import add_histograms, quantile
from monitor.store.metric_reads import Retention, SeriesAgg, window_aggs
from monitor.store.models import ScoreRow, SpanRow


@dataclass(frozen=True)
class Reading:
    """A rule's value for one label set over its window."""

    labels: dict[str, str]
    value: float | None
    samples: int


def evaluate(engine: Engine, project_rowid: int, spec: RuleSpec, now: datetime, retention: Retention
             ) -> list[Reading]:
    """Every label set the rule sees right now, with its value (``AlertError`` if it cannot be computed)."""
    if spec.kind == "absence":
        return [_absence(engine, project_rowid, spec, now)]
    if spec.kind == "score":
        return [_score(engine, project_rowid, spec, now)]
    if spec.kind == "drift":
        return _drift(engine, project_rowid, spec, now)
    if spec.metric in CALL_METRICS:
        return _call_metric(engine, project_rowid, spec, now)
    return _series_metric(engine, project_rowid, spec, now, retention)


def is_breaching(spec: RuleSpec, reading: Reading) -> bool:
    """Whether this reading is bad: an absence rule breaches at zero traffic, others past the threshold."""
    if reading.value is None:
        return False
    if spec.kind == "absence":
        return reading.value <= 0
    return spec.breaches(reading.value)


def call_filters(spec: RuleSpec, now: datetime) -> query.CallFilters:
    f = spec.filters
    return query.CallFilters(start=now - spec.window, end=now, model=f.model, service=f.service,
                             segment={k: [v] for k, v in f.segment.items()})


def _absence(engine: Engine, project_rowid: int, spec: RuleSpec, now: datetime) -> Reading:
    stmt = query.apply_filters(select(func.count()).select_from(SpanRow), engine, project_rowid,
                               call_filters(spec, now))
    with engine.connect() as conn:
        count = int(conn.execute(stmt).scalar_one())
    return Reading({}, float(count), count)


def _call_metric(engine: Engine, project_rowid: int, spec: RuleSpec, now: datetime) -> list[Reading]:
    """Counts and sums are aggregated in the database; percentiles read just the one column they need."""
    key = query._group_expr(spec.group_by).label("grp")
    filters = call_filters(spec, now)
    if spec.metric in ("latency_ms", "ttft_ms"):
        column = SpanRow.duration_ms if spec.metric == "latency_ms" else SpanRow.ttft_ms
        values: dict[Any, list[float]] = defaultdict(list)
        with engine.connect() as conn:
            for grp, value in conn.execute(query.apply_filters(select(key, column), engine, project_rowid, filters)
                                           ).all():
                values[grp].append(value)
        found = {grp: (len(vs), _stat(sorted(v for v in vs if v is not None), spec.aggregate or "p95",
                                      spec.min_samples)) for grp, vs in values.items()}
    else:
        stmt = query.apply_filters(
            select(key, func.count(), func.sum(case((query._error_expr(), 1), else_=0)),
                   func.sum(func.coalesce(SpanRow.input_tokens, 0) + func.coalesce(SpanRow.output_tokens, 0)),
                   func.sum(SpanRow.cost_usd)), engine, project_rowid, filters).group_by(key)
        with engine.connect() as conn:
            found = {row[0]: (int(row[1]), _count_value(spec, *row[1:])) for row in conn.execute(stmt).all()}
    if spec.group_by is None and not found:
        found["all"] = (0, _count_value(spec, 0, 0, 0, 0.0) if spec.metric not in ("latency_ms", "ttft_ms") else None)
    return [Reading({spec.group_by: str(grp or "")} if spec.group_by else {}, value, n)
            for grp, (n, value) in found.items()]


def _count_value(spec: RuleSpec, count: int, errors: int | None, tokens: int | None, cost: float | None
                 ) -> float | None:
    minutes = spec.window.total_seconds() / 60.0
    m = spec.metric
    if m == "requests":
        return float(count)
    if m == "request_rate":
        return count / minutes
    if m == "tokens_per_minute":
        return (tokens or 0) / minutes
    if m == "cost_per_hour":
        return (cost or 0.0) / (minutes / 60.0)
    if count < max(spec.min_samples, 1):  # error_rate
        return None
    return (errors or 0) / count


def _stat(values: list[float], aggregate: str, min_samples: int) -> float | None:
    """p50/p95/p99/mean/max/min of sorted values, ``None`` under ``min_samples``."""
    if len(values) < max(min_samples, 1):
        return None
    if aggregate.startswith("p"):
        return query.percentile(values, int(aggregate[1:]) / 100.0)
    return {"mean": sum(values) / len(values), "max": values[-1], "min": values[0]}[aggregate]


def _score(engine: Engine, project_rowid: int, spec: RuleSpec, now: datetime) -> Reading:
    stmt = select(ScoreRow.value).where(ScoreRow.project_rowid == project_rowid, ScoreRow.name == spec.metric,
                                        ScoreRow.created_at >= now - spec.window, ScoreRow.created_at < now,
                                        ScoreRow.value.is_not(None))
    f = spec.filters
    if f.model or f.service or f.segment:
        stmt = query.apply_filters(stmt.join(SpanRow, SpanRow.id == ScoreRow.span_rowid), engine, project_rowid,
                                   query.CallFilters(model=f.model, service=f.service,
                                                     segment={k: [v] for k, v in f.segment.items()}))
    with engine.connect() as conn:
        values = sorted(float(v) for v in conn.execute(stmt).scalars())
    agg, cut = spec.aggregate or "mean", spec.score_threshold
    if len(values) < max(spec.min_samples, 1):
        return Reading({}, None, len(values))
    if agg == "share_above":
        return Reading({}, sum(v > cut for v in values) / len(values), len(values))  # type: ignore[operator]
    if agg == "share_below":
        return Reading({}, sum(v < cut for v in values) / len(values), len(values))  # type: ignore[operator]
    return Reading({}, _stat(values, agg, spec.min_samples), len(values))


def _series_metric(engine: Engine, project_rowid: int, spec: RuleSpec, now: datetime, retention: Retention
                   ) -> list[Reading]:
    wanted = spec.filters.labels

    def match(labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in wanted.items())

    found = window_aggs(engine, project_rowid, [spec.metric], now - spec.window, now, now, retention, match)
    groups: dict[tuple[tuple[str, str], ...], list[SeriesAgg]] = defaultdict(list)
    for s in found:
        labels = {spec.group_by: s.labels.get(spec.group_by, "")} if spec.group_by else _series_labels(s)
        groups[tuple(sorted(labels.items()))].append(s)
    window_s = spec.window.total_seconds()
    return [Reading(dict(key), _series_value(series, spec.aggregate or "mean", window_s),
                    sum(s.agg.points for s in series)) for key, series in groups.items()]


def _series_labels(s: SeriesAgg) -> dict[str, str]:
    return {**s.labels, **({"source": s.source} if s.source else {})}


def _series_value(series: Iterable[SeriesAgg], aggregate: str, window_s: float) -> float | None:
    """One number from one or more series: gauges averaged/maxed, counters summed, histograms merged."""
    aggs = [s.agg for s in series]
    if aggregate in ("rate", "increase"):
        known = [a.increase if a.increase is not None else (a.histogram.sum if a.histogram else None) for a in aggs]
        total = sum(v for v in known if v is not None) if any(v is not None for v in known) else None
        return None if total is None else (total / window_s if aggregate == "rate" else total)
    if aggregate.startswith("p"):
        hist = None
        for a in aggs:
            hist = add_histograms(hist, a.histogram)
        return quantile(hist, int(aggregate[1:]) / 100.0) if hist is not None else None
    pick = {"mean": lambda a: a.mean, "max": lambda a: a.maximum, "min": lambda a: a.minimum, "last": lambda a: a.last}
    values = [v for v in (pick[aggregate](a) for a in aggs) if v is not None]
    if not values:
        return None
    return {"max": max, "min": min}.get(aggregate, lambda xs: sum(xs) / len(xs))(values)


def _drift(engine: Engine, project_rowid: int, spec: RuleSpec, now: datetime) -> list[Reading]:
    """The latest drift result per (feature, segment) whose window ended within the rule's window.

    ``aggregate`` ``drifted`` (default) reads 1.0 when the test flagged drift, else 0.0;
    ``score`` reads the statistic's value. ``metric`` limits the rule to one feature,
    ``filters.segment`` ({"segment": "model=gpt-4o"}) to one segment.
    """
    if not inspect(engine).has_table("drift_results"):
        raise AlertError("drift rules need the drift_results table, which is not available yet "
                         "(run `llm-monitor migrate` after upgrading to a version with drift detection)")
    t = Table("drift_results", MetaData(), autoload_with=engine).c
    stmt = (select(t.feature, t.segment, t.statistic, t.score, t.drifted, t.current_count)
            .where(t.project_rowid == project_rowid, t.window_end > now - spec.window, t.window_end <= now)
            .order_by(t.window_end, t.id))
    if spec.metric:
        stmt = stmt.where(t.feature == spec.metric)
    if "segment" in spec.filters.segment:
        stmt = stmt.where(t.segment == spec.filters.segment["segment"])
    latest: dict[tuple[str, str, str], Any] = {}
    with engine.connect() as conn:
        for row in conn.execute(stmt):
            latest[(row.feature, row.segment, row.statistic)] = row
    out = []
    for (feature, segment, statistic), row in sorted(latest.items()):
        enough = row.current_count >= spec.min_samples
        value = (1.0 if row.drifted else 0.0) if spec.aggregate != "score" else row.score
        out.append(Reading({"feature": feature, "segment": segment, "statistic": statistic},
                           float(value) if enough and value is not None else None, int(row.current_count)))
    return out
