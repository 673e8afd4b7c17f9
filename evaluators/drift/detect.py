"""Drift of one project: load both windows, describe, compare per segment, store results and profiles.

The reference is raw calls when the database still has them; otherwise the merged whylogs profiles
of the reference period (``drift_profiles``), so a baseline from months ago needs no raw rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete, select

from evaluators.drift import profiles
from evaluators.drift.compare import DriftOptions, FeatureDrift, ProfileSide, RawSide, compare
from evaluators.drift.descriptors import CATEGORICAL, NUMERICAL, Described, describe, take, with_scores
from evaluators.drift.embeddings import embedding_drift
from evaluators.drift.load import ALL, Window, load_calls, segment_keys
from evaluators.queue import insert_ignore, write_tx
from monitor.store.models import DriftProfileRow, DriftResultRow


@dataclass(frozen=True, slots=True)
class SegmentDrift:
    """The results of one segment, ready to store."""

    segment: str
    results: list[FeatureDrift]


def describe_window(engine: Engine, project_rowid: int, window: Window,
                    dimensions: Sequence[str] = ()) -> tuple[pd.DataFrame, Described]:
    calls = load_calls(engine, project_rowid, window, dimensions=dimensions)
    return calls, with_scores(describe(calls), calls)


def detect(engine: Engine, project_rowid: int, current: Window, reference: Window, dimensions: Sequence[str],
           options: DriftOptions, embedder: Any = None) -> list[SegmentDrift]:
    """Compare ``current`` with ``reference`` for ``all`` and each segment of ``dimensions``."""
    cur_calls, cur_desc = describe_window(engine, project_rowid, current, dimensions)
    ref_calls, ref_desc = describe_window(engine, project_rowid, reference, dimensions)
    out = []
    cur_segments = segment_keys(cur_calls, dimensions)
    ref_segments = segment_keys(ref_calls, dimensions) if len(ref_calls) else {}
    for key, labels in cur_segments.items():
        ref_side = _reference(engine, project_rowid, reference, key, ref_desc, ref_segments.get(key))
        if ref_side is None:
            continue
        results = compare(RawSide(take(cur_desc, labels)), ref_side, options)
        if key == ALL and embedder is not None and isinstance(ref_side, RawSide):
            results += _embeddings(embedder, ref_calls, cur_calls, options)
        out.append(SegmentDrift(key, results))
    return out


def _reference(engine: Engine, project_rowid: int, window: Window, key: str, described: Described,
               labels: pd.Index | None) -> RawSide | ProfileSide | None:
    if labels is not None and len(labels):
        return RawSide(take(described, labels))
    view = load_profile(engine, project_rowid, key, window)
    return ProfileSide(view) if view is not None else None


def _embeddings(embedder: Any, ref: pd.DataFrame, cur: pd.DataFrame, options: DriftOptions) -> list[FeatureDrift]:
    out = []
    for feature, column in (("input_embedding", "input_text"), ("output_embedding", "output_text")):
        found = embedding_drift(embedder, ref[column].tolist(), cur[column].tolist(), options.embedding_sample,
                                options.embedding_method, options.min_samples)
        if found is not None:
            outcome, n_ref, n_cur = found
            out.append(FeatureDrift(feature, outcome, n_cur, n_ref, {"sampled": True}))
    return out


def store_results(engine: Engine, project_rowid: int, current: Window, reference: Window,
                  segments: Sequence[SegmentDrift]) -> int:
    """Write (replace) the results of this current window; returns the rows written."""
    now = datetime.now(UTC)
    rows = [{"project_rowid": project_rowid, "feature": r.feature, "statistic": r.outcome.statistic,
             "score": r.outcome.score if math.isfinite(r.outcome.score) else None,
             "threshold": r.outcome.threshold, "drifted": r.outcome.drifted, "segment": s.segment,
             "window_start": current.start, "window_end": current.end, "reference_start": reference.start,
             "reference_end": reference.end, "current_count": r.current_count, "reference_count": r.reference_count,
             "details": r.details, "created_at": now} for s in segments for r in s.results]
    with write_tx(engine) as conn:
        conn.execute(delete(DriftResultRow).where(DriftResultRow.project_rowid == project_rowid,
                                                  DriftResultRow.window_start == current.start,
                                                  DriftResultRow.window_end == current.end))
        if rows:
            conn.execute(DriftResultRow.__table__.insert(), rows)
    return len(rows)


def store_profiles(engine: Engine, project_rowid: int, window: Window, dimensions: Sequence[str]) -> int:
    """Profile the window per segment and store it (once per segment and window); returns profiles written."""
    calls, described = describe_window(engine, project_rowid, window, dimensions)
    if not len(calls):
        return 0
    columns = [c for c in described.frame.columns if c in NUMERICAL or c in CATEGORICAL or c.startswith("score.")]
    now = datetime.now(UTC)
    rows = []
    for key, labels in segment_keys(calls, dimensions).items():
        frame = described.frame.loc[labels, columns]
        view = profiles.build(frame)
        rows.append({"project_rowid": project_rowid, "segment": key, "window_start": window.start,
                     "window_s": window.seconds, "row_count": len(frame), "profile": profiles.serialize(view),
                     "created_at": now})
    with write_tx(engine) as conn:
        conn.execute(insert_ignore(engine, DriftProfileRow), rows)
    return len(rows)


def load_profile(engine: Engine, project_rowid: int, segment: str, window: Window) -> Any:
    """The merge of the stored profiles of ``segment`` whose windows lie inside ``window`` (None if none)."""
    stmt = select(DriftProfileRow.profile).where(
        DriftProfileRow.project_rowid == project_rowid, DriftProfileRow.segment == segment,
        DriftProfileRow.window_start >= window.start, DriftProfileRow.window_start < window.end)
    with engine.connect() as conn:
        blobs = conn.execute(stmt).scalars().all()
    return profiles.merge(profiles.deserialize(b) for b in blobs)
