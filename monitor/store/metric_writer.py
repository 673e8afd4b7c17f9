"""Writes metric points: one transaction per batch, one point per (series, time).

A retried OTLP export or a scrape repeated by a second worker replica lands on the unique
(project, series_key, time) index and is ignored, so points are never doubled. Counters are
stored cumulative (see ``monitor.store.points``), so no increment depends on writer memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine

from monitor.store.engine import is_sqlite, write_lock
from monitor.store.points import MetricPoint, labels_json, series_key

COLUMNS = ("project_rowid", "name", "kind", "unit", "time", "value", "labels", "source", "histogram",
           "series_key", "start_time")
_COLS = ", ".join(COLUMNS)
_SQLITE = f"INSERT OR IGNORE INTO metric_points ({_COLS}) VALUES ({', '.join('?' * len(COLUMNS))})"
_PG = (f"INSERT INTO metric_points ({_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s::jsonb, %s, %s) "
       "ON CONFLICT DO NOTHING")
_MAX_NS = 253402300799 * 10**9  # 9999-12-31


def ns_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=(ns // 1000) % 1_000_000)


def sqlite_text(ns: int) -> str:
    """The naive-UTC text SQLAlchemy's SQLite DateTime reads back."""
    return ns_datetime(ns).isoformat(" ", "microseconds")[:26]


def valid_time(ns: int | None) -> bool:
    return ns is not None and 0 < ns < _MAX_NS


class MetricWriter:
    """Stores ``MetricPoint`` batches for a project (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = is_sqlite(engine)
        self._keys: dict[tuple[str, str | None, str], str] = {}

    def write_points(self, project_rowid: int, points: Iterable[MetricPoint]) -> int:
        """Commit the points in one transaction; returns how many rows were offered."""
        rows = [self._row(project_rowid, p) for p in points]
        if not rows:
            return 0
        with write_lock(self.engine), self.engine.connect().execution_options(write=True) as conn, conn.begin():
            conn.exec_driver_sql(_SQLITE if self._sqlite else _PG, rows)  # errors arrive as SQLAlchemy's
        return len(rows)

    def _row(self, project_rowid: int, p: MetricPoint) -> tuple[Any, ...]:
        labels = labels_json(p.labels)
        key = self._series_key(p.name, p.source, labels)
        hist = orjson.dumps(p.histogram.to_json()).decode() if p.histogram is not None else None
        value = p.value if p.value is None or math.isfinite(p.value) else None
        start = p.start_ns if valid_time(p.start_ns) else None
        if self._sqlite:
            return (project_rowid, p.name, p.kind, p.unit, sqlite_text(p.time_ns), value, labels, p.source, hist,
                    key, sqlite_text(start) if start is not None else None)
        return (project_rowid, p.name, p.kind, p.unit, ns_datetime(p.time_ns), value, labels, p.source, hist, key,
                ns_datetime(start) if start is not None else None)

    def _series_key(self, name: str, source: str | None, labels: str) -> str:
        cache_key = (name, source, labels)
        key = self._keys.get(cache_key)
        if key is None:
            if len(self._keys) > 200_000:  # bounded: a label explosion must not grow memory forever
                self._keys.clear()
            key = self._keys[cache_key] = series_key(name, source, labels)
        return key
