"""Worker jobs over metric points: 1-minute and 1-hour rollups, and retention.

Rollups are recomputed, not appended: each run rebuilds the minutes from ``grace_s`` before the
last rolled-up minute up to the current minute, so points that arrive a little late (an OTLP
exporter's 60 s interval, a slow scrape) are counted, and two worker replicas running the same job
write the same rows. Hours are rebuilt from their minutes. Raw points are deleted only once they
are older than the raw retention *and* already rolled up, so a stopped worker never loses data.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, DateTime, Engine, String, Text, cast, delete, func, insert, select, type_coerce

from monitor.store.aggregate import Agg, Sample, aggregate, merge
from monitor.store.models import MetricPointRow, MetricRollupRow
from monitor.store.partitions import expire
from monitor.store.points import CUMULATIVE_KINDS, Histogram

log = logging.getLogger(__name__)
MINUTE, HOUR = 60, 3600
_CHUNK = timedelta(hours=1)


@dataclass(frozen=True)
class RollupStats:
    minutes: int = 0
    hours: int = 0
    start: datetime | None = None
    end: datetime | None = None


def to_ns(value: datetime) -> int:
    return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000


def floor_to(value: datetime, seconds: int) -> datetime:
    epoch = int(value.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(epoch, UTC)


def roll_up(engine: Engine, now: datetime, grace_s: float = 60.0, raw_retention: timedelta | None = None,
            lookback: timedelta = timedelta(minutes=5)) -> RollupStats:
    """Bring the 1-minute and 1-hour rollups up to the last complete minute before ``now``."""
    end = floor_to(now, MINUTE)
    with engine.connect() as conn:
        start = _start(conn, end, grace_s, raw_retention)
    if start is None or start >= end:
        return RollupStats()
    minutes = hours = 0
    chunk_start = start
    while chunk_start < end:
        chunk_end = min(chunk_start + _CHUNK, end)
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            minutes += _roll_minutes(conn, chunk_start, chunk_end, lookback)
        chunk_start = chunk_end
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        hours = _roll_hours(conn, floor_to(start, HOUR), end)
    return RollupStats(minutes, hours, start, end)


def rolled_up_until(conn: Connection) -> datetime | None:
    """The end of the last rolled-up minute (``None`` before the first rollup)."""
    last = conn.scalar(select(func.max(MetricRollupRow.bucket_start)).where(MetricRollupRow.resolution_s == MINUTE))
    return _aware(last) + timedelta(seconds=MINUTE) if last is not None else None


def _start(conn: Connection, end: datetime, grace_s: float, raw_retention: timedelta | None) -> datetime | None:
    done = rolled_up_until(conn)
    if done is not None:  # from the watermark, however old: ``prune`` keeps raw points until they are rolled up
        return floor_to(done - timedelta(seconds=grace_s), MINUTE)
    first = conn.scalar(select(func.min(MetricPointRow.time)))
    if first is None:
        return None
    start = floor_to(_aware(first), MINUTE)
    if raw_retention is not None:  # a first run does not walk back to a stray point from long ago
        start = max(start, floor_to(end - raw_retention, MINUTE))
    return start


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite aggregates come back as text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass(frozen=True, slots=True)
class SeriesDesc:
    """What identifies a series apart from its key: read once per series, not once per point."""

    name: str
    kind: str
    unit: str | None
    labels: dict[str, str]
    source: str | None


def _columns(conn: Connection) -> tuple[Any, ...]:
    """Point columns as cheap raw values: JSON as text (parsed once per series, or with orjson), and on
    SQLite times as text (``fromisoformat`` is far cheaper than SQLAlchemy's per-row DateTime processing)."""
    sqlite = conn.dialect.name == "sqlite"
    t = MetricPointRow

    def when(col: Any, label: str) -> Any:
        return (cast(col, String) if sqlite else type_coerce(col, DateTime(timezone=True))).label(label)

    return (t.project_rowid, t.series_key, t.name, t.kind, t.unit, cast(t.labels, Text).label("labels"), t.source,
            when(t.time, "time"), t.value, when(t.start_time, "start_time"),
            cast(t.histogram, Text).label("histogram"))


def read_series(conn: Connection, start: datetime, end: datetime, lookback: timedelta,
                where: Any = None) -> dict[tuple[int, str], tuple[SeriesDesc, Sample | None, list[Sample]]]:
    """Raw points in [start, end) per series, with each cumulative series' last point before ``start``.

    Returns (project_rowid, series_key) -> (the series, its previous sample, its samples in time order).
    """
    cols = _columns(conn)
    stmt = select(*cols).where(MetricPointRow.time >= start, MetricPointRow.time < end)
    if where is not None:
        stmt = stmt.where(where)
    out: dict[tuple[int, str], tuple[SeriesDesc, Sample | None, list[Sample]]] = {}
    for row in conn.execute(stmt.order_by(MetricPointRow.project_rowid, MetricPointRow.series_key,
                                          MetricPointRow.time)):
        key = (row.project_rowid, row.series_key)
        held = out.get(key)
        if held is None:
            held = out[key] = (_desc(row), None, [])
        held[2].append(_sample(row))
    for row in _previous(conn, cols, start, lookback, where):
        key = (row.project_rowid, row.series_key)
        if key in out:
            out[key] = (out[key][0], _sample(row), out[key][2])
    return out


def _previous(conn: Connection, cols: tuple[Any, ...], start: datetime, lookback: timedelta,
              where: Any) -> list[Any]:
    """The last point before ``start`` of every cumulative series (window function: both databases)."""
    ranked = select(*cols, func.row_number().over(
        partition_by=(MetricPointRow.project_rowid, MetricPointRow.series_key),
        order_by=MetricPointRow.time.desc()).label("rn")).where(
        MetricPointRow.time >= start - lookback, MetricPointRow.time < start,
        MetricPointRow.kind.in_(sorted(CUMULATIVE_KINDS)))
    if where is not None:
        ranked = ranked.where(where)
    sub = ranked.subquery()
    return list(conn.execute(select(sub).where(sub.c.rn == 1)))


def _desc(row: Any) -> SeriesDesc:
    return SeriesDesc(row.name, row.kind, row.unit, orjson.loads(row.labels) if row.labels else {}, row.source)


def _sample(row: Any) -> Sample:
    hist = Histogram.from_json(orjson.loads(row.histogram)) if row.histogram and row.histogram != "null" else None
    start = to_ns(_aware(row.start_time)) if row.start_time is not None else None
    return Sample(to_ns(_aware(row.time)), row.value, start, hist)


def _roll_minutes(conn: Connection, start: datetime, end: datetime, lookback: timedelta) -> int:
    rows = []
    for (project, key), (desc, prev, samples) in read_series(conn, start, end, lookback).items():
        by_minute: dict[int, list[Sample]] = defaultdict(list)
        for s in samples:
            by_minute[s.time_ns // 60_000_000_000 * 60].append(s)
        for minute in sorted(by_minute):
            bucket = by_minute[minute]
            rows.append(_rollup_row(project, key, desc, MINUTE, minute, aggregate(desc.kind, bucket, prev)))
            prev = bucket[-1]
    conn.execute(delete(MetricRollupRow).where(MetricRollupRow.resolution_s == MINUTE,
                                               MetricRollupRow.bucket_start >= start,
                                               MetricRollupRow.bucket_start < end))
    if rows:
        conn.execute(insert(MetricRollupRow), rows)
    return len(rows)


def _roll_hours(conn: Connection, start: datetime, end: datetime) -> int:
    groups: dict[tuple[int, str, int], list[Any]] = defaultdict(list)
    table = MetricRollupRow.__table__
    stmt = select(table).where(table.c.resolution_s == MINUTE, table.c.bucket_start >= start,
                               table.c.bucket_start < end)
    for row in conn.execute(stmt.order_by(table.c.bucket_start)):
        hour = int(_aware(row.bucket_start).timestamp()) // HOUR * HOUR
        groups[(row.project_rowid, row.series_key, hour)].append(row)
    rows = []
    for (project, key, hour), minutes in groups.items():
        merged = merge(agg_from_rollup(r) for r in minutes)
        if merged is not None:
            rows.append(_rollup_row(project, key, minutes[-1], HOUR, hour, merged))
    conn.execute(delete(MetricRollupRow).where(MetricRollupRow.resolution_s == HOUR,
                                               MetricRollupRow.bucket_start >= start,
                                               MetricRollupRow.bucket_start < end))
    if rows:
        conn.execute(insert(MetricRollupRow), rows)
    return len(rows)


def agg_from_rollup(row: Any) -> Agg:
    return Agg(kind=row.kind, points=row.points, total=row.total, minimum=row.minimum, maximum=row.maximum,
               last=row.last, last_ns=to_ns(_aware(row.bucket_start)), increase=row.increase,
               histogram=Histogram.from_json(row.histogram) if row.histogram else None)


def _rollup_row(project: int, key: str, desc: Any, resolution: int, bucket_epoch_s: int, agg: Agg) -> dict:
    return {
        "project_rowid": project, "series_key": key, "resolution_s": resolution,
        "bucket_start": datetime.fromtimestamp(bucket_epoch_s, UTC), "name": desc.name, "kind": desc.kind,
        "unit": desc.unit, "labels": desc.labels, "source": desc.source, "points": agg.points, "total": agg.total,
        "minimum": agg.minimum, "maximum": agg.maximum, "last": agg.last, "increase": agg.increase,
        "histogram": agg.histogram.to_json() if agg.histogram is not None else None,
    }


def prune(engine: Engine, now: datetime, raw_retention: timedelta, minute_retention: timedelta,
          hour_retention: timedelta, grace_s: float = 60.0, lookback: timedelta = timedelta(minutes=5),
          batch_rows: int = 5000, lock_timeout_s: float = 5.0) -> dict[str, Any]:
    """Delete what is past retention. Returns rows deleted per table.

    Raw points go only once rolled up, and never those the next rollup run will read again (the
    grace window it recomputes, and the lookback it takes each counter's previous point from):
    deleting those would make it overwrite good rollups with partial ones. On PostgreSQL the
    partitions of ``metric_points`` entirely before that cutoff are dropped whole (a backlog goes in
    one step) and the rest is deleted row by row; SQLite deletes ``batch_rows`` per transaction.
    """
    with engine.connect() as conn:
        done = rolled_up_until(conn)
    counts: dict[str, Any] = {"metric_points": 0}
    if done is not None:  # nothing rolled up yet: keep every raw point
        raw_cutoff = min(now - raw_retention, done - timedelta(seconds=grace_s) - lookback)
        expired = expire(engine, "metric_points", raw_cutoff, batch_rows=batch_rows, lock_timeout_s=lock_timeout_s,
                         exact=True)
        counts["metric_points"] = expired.rows
        if expired.dropped:
            counts["dropped"] = expired.dropped
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        counts["metric_rollups_1m"] = conn.execute(delete(MetricRollupRow).where(
            MetricRollupRow.resolution_s == MINUTE, MetricRollupRow.bucket_start < now - minute_retention)).rowcount
        counts["metric_rollups_1h"] = conn.execute(delete(MetricRollupRow).where(
            MetricRollupRow.resolution_s == HOUR, MetricRollupRow.bucket_start < now - hour_retention)).rowcount
    return counts
