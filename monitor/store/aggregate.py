"""Pure aggregation of metric points over an interval, shared by the rollups and the reads.

One function, ``aggregate``, turns the raw points of one series in an interval (plus the last
point before it, so the first increase is not lost) into an ``Agg``; ``merge`` combines the
``Agg`` of adjacent intervals. A rollup bucket and a query window are the same computation, so
a long range read from 1-minute rollups gives what the raw points would have given.

Cumulative series (counters, cumulative histograms) are differenced with reset detection, as
Prometheus' ``increase()`` does: a value that goes down, or a new start time, means the source
restarted and counts from zero again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

from monitor.store.points import COUNTER, DELTA, GAUGE, HISTOGRAM, HISTOGRAM_DELTA, Histogram


@dataclass(frozen=True, slots=True)
class Sample:
    """The stored form of a point, as far as aggregation cares."""

    time_ns: int
    value: float | None
    start_ns: int | None = None
    histogram: Histogram | None = None


@dataclass(frozen=True, slots=True)
class Agg:
    """A series over an interval: gauge statistics, a counter's increase, or a histogram's buckets."""

    kind: str
    points: int = 0
    total: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    last: float | None = None
    last_ns: int | None = None
    increase: float | None = None
    histogram: Histogram | None = None

    @property
    def mean(self) -> float | None:
        return self.total / self.points if self.total is not None and self.points else None


def counter_increase(prev: Sample, cur: Sample) -> float:
    """How much a cumulative counter grew from ``prev`` to ``cur``, counting a restart as from zero."""
    if cur.value is None or prev.value is None:
        return 0.0
    restarted = cur.start_ns is not None and prev.start_ns is not None and cur.start_ns != prev.start_ns
    if restarted or cur.value < prev.value:
        return cur.value
    return cur.value - prev.value


def histogram_increase(prev: Sample, cur: Sample) -> Histogram | None:
    """Bucket counts observed between two cumulative histogram points (restart-aware)."""
    a, b = prev.histogram, cur.histogram
    if b is None:
        return None
    restarted = cur.start_ns is not None and prev.start_ns is not None and cur.start_ns != prev.start_ns
    if a is None or restarted or a.bounds != b.bounds or any(y < x for x, y in zip(a.counts, b.counts, strict=True)):
        return b
    total_sum = b.sum - a.sum if a.sum is not None and b.sum is not None else None
    return Histogram(b.bounds, tuple(y - x for x, y in zip(a.counts, b.counts, strict=True)), total_sum,
                     b.total() - a.total())


def add_histograms(a: Histogram | None, b: Histogram | None) -> Histogram | None:
    """Sum two interval histograms; with different bucket layouts, the one with more observations wins."""
    if a is None or b is None:
        return a or b
    if a.bounds != b.bounds:
        return a if a.total() >= b.total() else b
    total_sum = (a.sum or 0.0) + (b.sum or 0.0) if a.sum is not None or b.sum is not None else None
    return Histogram(a.bounds, tuple(x + y for x, y in zip(a.counts, b.counts, strict=True)), total_sum,
                     a.total() + b.total())


def aggregate(kind: str, samples: Sequence[Sample], prev: Sample | None = None) -> Agg:
    """The ``Agg`` of one series over an interval; ``samples`` in time order, ``prev`` just before."""
    values = [s.value for s in samples if s.value is not None and math.isfinite(s.value)]
    counted = len(samples) if kind in (HISTOGRAM, HISTOGRAM_DELTA) else len(values)  # NaN is no reading
    agg = Agg(kind=kind, points=counted, last=values[-1] if values else None,
              last_ns=samples[-1].time_ns if samples else None)
    if kind == GAUGE:
        if not values:
            return agg
        return replace(agg, total=math.fsum(values), minimum=min(values), maximum=max(values))
    if kind == DELTA:
        return replace(agg, total=math.fsum(values), increase=math.fsum(values))
    if kind == COUNTER:
        chain = [prev, *samples] if prev is not None else list(samples)
        return replace(agg, increase=math.fsum(counter_increase(x, y) for x, y in pairwise(chain)))
    if kind == HISTOGRAM:
        chain = [prev, *samples] if prev is not None else list(samples)
        hist: Histogram | None = None
        for x, y in pairwise(chain):
            hist = add_histograms(hist, histogram_increase(x, y))
        return replace(agg, histogram=hist)
    if kind == HISTOGRAM_DELTA:
        hist = None
        for s in samples:
            hist = add_histograms(hist, s.histogram)
        return replace(agg, histogram=hist)
    raise ValueError(f"unknown metric kind {kind!r}")


def merge(aggs: Iterable[Agg]) -> Agg | None:
    """Combine the ``Agg`` of consecutive intervals (in time order) of one series."""
    result: Agg | None = None
    for a in aggs:
        result = a if result is None else _merge2(result, a)
    return result


def _merge2(a: Agg, b: Agg) -> Agg:
    later, earlier = (b, a) if (b.last_ns or 0) >= (a.last_ns or 0) else (a, b)
    return Agg(
        kind=a.kind, points=a.points + b.points, total=_add(a.total, b.total),
        minimum=_pick(min, a.minimum, b.minimum), maximum=_pick(max, a.maximum, b.maximum),
        last=later.last if later.last is not None else earlier.last,
        last_ns=later.last_ns, increase=_add(a.increase, b.increase),
        histogram=add_histograms(a.histogram, b.histogram),
    )


def _add(x: float | None, y: float | None) -> float | None:
    return None if x is None and y is None else (x or 0.0) + (y or 0.0)


def _pick(fn: object, x: float | None, y: float | None) -> float | None:
    if x is None or y is None:
        return x if y is None else y
    return fn(x, y)  # type: ignore[operator]


def quantile(hist: Histogram | None, q: float) -> float | None:
    """Estimate the q-quantile from bucket counts, interpolating linearly inside the bucket.

    Same estimate as Prometheus' ``histogram_quantile``: the first bucket's lower edge is 0 (or
    its upper edge when that is negative), and a rank in the +Inf bucket answers the highest finite
    bound. ``None`` when nothing was observed.
    """
    if hist is None or not hist.bounds:
        return None
    total = float(sum(hist.counts))
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for i, count in enumerate(hist.counts):
        if count > 0 and seen + count >= rank:
            if i == len(hist.bounds):
                return hist.bounds[-1]
            upper = hist.bounds[i]
            lower = hist.bounds[i - 1] if i > 0 else min(0.0, upper)
            return lower + (upper - lower) * max(rank - seen, 0.0) / count
        seen += count
    return hist.bounds[-1]
