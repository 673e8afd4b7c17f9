"""Time partitions on PostgreSQL, and retention that drops them (SQLite: deletes in batches).

Migration 0008 makes ``spans`` (by ``start_time``), ``log_records`` and ``metric_points`` (by ``time``)
``PARTITION BY RANGE`` tables with a DEFAULT partition. The worker keeps partitions ``ahead_days`` ahead
of now (``ensure_partitions``) and expires data (``expire``):

- a partition whose whole range is older than the cutoff is dropped (for ``spans``, after deleting the
  ``scores`` and ``eval_queue`` rows of its spans in the same transaction: partitioned ``spans`` cannot be
  the target of their foreign keys, so nothing cascades);
- the catch-all partitions (``<table>_default``, and ``<table>_old`` holding what predates migration
  0008) lose their expired rows in batches of ``batch_rows``, each batch its own transaction;
- on SQLite, and on a PostgreSQL table that is not partitioned, expired rows go in batches too, so the
  ingest writer never waits behind one huge ``DELETE``.

A new partition must not overlap rows already in the DEFAULT partition (PostgreSQL refuses to create it):
such rows are moved into the new partition in the same transaction. Every DDL statement runs under
``lock_timeout``: when ingest holds the table longer, the job gives up and tries again next round.
Replicas of the worker take a session advisory lock per table, so one of them does the work.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, text
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table

from monitor.store.advisory import try_advisory_lock
from monitor.store.models import (
    EvalQueueRow,
    LogRecordRow,
    MetricPointRow,
    ProjectRow,
    ScoreRow,
    SpanRow,
    UtcDateTime,
)

log = logging.getLogger(__name__)
PARTITIONED = {"spans": "start_time", "log_records": "time", "metric_points": "time"}
MODELS: dict[str, Any] = {"spans": SpanRow, "log_records": LogRecordRow, "metric_points": MetricPointRow}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BOUND = re.compile(r"FROM \((.+?)\) TO \((.+?)\)")
MAX_GAP = timedelta(days=7)  # a worker back after a long stop leaves older gaps to the DEFAULT partition


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition: ``start``/``end`` are ``None`` for MINVALUE/MAXVALUE, both for the DEFAULT partition."""

    name: str
    start: datetime | None
    end: datetime | None
    default: bool = False

    @property
    def catch_all(self) -> bool:
        """The DEFAULT partition, or one without a lower bound (``_old``): expired rows go row by row."""
        return self.default or self.start is None


def is_partitioned(conn: Connection, table: str) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table "
                                  "WHERE partrelid = to_regclass(:t))"), {"t": table}).scalar())


def list_partitions(conn: Connection, table: str) -> list[Partition]:
    """The partitions of ``table`` with their bounds (UTC), oldest first, the DEFAULT one last."""
    conn.execute(text("SELECT set_config('TimeZone', 'UTC', true)"))  # bounds rendered in UTC, this transaction
    rows = conn.execute(text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c "
        "ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)"), {"t": table}).all()
    out = []
    for name, bound in rows:
        if bound == "DEFAULT":
            out.append(Partition(name, None, None, default=True))
            continue
        match = _BOUND.search(bound)
        if match is None:  # not a range partition we know how to read: leave it alone
            continue
        out.append(Partition(name, _bound(match.group(1)), _bound(match.group(2))))
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(out, key=lambda p: (p.default, p.start or datetime.min.replace(tzinfo=UTC), p.end or far))


def _bound(value: str) -> datetime | None:
    if value in ("MINVALUE", "MAXVALUE"):
        return None
    return datetime.fromisoformat(value.strip("'")).astimezone(UTC)


