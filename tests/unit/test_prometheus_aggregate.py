"""Increases with counter resets, histogram deltas and percentiles: the arithmetic the rollups and views share."""

from __future__ import annotations

import pytest

from monitor.store.aggregate import Sample, aggregate, merge, quantile
from monitor.store.points import COUNTER, DELTA, GAUGE, HISTOGRAM, HISTOGRAM_DELTA, Histogram

S = 10**9


def test_counter_increase_across_a_restart() -> None:
    # 100 -> 150 (+50), restart -> 20 (+20), -> 70 (+50): 120 in all
    samples = [Sample(1 * S, 150.0, 0), Sample(2 * S, 20.0, 0), Sample(3 * S, 70.0, 0)]
    agg = aggregate(COUNTER, samples, prev=Sample(0, 100.0, 0))
    assert agg.increase == 120.0 and agg.last == 70.0 and agg.points == 3


def test_restart_seen_by_start_time_even_when_the_counter_grew_past_its_old_value() -> None:
    agg = aggregate(COUNTER, [Sample(2 * S, 300.0, start_ns=int(1.5 * S))], prev=Sample(1 * S, 200.0, start_ns=0))
    assert agg.increase == 300.0  # not 100: the process restarted at 1.5 s and counted 300 since


def test_first_point_without_history_adds_nothing() -> None:
    assert aggregate(COUNTER, [Sample(1 * S, 500.0)]).increase == 0.0


def test_gauge_statistics_and_delta_sums() -> None:
    g = aggregate(GAUGE, [Sample(1, 2.0), Sample(2, 6.0), Sample(3, None), Sample(4, 4.0)])
    assert (g.points, g.total, g.minimum, g.maximum, g.last, g.mean) == (3, 12.0, 2.0, 6.0, 4.0, 4.0)
    d = aggregate(DELTA, [Sample(1, 3.0), Sample(2, 4.0)])
    assert d.increase == 7.0


def h(counts: tuple[float, ...], total: float, bounds: tuple[float, ...] = (0.1, 1.0)) -> Histogram:
    return Histogram(bounds, counts, total, float(sum(counts)))


def test_histogram_increase_with_reset_and_layout_change() -> None:
    prev = Sample(0, None, 0, h((1, 1, 0), 0.6))
    samples = [Sample(1 * S, None, 0, h((2, 3, 0), 1.9)),    # +1, +2
               Sample(2 * S, None, 0, h((0, 1, 1), 5.5))]    # restart: counts from zero
    agg = aggregate(HISTOGRAM, samples, prev)
    assert agg.histogram.counts == (1, 3, 1) and agg.histogram.count == 5
    assert agg.histogram.sum == pytest.approx(1.3 + 5.5)
    changed = aggregate(HISTOGRAM, [Sample(1 * S, None, 0, h((1, 1), 0.5, bounds=(1.0,)))], prev)
    assert changed.histogram.bounds == (1.0,) and changed.histogram.counts == (1, 1)


def test_delta_histograms_add_up() -> None:
    agg = aggregate(HISTOGRAM_DELTA, [Sample(1, None, None, h((1, 0, 0), 0.05)), Sample(2, None, None,
                                                                                       h((0, 2, 1), 3.0))])
    assert agg.histogram.counts == (1, 2, 1) and agg.histogram.sum == pytest.approx(3.05)


def test_merge_of_consecutive_intervals_equals_one_interval() -> None:
    samples = [Sample(i * S, float(v), 0) for i, v in enumerate([10, 15, 3, 9, 30, 31])]
    whole = aggregate(COUNTER, samples[1:], samples[0])
    parts = [aggregate(COUNTER, samples[1:3], samples[0]), aggregate(COUNTER, samples[3:], samples[2])]
    assert merge(parts).increase == whole.increase == 5 + 3 + 6 + 21 + 1
    gauges = [aggregate(GAUGE, samples[:2]), aggregate(GAUGE, samples[2:])]
    merged = merge(gauges)
    assert (merged.minimum, merged.maximum, merged.last, merged.points) == (3.0, 31.0, 31.0, 6)


def test_quantiles_interpolate_like_histogram_quantile() -> None:
    hist = Histogram((0.1, 0.2, 0.4), (0.0, 10.0, 10.0, 0.0), None, 20.0)
    assert quantile(hist, 0.5) == pytest.approx(0.2)
    assert quantile(hist, 0.25) == pytest.approx(0.15)
    assert quantile(hist, 0.95) == pytest.approx(0.2 + 0.2 * 9 / 10)
    overflow = Histogram((1.0,), (1.0, 9.0), None, 10.0)
    assert quantile(overflow, 0.99) == 1.0  # in +Inf: the highest finite bound
    assert quantile(Histogram((1.0,), (0.0, 0.0)), 0.5) is None
    assert quantile(None, 0.5) is None
