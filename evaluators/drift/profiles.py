"""whylogs profiles of descriptor windows: built per (segment, window), stored, merged for long ranges.

Why whylogs: its sketches (KLL quantiles for numbers, frequent items for strings) are small (tens
of KB per window), and merging two profiles gives the profile of the union, so a 30-day baseline
is the merge of 720 hourly profiles, long after retention dropped the raw calls. To compare a
profile with a window, we draw a representative sample from the sketch (evenly spaced quantiles,
or categories in their estimated proportions) and hand it to the same evidently tests.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import whylogs as why
from whylogs.core import DatasetProfileView

SAMPLE_MAX = 5000  # sample drawn from a sketch; above evidently's 1000-row switch, like the raw data


def build(frame: pd.DataFrame) -> DatasetProfileView:
    """Profile the descriptor columns of one window (one row per call)."""
    return why.log(pandas=frame).profile().view()


def serialize(view: DatasetProfileView) -> bytes:
    return view.serialize()


def deserialize(data: bytes) -> DatasetProfileView:
    return DatasetProfileView.deserialize(data)


def merge(views: Iterable[DatasetProfileView]) -> DatasetProfileView | None:
    """The profile of all the windows together (None for no windows)."""
    merged: DatasetProfileView | None = None
    for view in views:
        merged = view if merged is None else merged.merge(view)
    return merged


def count(view: DatasetProfileView, column: str) -> int:
    """Non-null values logged for ``column`` (0 when the column was never seen)."""
    col = view.get_column(column)
    if col is None:
        return 0
    counts = col.get_metric("counts")
    return int(counts.n.value - counts.null.value) if counts is not None else 0


def numeric_sample(view: DatasetProfileView, column: str) -> np.ndarray | None:
    """Evenly spaced quantiles of the column's KLL sketch: a sample with the profiled distribution."""
    col = view.get_column(column)
    dist = col.get_metric("distribution") if col is not None else None
    n = min(count(view, column), SAMPLE_MAX)
    if dist is None or n == 0 or dist.kll.value.is_empty():
        return None
    ranks = (np.arange(n) + 0.5) / n
    return np.asarray(dist.kll.value.get_quantiles(ranks.tolist()), dtype=float)


def categorical_sample(view: DatasetProfileView, column: str) -> np.ndarray | None:
    """Category labels repeated in their estimated proportions (frequent-items sketch)."""
    col = view.get_column(column)
    items = col.get_metric("frequent_items") if col is not None else None
    if items is None:
        return None
    frequent = items.to_summary_dict().get("frequent_strings", [])
    total = sum(item.est for item in frequent)
    n = min(count(view, column), SAMPLE_MAX)
    if not total or n == 0:
        return None
    labels = [np.repeat(item.value, round(n * item.est / total)) for item in frequent]
    return np.concatenate(labels) if labels else None


def columns(view: DatasetProfileView) -> list[str]:
    return sorted(view.get_columns())