def floor_to(value: datetime, hours: int) -> datetime:
    width = hours * 3600
    return _EPOCH + timedelta(seconds=int((value - _EPOCH).total_seconds()) // width * width)


def partition_name(table: str, start: datetime) -> str:
    return f"{table}_p{start:%Y%m%d}" if start.hour == 0 else f"{table}_p{start:%Y%m%d_%H}"


def _lock_timeout(conn: Connection, seconds: float) -> None:
    conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": f"{int(seconds * 1000)}ms"})


def ensure_partitions(engine: Engine, table: str, hours: int, ahead_days: int, now: datetime,
                      lock_timeout_s: float = 5.0) -> list[str]:
    """Create the partitions of ``table`` up to ``ahead_days`` after ``now``; returns their names.

    Partitions are ``hours`` wide, aligned to multiples of ``hours`` since the epoch (so daily ones start
    at 00:00 UTC), and follow on from the newest existing one without a gap (after a width change the
    first new one is shorter, up to the next aligned boundary). No-op on SQLite or a plain table.
    """
    if engine.dialect.name != "postgresql":
        return []
    key = PARTITIONED[table]
    created: list[str] = []
    with try_advisory_lock(engine, f"llm-monitor partitions {table}") as conn:
        if conn is None:
            return []
        with conn.begin():
            if not is_partitioned(conn, table):
                return []
            parts = list_partitions(conn, table)
        default = next((p.name for p in parts if p.default), None)
        ends = [p.end for p in parts if not p.default and p.end is not None]
        floor_now = floor_to(now, hours)
        start = max(ends) if ends else floor_now
        if start < floor_now - MAX_GAP:
            start = floor_now
        horizon = floor_to(now + timedelta(days=ahead_days), hours) + timedelta(hours=hours)
        while start < horizon:
            end = floor_to(start, hours) + timedelta(hours=hours)
            name = partition_name(table, start)
            with conn.begin():
                _lock_timeout(conn, lock_timeout_s)
                conn.execute(text(f"LOCK TABLE ONLY {table} IN ACCESS EXCLUSIVE MODE"))  # before the default one
                moved = _create(conn, table, key, name, start, end, default)
            if moved:
                log.info("partition %s created; %d row(s) moved into it from %s", name, moved, default)
            created.append(name)
            start = end
    return created


def _create(conn: Connection, table: str, key: str, name: str, start: datetime, end: datetime,
            default: str | None) -> int:
    bounds = {"a": start, "b": end}
    moved = 0
    if default is not None and conn.execute(text(
            f"SELECT EXISTS (SELECT 1 FROM {default} WHERE {key} >= :a AND {key} < :b)"), bounds).scalar():
        conn.execute(text(f"CREATE TEMP TABLE llm_monitor_moving (LIKE {table}) ON COMMIT DROP"))
        moved = conn.execute(text(f"WITH d AS (DELETE FROM {default} WHERE {key} >= :a AND {key} < :b RETURNING *) "
                                  "INSERT INTO llm_monitor_moving SELECT * FROM d"), bounds).rowcount
    conn.execute(text(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM "
                      f"('{start.isoformat()}') TO ('{end.isoformat()}')"))
    if moved:
        conn.execute(text(f"INSERT INTO {table} SELECT * FROM llm_monitor_moving"))
    return moved


@dataclass
class Expired:
    """What one retention run removed."""

    rows: int = 0
    dropped: list[str] | None = None
    scores: int = 0
    eval_queue: int = 0
    locked_s: float = 0.0  # the longest the parent table was locked exclusively (waiting for the lock included)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "dropped": self.dropped or [], "scores": self.scores, "eval_queue": self.eval_queue,
                "locked_s": self.locked_s}


def expire(engine: Engine, table: str, cutoff: datetime, *, batch_rows: int = 5000, lock_timeout_s: float = 5.0,
           exact: bool = False) -> Expired:
    """Remove the rows of ``table`` older than ``cutoff`` (and, for ``spans``, their scores and queue rows).

    On a partitioned table, partitions entirely before the cutoff are dropped; rows before the cutoff in
    the catch-all partitions are deleted in batches, and with ``exact`` those in the partition that
    straddles the cutoff too. Elsewhere every expired row is deleted, in batches.
    """
    out = Expired(dropped=[])
    model = MODELS[table]
    column = getattr(model, PARTITIONED[table])
    partitioned = False
    if engine.dialect.name == "postgresql":
        with try_advisory_lock(engine, f"llm-monitor partitions {table}") as conn:
            if conn is None:
                return out
            with conn.begin():
                partitioned = is_partitioned(conn, table)
                parts = list_partitions(conn, table) if partitioned else []
            for part in parts:
                if not part.default and part.end is not None and part.end <= cutoff:
                    _drop(conn, table, part.name, out, lock_timeout_s)
            if partitioned:
                if exact:  # whatever is left before the cutoff, in any partition
                    _delete_batches(engine, table, column, cutoff, batch_rows, out)
                    return out
                for part in parts:
                    if part.catch_all and not (part.end is not None and part.end <= cutoff):
                        _delete_batches(engine, table, column, cutoff, batch_rows, out, part.name)
                return out
    _delete_batches(engine, table, column, cutoff, batch_rows, out)
    return out


