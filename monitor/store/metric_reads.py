"""Reading metric series over a window: raw points for recent, short windows; rollups for long ones.

Which table answers depends on the window: raw points when the window is short and still within
raw retention, 1-minute rollups within their retention, 1-hour rollups beyond. Rollups stop at
the last rolled-up minute; the tail after it is read from raw points, so a long window still sees
the last minute. Both paths go through ``aggregate``/``merge``, so they agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from monitor.store.aggregate import Agg, aggregate, merge
from monitor.store.models import MetricPointRow, MetricRollupRow
from monitor.store.rollup import HOUR, MINUTE, agg_from_rollup, floor_to, read_series, rolled_up_until

RAW_MAX_WINDOW = timedelta(hours=6)
LabelMatch = Callable[[dict[str, str]], bool]


@dataclass(frozen=True)
class SeriesAgg:
    """One series (name, source, labels) aggregated over a window or a bucket."""

    name: str
    kind: str
    unit: str | None
    labels: dict[str, str]
    source: str | None
    agg: Agg


@dataclass(frozen=True)
class Retention:
    raw: timedelta
    minute: timedelta

    @classmethod
    def of(cls, metrics: Any) -> Retention:
        """From ``Settings.metrics`` (raw points kept ``raw_retention_h``, minute rollups ``minute_retention_d``)."""
        return cls(timedelta(hours=metrics.raw_retention_h), timedelta(days=metrics.minute_retention_d))


def resolution_for(start: datetime, end: datetime, now: datetime, retention: Retention) -> int:
    """0 (raw points), 60 or 3600: the finest table that covers the window cheaply."""
    if start >= now - retention.raw and end - start <= RAW_MAX_WINDOW:
        return 0
    return MINUTE if start >= now - retention.minute else HOUR


def window_aggs(engine: Engine, project_rowid: int | None, names: Sequence[str], start: datetime, end: datetime,
                now: datetime, retention: Retention, match: LabelMatch | None = None) -> list[SeriesAgg]:
    """Every matching series of ``names`` aggregated over [start, end)."""
    resolution = resolution_for(start, end, now, retention)
    parts: dict[tuple[int, str], list[tuple[Any, Agg]]] = defaultdict(list)
    raw_from = start
    with engine.connect() as conn:
        if resolution:
            until = rolled_up_until(conn)
            if until is not None and until > start:
                raw_from = min(until, end)
                for row in _rollups(conn, project_rowid, names, floor_to(start, resolution), raw_from, resolution):
                    if match is None or match(row.labels):
                        parts[(row.project_rowid, row.series_key)].append((row, agg_from_rollup(row)))
        if raw_from < end:
            where = _raw_filter(project_rowid, names)
            for key, (desc, prev, samples) in read_series(conn, raw_from, end, timedelta(minutes=5), where).items():
                if match is None or match(desc.labels):
                    parts[key].append((desc, aggregate(desc.kind, samples, prev)))
    out = []
    for pieces in parts.values():
        merged = merge(a for _, a in pieces)
        desc = pieces[-1][0]
        if merged is not None:
            out.append(SeriesAgg(desc.name, desc.kind, desc.unit, dict(desc.labels), desc.source, merged))
    return out


def bucket_seconds(start: datetime, end: datetime) -> int:
    """Bucket size of a time line: a minute for windows up to 6 hours, else an hour."""
    return MINUTE if end - start <= RAW_MAX_WINDOW else HOUR


def bucketed(engine: Engine, project_rowid: int | None, name: str, start: datetime, end: datetime,
             now: datetime, retention: Retention, match: LabelMatch | None = None
             ) -> tuple[int, list[tuple[SeriesAgg, list[tuple[int, Agg]]]]]:
    """Each matching series of ``name`` as a line of (bucket start in epoch seconds, Agg).

    Buckets are 1 minute for windows answered from raw points, else the rollup resolution.
    """
    resolution = bucket_seconds(start, end)
    use_rollups = resolution_for(start, end, now, retention) != 0
    lines: dict[tuple[int, str], tuple[Any, dict[int, Agg]]] = {}

    def add(key: tuple[int, str], desc: Any, bucket: int, agg: Agg) -> None:
        buckets = lines.setdefault(key, (desc, {}))[1]
        held = buckets.get(bucket)
        buckets[bucket] = agg if held is None else merge([held, agg])  # type: ignore[assignment]

    raw_from = start
    with engine.connect() as conn:
        if use_rollups:
            until = rolled_up_until(conn)
            if until is not None and until > start:
                raw_from = min(until, end)
                for row in _rollups(conn, project_rowid, [name], floor_to(start, resolution), raw_from, resolution):
                    if match is None or match(row.labels):
                        add((row.project_rowid, row.series_key), row, int(row.bucket_start.timestamp()),
                            agg_from_rollup(row))
        if raw_from < end:
            found = read_series(conn, raw_from, end, timedelta(minutes=5), _raw_filter(project_rowid, [name]))
            for key, (desc, prev, samples) in found.items():
                if match is not None and not match(desc.labels):
                    continue
                groups: dict[int, list[Any]] = defaultdict(list)
                for sample in samples:
                    groups[sample.time_ns // 1_000_000_000 // resolution * resolution].append(sample)
                for bucket in sorted(groups):
                    add(key, desc, bucket, aggregate(desc.kind, groups[bucket], prev))
                    prev = groups[bucket][-1]
    out = []
    for desc, buckets in lines.values():
        ordered = sorted(buckets.items())
        head = SeriesAgg(desc.name, desc.kind, desc.unit, dict(desc.labels), desc.source, ordered[-1][1])
        out.append((head, ordered))
    return resolution, out


def _rollups(conn: Any, project_rowid: int | None, names: Sequence[str], start: datetime, end: datetime,
             resolution: int) -> Any:
    table = MetricRollupRow.__table__
    stmt = select(table).where(table.c.name.in_(list(names)), table.c.resolution_s == resolution,
                               table.c.bucket_start >= start, table.c.bucket_start < end)
    if project_rowid is not None:
        stmt = stmt.where(table.c.project_rowid == project_rowid)
    return conn.execute(stmt.order_by(table.c.project_rowid, table.c.series_key, table.c.bucket_start))


def _raw_filter(project_rowid: int | None, names: Sequence[str]) -> Any:
    cond = MetricPointRow.name.in_(list(names))
    if project_rowid is not None:
        cond = cond & (MetricPointRow.project_rowid == project_rowid)
    return cond
