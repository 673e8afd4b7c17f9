"""Drift statistics by name, computed by evidently: ``test(reference, current, kind, statistic) -> Outcome``.

Why evidently: its tests (K-S, PSI, Wasserstein, chi-squared, Jensen-Shannon, z) and embedding methods
are maintained, documented and widely compared; re-implementing them would make our numbers
incomparable. ``statistic="auto"`` applies evidently's own default rule (K-S or chi-squared/z for
small references, normed Wasserstein or Jensen-Shannon above 1000 rows, where p-values flag tiny,
harmless differences). Unknown names raise an error listing the valid ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from evidently.legacy.calculations.stattests import get_stattest
from evidently.legacy.core import ColumnType
from evidently.legacy.metrics.data_drift import embedding_drift_methods as methods

from evaluators.errors import UnknownNameError

Kind = Literal["numerical", "categorical"]
STATISTICS = ("auto", "ks", "psi", "wasserstein", "chisquare", "jensenshannon", "z", "kl_div", "hellinger",
              "anderson", "cramer_von_mises", "ed", "es", "mannw", "t_test", "TVD", "g_test", "fisher_exact")
EMBEDDING_METHODS = {"model": methods.model, "distance": methods.distance, "mmd": methods.mmd, "ratio": methods.ratio}


@dataclass(frozen=True, slots=True)
class Outcome:
    """One test's verdict: evidently's statistic name, its score, the threshold used and whether it drifted."""

    statistic: str
    score: float
    threshold: float
    drifted: bool


def test(reference: pd.Series | np.ndarray, current: pd.Series | np.ndarray, kind: Kind,
         statistic: str = "auto", threshold: float | None = None) -> Outcome:
    """Compare two samples of one feature with the named evidently test (NaNs dropped)."""
    if statistic not in STATISTICS:
        raise UnknownNameError("drift statistic", statistic, STATISTICS)
    ref, cur = pd.Series(reference).dropna(), pd.Series(current).dropna()
    if kind == "categorical":
        ref, cur = ref.astype(str), cur.astype(str)
    column_type = ColumnType.Numerical if kind == "numerical" else ColumnType.Categorical
    stattest = get_stattest(ref, cur, column_type, None if statistic == "auto" else statistic)
    with np.errstate(divide="ignore", invalid="ignore"):  # a category absent on one side: inf is the right answer
        result = stattest(ref, cur, column_type, threshold)
    score = float(result.drift_score)
    return Outcome(stattest.name, score if math.isfinite(score) else float("nan"), float(result.actual_threshold),
                   bool(result.drifted))


def embedding_test(reference: np.ndarray, current: np.ndarray, method: str = "model",
                   threshold: float | None = None) -> Outcome:
    """Embedding drift with evidently's method (``model``: ROC AUC of a classifier telling the windows apart)."""
    try:
        factory = EMBEDDING_METHODS[method]
    except KeyError:
        raise UnknownNameError("embedding drift method", method, EMBEDDING_METHODS) from None
    drift = factory() if threshold is None else factory(threshold=threshold)
    score, drifted, name = drift(pd.DataFrame(current), pd.DataFrame(reference))
    return Outcome(f"embedding_{name}", float(score), float(drift.threshold), bool(drifted))