def _drop(conn: Connection, table: str, name: str, out: Expired, lock_timeout_s: float) -> None:
    with conn.begin():
        _lock_timeout(conn, lock_timeout_s)
        if table == "spans":  # what referenced these spans goes with them, in the same transaction
            out.scores += conn.execute(text(f"DELETE FROM scores WHERE span_rowid IN (SELECT id FROM {name})")).rowcount
            out.eval_queue += conn.execute(text(
                f"DELETE FROM eval_queue WHERE span_rowid IN (SELECT id FROM {name})")).rowcount
        rows = conn.execute(text(f"SELECT count(*) FROM {name}")).scalar() or 0
        locked = time.perf_counter()
        conn.execute(text(f"LOCK TABLE ONLY {table} IN ACCESS EXCLUSIVE MODE"))
        conn.execute(text(f"DROP TABLE {name}"))
    held = time.perf_counter() - locked
    out.rows += rows
    out.locked_s = max(out.locked_s, held)
    assert out.dropped is not None
    out.dropped.append(name)
    log.info("retention: dropped partition %s (%d rows; %s locked for %.0f ms)", name, rows, table, held * 1000)


def _delete_batches(engine: Engine, table: str, column: Any, cutoff: datetime, batch_rows: int, out: Expired,
                    partition: str | None = None) -> None:
    """Delete rows before ``cutoff`` ``batch_rows`` at a time, each batch its own short write transaction.

    ``partition``: look for them in that partition only (PostgreSQL; the delete goes through the parent).
    """
    model = MODELS[table]
    key = PARTITIONED[table]
    if partition:
        source: Any = sql_table(partition, sql_column("id"), sql_column(key, UtcDateTime()),
                                sql_column("project_rowid"))
        found_id, found_time, found_project = source.c.id, source.c[key], source.c.project_rowid
    else:
        source = model.__table__
        found_id, found_time, found_project = model.id, column, model.project_rowid
    with engine.connect() as conn:
        projects = conn.execute(select(ProjectRow.id)).scalars().all() if table == "spans" else [None]
    for project in projects:  # spans: per project, so (project_rowid, start_time) is the index that finds them
        while True:
            with engine.connect().execution_options(write=True) as conn, conn.begin():
                stmt = select(found_id).select_from(source).where(found_time < cutoff).limit(batch_rows)
                if project is not None:
                    stmt = stmt.where(found_project == project)
                ids = conn.execute(stmt).scalars().all()
                if ids:
                    if table == "spans":
                        out.scores += conn.execute(delete(ScoreRow).where(ScoreRow.span_rowid.in_(ids))).rowcount
                        out.eval_queue += conn.execute(
                            delete(EvalQueueRow).where(EvalQueueRow.span_rowid.in_(ids))).rowcount
                    out.rows += conn.execute(delete(model).where(model.id.in_(ids), column < cutoff)).rowcount
            if len(ids) < batch_rows:
                break


def span_retention(engine: Engine, now: datetime, days: float, *, batch_rows: int = 5000,
                   lock_timeout_s: float = 5.0) -> dict[str, Any]:
    """Expire spans (with their scores and queue rows) and log records older than ``days``; 0: keep all."""
    if days <= 0:
        return {}
    cutoff = now - timedelta(days=days)
    spans = expire(engine, "spans", cutoff, batch_rows=batch_rows, lock_timeout_s=lock_timeout_s)
    logs = expire(engine, "log_records", cutoff, batch_rows=batch_rows, lock_timeout_s=lock_timeout_s)
    orphans = 0  # scores tied to no span row (feedback on a trace): kept by their own age
    while True:
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            ids = conn.execute(select(ScoreRow.id).where(ScoreRow.span_rowid.is_(None), ScoreRow.created_at < cutoff)
                               .limit(batch_rows)).scalars().all()
            if ids:
                orphans += conn.execute(delete(ScoreRow).where(ScoreRow.id.in_(ids))).rowcount
        if len(ids) < batch_rows:
            break
    return {"spans": spans.rows, "log_records": logs.rows, "scores": spans.scores + orphans,
            "eval_queue": spans.eval_queue, "dropped": (spans.dropped or []) + (logs.dropped or []),
            "locked_s": max(spans.locked_s, logs.locked_s)}


def ensure_all(engine: Engine, now: datetime, partition_hours: int, metric_partition_hours: int, ahead_days: int,
               lock_timeout_s: float = 5.0) -> list[str]:
    """``ensure_partitions`` for every partitioned table (the worker's job, and ``llm-monitor migrate``)."""
    created = []
    for table in PARTITIONED:
        hours = metric_partition_hours if table == "metric_points" else partition_hours
        created += ensure_partitions(engine, table, hours, ahead_days, now, lock_timeout_s)
    return created
