"""How well an evaluator agrees with people: precision, recall, F1 and Cohen's kappa, with intervals.

Pure Python on (human value, evaluator value) pairs, both on the evaluator's scale (1 = relevant,
toxic, hallucinated…). A pair counts as positive for people when the human value is ≥ 0.5 and for
the evaluator when its value is ≥ the decision threshold. Intervals are 95 %: Wilson for the two
proportions (precision, recall; honest at small counts, unlike the normal approximation), a seeded
percentile bootstrap for F1 and kappa (no simple closed form that holds at small n). Counts are
always reported, because an F1 of 0.9 on 12 labels means little.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054
BOOTSTRAP_ROUNDS = 1000
BOOTSTRAP_MAX_PAIRS = 5000  # bootstrap a seeded subsample above this: the interval barely narrows further


@dataclass(frozen=True)
class Confusion:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


@dataclass(frozen=True)
class Agreement:
    """Agreement of one evaluator with human labels at one threshold."""

    n: int
    threshold: float
    confusion: Confusion
    precision: float | None
    recall: float | None
    f1: float | None
    kappa: float | None
    accuracy: float | None
    precision_ci: tuple[float, float] | None
    recall_ci: tuple[float, float] | None
    f1_ci: tuple[float, float] | None
    kappa_ci: tuple[float, float] | None


def confusion(pairs: Sequence[tuple[float, float]], threshold: float = 0.5) -> Confusion:
    tp = fp = fn = tn = 0
    for human, machine in pairs:
        truth, said = human >= 0.5, machine >= threshold
        if truth and said:
            tp += 1
        elif said:
            fp += 1
        elif truth:
            fn += 1
        else:
            tn += 1
    return Confusion(tp, fp, fn, tn)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def f1_score(c: Confusion) -> float | None:
    den = 2 * c.tp + c.fp + c.fn
    return 2 * c.tp / den if den else None


def cohen_kappa(c: Confusion) -> float | None:
    """(observed − chance agreement) / (1 − chance); None when every label is the same class on both sides."""
    n = c.n
    if not n:
        return None
    observed = (c.tp + c.tn) / n
    chance = ((c.tp + c.fp) * (c.tp + c.fn) + (c.fn + c.tn) * (c.fp + c.tn)) / (n * n)
    if chance >= 1.0:
        return None
    return (observed - chance) / (1.0 - chance)


def wilson_interval(successes: int, total: int, z: float = Z95) -> tuple[float, float] | None:
    if total <= 0:
        return None
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _bootstrap(pairs: Sequence[tuple[float, float]], threshold: float, seed: int
               ) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    rng = random.Random(seed)
    sample = list(pairs)
    if len(sample) > BOOTSTRAP_MAX_PAIRS:
        sample = rng.sample(sample, BOOTSTRAP_MAX_PAIRS)
    n = len(sample)
    f1s: list[float] = []
    kappas: list[float] = []
    for _ in range(BOOTSTRAP_ROUNDS):
        c = confusion([sample[rng.randrange(n)] for _ in range(n)], threshold)
        if (f := f1_score(c)) is not None:
            f1s.append(f)
        if (k := cohen_kappa(c)) is not None:
            kappas.append(k)
    return _percentiles(f1s), _percentiles(kappas)


def _percentiles(values: list[float]) -> tuple[float, float] | None:
    if len(values) < BOOTSTRAP_ROUNDS // 2:  # undefined in most resamples: no honest interval
        return None
    values.sort()
    return values[int(0.025 * (len(values) - 1))], values[math.ceil(0.975 * (len(values) - 1))]


def agreement(pairs: Sequence[tuple[float, float]], threshold: float = 0.5, seed: int = 0,
              intervals: bool = True) -> Agreement:
    """Agreement statistics for (human, evaluator) pairs at ``threshold``."""
    c = confusion(pairs, threshold)
    f1_ci = kappa_ci = None
    if intervals and c.n >= 2:
        f1_ci, kappa_ci = _bootstrap(pairs, threshold, seed)
    return Agreement(
        n=c.n, threshold=threshold, confusion=c,
        precision=_ratio(c.tp, c.tp + c.fp), recall=_ratio(c.tp, c.tp + c.fn), f1=f1_score(c),
        kappa=cohen_kappa(c), accuracy=_ratio(c.tp + c.tn, c.n),
        precision_ci=wilson_interval(c.tp, c.tp + c.fp) if intervals else None,
        recall_ci=wilson_interval(c.tp, c.tp + c.fn) if intervals else None,
        f1_ci=f1_ci, kappa_ci=kappa_ci,
    )


def suggest_threshold(pairs: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """The decision threshold with the best F1 against the human labels, and that F1.

    Candidates are the evaluator values seen (a threshold between two of them changes nothing);
    among equal F1s the one nearest 0.5 wins, so a flat stretch does not push it to an extreme.
    """
    if not pairs or not any(h >= 0.5 for h, _ in pairs):
        return None
    best: tuple[float, float, float] | None = None  # (f1, -distance to 0.5, threshold)
    for threshold in sorted({m for _, m in pairs}):
        f1 = f1_score(confusion(pairs, threshold)) or 0.0
        key = (round(f1, 12), -abs(threshold - 0.5), threshold)
        if best is None or key > best:
            best = key
    assert best is not None
    return best[2], best[0]
