"""Reads of stored drift results, for the REST API and the dashboard (no SQL outside this module)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from monitor.store.models import DriftResultRow as R

FIELDS = ("feature", "statistic", "score", "threshold", "drifted", "segment", "window_start", "window_end",
          "reference_start", "reference_end", "current_count", "reference_count", "details")


@dataclass
class DriftFilters:
    start: datetime | None = None  # windows ending at or after
    end: datetime | None = None  # windows ending before
    feature: str | None = None
    segment: str | None = None
    drifted: bool | None = None


def list_drift_results(engine: Engine, project_rowid: int, filters: DriftFilters | None = None,
                       limit: int = 500) -> list[dict[str, Any]]:
    """Drift results, newest window first, then segment and feature."""
    f = filters or DriftFilters()
    stmt = select(*(getattr(R, name) for name in FIELDS)).where(R.project_rowid == project_rowid)
    if f.start:
        stmt = stmt.where(R.window_end >= f.start)
    if f.end:
        stmt = stmt.where(R.window_end < f.end)
    if f.feature:
        stmt = stmt.where(R.feature == f.feature)
    if f.segment:
        stmt = stmt.where(R.segment == f.segment)
    if f.drifted is not None:
        stmt = stmt.where(R.drifted.is_(f.drifted))
    stmt = stmt.order_by(R.window_end.desc(), R.segment, R.feature).limit(limit)
    with engine.connect() as conn:
        return [dict(zip(FIELDS, row, strict=True)) for row in conn.execute(stmt)]


def latest_drift(engine: Engine, project_rowid: int) -> list[dict[str, Any]]:
    """The results of the most recent window only (the dashboard's overview)."""
    with engine.connect() as conn:
        newest = conn.execute(select(R.window_end).where(R.project_rowid == project_rowid)
                              .order_by(R.window_end.desc()).limit(1)).scalar()
    if newest is None:
        return []
    return list_drift_results(engine, project_rowid, DriftFilters(start=newest), limit=5000)
