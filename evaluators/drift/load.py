"""Read the calls (and their scores) of a time window, and split them into segments.

Segments are keys such as ``all``, ``model=gpt-4o``, ``service=support-bot``, ``tag=beta`` and
``segment.region=eu``; a call belongs to ``all`` and to one key per configured dimension (a call
with two tags belongs to both tag segments).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, func, literal, or_, select

from monitor.query import CallFilters, apply_filters
from monitor.store.models import ScoreRow, SpanRow

CALL_COLUMNS = ("rowid", "start_time", "model", "service", "tags", "segment", "is_error", "input_tokens",
                "output_tokens", "input_text", "output_text", "language")
ALL = "all"


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


def load_calls(engine: Engine, project_rowid: int, window: Window, with_scores: bool = True,
               dimensions: Sequence[str] = ("tag", "segment.")) -> pd.DataFrame:
    """The window's outermost LLM calls (one row each), plus a ``score.<name>`` column per score name.

    ``tags`` and ``segment`` (JSON, the slow part of reading 100k rows) are read only when a dimension needs them.
    """
    tags = SpanRow.tags if "tag" in dimensions else literal(None)
    segment = SpanRow.segment if any(d.startswith("segment.") for d in dimensions) else literal(None)
    stmt = select(SpanRow.id, SpanRow.start_time, func.coalesce(SpanRow.response_model, SpanRow.request_model),
                  SpanRow.service_name, tags, segment,
                  or_(SpanRow.status_code == 2, SpanRow.error_type.is_not(None)), SpanRow.input_tokens,
                  SpanRow.output_tokens, SpanRow.input_text, SpanRow.output_text, SpanRow.language)
    stmt = apply_filters(stmt, engine, project_rowid, CallFilters(start=window.start, end=window.end))
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(SpanRow.id)).all()
    calls = pd.DataFrame.from_records(rows, columns=list(CALL_COLUMNS)).set_index("rowid", drop=False)
    calls["is_error"] = calls["is_error"].fillna(False).astype(bool)
    if with_scores and len(calls):
        calls = calls.join(load_scores(engine, project_rowid, window))
    return calls


def load_scores(engine: Engine, project_rowid: int, window: Window) -> pd.DataFrame:
    """Score values of the window's calls, one ``score.<name>`` column per name (the latest score wins)."""
    stmt = (select(ScoreRow.span_rowid, ScoreRow.name, ScoreRow.value)
            .join(SpanRow, SpanRow.id == ScoreRow.span_rowid)
            .where(SpanRow.project_rowid == project_rowid, SpanRow.start_time >= window.start,
                   SpanRow.start_time < window.end, ScoreRow.value.is_not(None))
            .order_by(ScoreRow.id))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame.from_records(rows, columns=["rowid", "name", "value"])
    wide = frame.pivot_table(index="rowid", columns="name", values="value", aggfunc="last")
    wide.columns = [f"score.{name}" for name in wide.columns]
    return wide


def segment_keys(calls: pd.DataFrame, dimensions: Sequence[str], top: int = 20) -> dict[str, pd.Index]:
    """Row labels of each segment: ``all`` plus the ``top`` most frequent values of each dimension."""
    out: dict[str, pd.Index] = {ALL: calls.index}
    for dim in dimensions:
        values = _dimension(calls, dim)
        for value, _ in values.value_counts().head(top).items():
            labels = values.index[values == value].unique()
            if len(labels) < len(calls.index):  # a segment holding every call would repeat "all"
                out[f"{dim}={value}"] = labels
    return out


def _dimension(calls: pd.DataFrame, dim: str) -> pd.Series:
    if dim in ("model", "service"):
        return calls[dim].dropna().astype(str)
    if dim == "tag":
        return calls["tags"].dropna().explode().dropna().astype(str)
    if dim.startswith("segment."):
        label = dim.removeprefix("segment.")
        return calls["segment"].map(lambda s: (s or {}).get(label)).dropna().astype(str)
    raise ValueError(f"unknown drift segment dimension {dim!r}; use model, service, tag or segment.<label>")
