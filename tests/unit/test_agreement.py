"""Agreement statistics against a hand-computed example."""

from __future__ import annotations

import pytest

from monitor.agreement import agreement, cohen_kappa, confusion, suggest_threshold, wilson_interval

# people: 5 positive, 5 negative; the evaluator finds 3 of the 5 and raises 1 false alarm
PAIRS = [
    (1.0, 0.9), (1.0, 0.8), (1.0, 0.6),  # tp
    (0.0, 0.7),  # fp
    (1.0, 0.2), (1.0, 0.4),  # fn
    (0.0, 0.1), (0.0, 0.3), (0.0, 0.0), (0.0, 0.45),  # tn
]


def test_hand_computed_precision_recall_f1_kappa() -> None:
    a = agreement(PAIRS, threshold=0.5)
    c = a.confusion
    assert (c.tp, c.fp, c.fn, c.tn, a.n) == (3, 1, 2, 4, 10)
    assert a.precision == pytest.approx(3 / 4)
    assert a.recall == pytest.approx(3 / 5)
    assert a.f1 == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))  # 0.667
    assert a.accuracy == pytest.approx(0.7)
    # observed 0.7; chance (4/10 * 5/10) + (6/10 * 5/10) = 0.5; kappa (0.7 - 0.5) / (1 - 0.5)
    assert a.kappa == pytest.approx(0.4)


def test_wilson_interval_matches_the_published_value_for_3_of_4() -> None:
    low, high = wilson_interval(3, 4)
    assert (low, high) == pytest.approx((0.3006, 0.9544), abs=5e-4)
    assert agreement(PAIRS).precision_ci == pytest.approx((low, high))
    assert wilson_interval(0, 0) is None


def test_bootstrap_intervals_are_seeded_and_bracket_the_estimate() -> None:
    a, b = agreement(PAIRS, seed=1), agreement(PAIRS, seed=1)
    assert a.f1_ci == b.f1_ci and a.kappa_ci == b.kappa_ci
    assert a.f1_ci is not None and a.f1_ci[0] <= a.f1 <= a.f1_ci[1]
    assert a.kappa_ci is not None and -1.0 <= a.kappa_ci[0] <= a.kappa <= a.kappa_ci[1] <= 1.0
    wide = agreement(PAIRS)
    narrow = agreement(PAIRS * 20)  # the same proportions, 20 times the labels
    assert narrow.kappa == pytest.approx(wide.kappa)
    assert (narrow.kappa_ci[1] - narrow.kappa_ci[0]) < (wide.kappa_ci[1] - wide.kappa_ci[0]) / 2


def test_threshold_moves_the_confusion() -> None:
    c = confusion(PAIRS, threshold=0.35)
    assert (c.tp, c.fp, c.fn, c.tn) == (4, 2, 1, 3)


def test_suggested_threshold_maximises_f1() -> None:
    pairs = [(1, 0.9), (1, 0.7), (1, 0.4), (0, 0.6), (0, 0.3), (0, 0.1)]
    # F1 by threshold: 0.1 → .667, 0.3 → .75, 0.4 → .857, 0.6 → .667, 0.7 → .8, 0.9 → .5
    threshold, f1 = suggest_threshold(pairs)
    assert threshold == 0.4 and f1 == pytest.approx(6 / 7)
    assert suggest_threshold([(0, 0.2), (0, 0.8)]) is None  # no positive label: nothing to suggest


def test_degenerate_labels_have_no_kappa() -> None:
    assert cohen_kappa(confusion([(1, 0.9), (1, 0.8)])) is None  # everyone agrees everything is positive
    empty = agreement([])
    assert empty.n == 0 and empty.f1 is None and empty.kappa is None and empty.f1_ci is None
