"""Compare the descriptors of a current window with a reference, feature by feature (pure: no database).

The reference is either raw calls (``RawSide``: every feature, including the new-vocabulary rate)
or a merged whylogs profile (``ProfileSide``: lengths, tokens, language, rates and scores, for
references whose raw calls are gone). New vocabulary is measured fairly: the reference is split in
two halves by call id; half A gives the vocabulary, and the reference's own rate is that of half B
against A, so a window like the reference gets the same rate and only new words raise it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from whylogs.core import DatasetProfileView

from evaluators.drift import profiles
from evaluators.drift.descriptors import CATEGORICAL, NUMERICAL, RATES, Described, oov_rates
from evaluators.drift.stats import Kind, Outcome, test


@dataclass(frozen=True, slots=True)
class DriftOptions:
    """Which evidently test per kind of feature ("auto": evidently's default rule) and when not to test."""

    statistics: Mapping[str, str] = field(default_factory=lambda: {"numerical": "auto", "categorical": "auto"})
    thresholds: Mapping[str, float] = field(default_factory=dict)  # by statistic name, e.g. {"psi": 0.2}
    min_samples: int = 30
    embedding_method: str = "model"
    embedding_sample: int = 5000


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """One feature's verdict for one segment (a ``drift_results`` row without the windows)."""

    feature: str
    outcome: Outcome
    current_count: int
    reference_count: int
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RawSide:
    """Descriptors of raw calls (a window, or a raw reference)."""

    described: Described

    def __len__(self) -> int:
        return len(self.described.frame)


@dataclass(frozen=True, slots=True)
class ProfileSide:
    """A (merged) whylogs profile standing in for a reference whose raw calls are not needed."""

    view: DatasetProfileView

    def __len__(self) -> int:
        return profiles.count(self.view, "input_chars")


def compare(current: RawSide, reference: RawSide | ProfileSide, options: DriftOptions) -> list[FeatureDrift]:
    """Every feature both sides have, tested with the configured evidently statistic."""
    out: list[FeatureDrift] = []
    cur = current.described.frame
    for column in _features(cur, reference):
        kind: Kind = "categorical" if column in CATEGORICAL else "numerical"
        ref_values = _reference_values(reference, column, kind)
        cur_values = cur[column].dropna()
        result = _test(column, kind, ref_values, cur_values, options)
        if result is not None:
            out.append(result)
    if isinstance(reference, RawSide):
        out.extend(_vocabulary_drift(current, reference, options))
    return out


def _features(current: pd.DataFrame, reference: RawSide | ProfileSide) -> list[str]:
    names = [*NUMERICAL, *CATEGORICAL]
    names += sorted(c for c in current.columns if c.startswith("score."))
    if isinstance(reference, RawSide):
        return [n for n in names if n in reference.described.frame.columns]
    return [n for n in names if reference.view.get_column(n) is not None]


def _reference_values(reference: RawSide | ProfileSide, column: str, kind: Kind) -> np.ndarray | pd.Series | None:
    if isinstance(reference, RawSide):
        return reference.described.frame[column].dropna()
    if column in RATES or kind == "numerical":
        sample = profiles.numeric_sample(reference.view, column)
        return sample.round().astype(int) if sample is not None and column in RATES else sample
    return profiles.categorical_sample(reference.view, column)


def _test(feature: str, kind: Kind, ref: Any, cur: pd.Series, options: DriftOptions) -> FeatureDrift | None:
    if ref is None or len(ref) < options.min_samples or len(cur) < options.min_samples:
        return None
    ref = pd.Series(ref)
    if kind == "categorical":
        ref, cur = ref.astype(str), cur.astype(str)
    if ref.nunique() <= 1 and cur.nunique() <= 1 and (ref.empty or cur.empty or ref.iloc[0] == cur.iloc[0]):
        outcome = Outcome("constant", 0.0, 0.0, False)  # both windows hold one identical value: nothing to test
    else:
        statistic = options.statistics.get(kind, "auto")
        outcome = test(ref, cur, kind, statistic, options.thresholds.get(statistic))
    return FeatureDrift(feature, outcome, len(cur), len(ref), _summary(kind, ref, cur))


def _summary(kind: Kind, ref: pd.Series, cur: pd.Series) -> dict[str, Any]:
    """What a person needs to read the verdict: means, or the top category shares."""
    if kind == "numerical":
        return {"reference_mean": _num(ref.astype(float).mean()), "current_mean": _num(cur.astype(float).mean()),
                "reference_p50": _num(ref.astype(float).median()), "current_p50": _num(cur.astype(float).median())}
    return {"reference_shares": _shares(ref), "current_shares": _shares(cur)}


def _shares(values: pd.Series, top: int = 8) -> dict[str, float]:
    return {str(k): round(float(v), 4) for k, v in values.value_counts(normalize=True).head(top).items()}


def _num(value: float) -> float | None:
    return None if pd.isna(value) else round(float(value), 4)


def _vocabulary_drift(current: RawSide, reference: RawSide, options: DriftOptions) -> list[FeatureDrift]:
    """New-word rate of inputs and outputs: reference half B against half A, current against half A."""
    half_a = _half(reference.described.frame.index.to_numpy())
    out = []
    for feature, attr in (("input_oov_rate", "input_words"), ("output_oov_rate", "output_words")):
        ref_words, cur_words = getattr(reference.described, attr), getattr(current.described, attr)
        known = {t for words, in_a in zip(ref_words, half_a, strict=True) if in_a for t in words}
        if not known:
            continue
        ref_rates = oov_rates([w for w, in_a in zip(ref_words, half_a, strict=True) if not in_a], known)
        cur_rates = oov_rates(cur_words, known)
        result = _test(feature, "numerical", pd.Series(ref_rates).dropna(), pd.Series(cur_rates).dropna(), options)
        if result is not None:
            result.details["vocabulary_size"] = len(known)
            out.append(result)
    return out


def _half(ids: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random half of the calls, by a Fibonacci hash of their id (no pattern of the ids leaks in)."""
    with np.errstate(over="ignore"):
        mixed = ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return (mixed >> np.uint64(63)) == 0
