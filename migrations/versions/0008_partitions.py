"""PostgreSQL: ``spans``, ``log_records`` and ``metric_points`` partitioned by time, for retention by partition.

Each table becomes ``PARTITION BY RANGE`` on its time column (``spans.start_time``, ``log_records.time``,
``metric_points.time``): a new partitioned table is created with the same columns, rows are copied, the
names are swapped, and the indexes are rebuilt on the partitioned table (PostgreSQL builds one per
partition). The partitions this migration creates, named after the first day they hold:

- ``<table>_pYYYYMMDD``: one per UTC day, from the oldest stored day (at most 7 days back) to 3 days ahead;
- ``<table>_old``: everything older than that (only when such rows exist);
- ``<table>_default``: a DEFAULT partition, so a row with a time no partition covers is still stored.

The worker then creates partitions ahead (``[retention] ahead_days``) and drops expired ones
(``monitor.store.partitions``).

What partitioning changes, because PostgreSQL requires the partition key in every unique constraint:

- the primary keys become ``(id, <time>)``; ``id`` keeps its sequence and stays unique in practice;
- the idempotency key of ``spans`` becomes ``(project_rowid, trace_id, span_id, start_time)``: a retried
  span has the same start time, so ingest stays idempotent (SQLite keeps the three-column constraint);
- ``scores.span_rowid`` and ``eval_queue.span_rowid`` can no longer be foreign keys to ``spans.id``: they
  are dropped, and the retention job deletes a dropped partition's scores and queue rows itself.

Both databases get ``ix_scores_span_rowid`` (retention finds a span's scores with it).

Downgrade converts back (rows copied into plain tables, duplicates of the three-column key reduced to the
first stored, dangling ``span_rowid`` references cleared) and restores the foreign keys. SQLite: only the
index.

The copy holds an exclusive lock on each table while it runs (27–44 s per million spans on a shared
2-core machine, ``bench/retention.py``): run ``llm-monitor migrate`` in a quiet moment.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from alembic import op
from sqlalchemy import Connection

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = (("spans", "start_time"), ("log_records", "time"), ("metric_points", "time"))
DEPENDANTS = (("scores", "span_rowid"), ("eval_queue", "span_rowid"))  # references to spans.id
PAST_DAYS, AHEAD_DAYS = 7, 3
DAY = timedelta(days=1)


def upgrade() -> None:
    # scores.span_rowid is how retention finds a span's scores (and, on SQLite, what the foreign key's
    # ON DELETE CASCADE looks up for every deleted span: without an index, one scan of scores per span)
    op.create_index("ix_scores_span_rowid", "scores", ["span_rowid"])
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for dependant, column in DEPENDANTS:
        for name in _fk_names(conn, dependant, column, "spans"):
            conn.exec_driver_sql(f'ALTER TABLE {dependant} DROP CONSTRAINT "{name}"')
    for table, key in TABLES:
        _to_partitioned(conn, table, key)


def downgrade() -> None:
    op.drop_index("ix_scores_span_rowid", table_name="scores")
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table, key in TABLES:
        _to_plain(conn, table, key)
    conn.exec_driver_sql("UPDATE scores SET span_rowid = NULL WHERE span_rowid IS NOT NULL AND NOT EXISTS "
                         "(SELECT 1 FROM spans WHERE spans.id = scores.span_rowid)")
    conn.exec_driver_sql("DELETE FROM eval_queue WHERE NOT EXISTS "
                         "(SELECT 1 FROM spans WHERE spans.id = eval_queue.span_rowid)")
    for dependant, column in DEPENDANTS:
        conn.exec_driver_sql(f"ALTER TABLE {dependant} ADD CONSTRAINT {dependant}_{column}_fkey FOREIGN KEY "
                             f"({column}) REFERENCES spans (id) ON DELETE CASCADE")


def _fk_names(conn: Connection, table: str, column: str, target: str) -> list[str]:
    return list(conn.exec_driver_sql(
        "SELECT c.conname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
        "AND a.attnum = ANY (c.conkey) WHERE c.contype = 'f' AND c.conrelid = %(t)s::regclass "
        "AND c.confrelid = %(r)s::regclass AND a.attname = %(c)s",
        {"t": table, "r": target, "c": column}).scalars())


def _shape(conn: Connection, table: str) -> tuple[list[str], list[tuple[str, str, str]], str | None]:
    """(plain index definitions, constraints as (name, type, definition), the id sequence) of ``table``."""
    indexes = [d.replace(" ON ONLY ", " ON ") for d in conn.exec_driver_sql(  # a partitioned index reads ON ONLY
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %(t)s::regclass AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) "
        "ORDER BY i.indexrelid", {"t": table}).scalars()]
    constraints = [tuple(r) for r in conn.exec_driver_sql(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %(t)s::regclass "
        "AND contype IN ('p', 'u', 'f') ORDER BY contype DESC, oid", {"t": table})]
    sequence = conn.exec_driver_sql("SELECT pg_get_serial_sequence(%(t)s, 'id')", {"t": table}).scalar()
    return indexes, constraints, sequence  # type: ignore[return-value]


def _to_partitioned(conn: Connection, table: str, key: str) -> None:
    q = conn.exec_driver_sql
    indexes, constraints, sequence = _shape(conn, table)
    q(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    if sequence:
        q(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    q(f"ALTER TABLE {table} RENAME TO {table}_unpartitioned")
    q(f"CREATE TABLE {table} (LIKE {table}_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
      f"INCLUDING STORAGE INCLUDING COMPRESSION) PARTITION BY RANGE ({key})")
    oldest = q(f"SELECT min({key}) FROM {table}_unpartitioned").scalar()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today
    if oldest is not None:
        oldest_day = oldest.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        first = min(today, max(oldest_day, today - PAST_DAYS * DAY))
        if oldest < first:
            q(f"CREATE TABLE {table}_old PARTITION OF {table} FOR VALUES FROM (MINVALUE) TO ('{first.isoformat()}')")
    day = first
    while day <= today + AHEAD_DAYS * DAY:
        q(f"CREATE TABLE {table}_p{day:%Y%m%d} PARTITION OF {table} "
          f"FOR VALUES FROM ('{day.isoformat()}') TO ('{(day + DAY).isoformat()}')")
        day += DAY
    q(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    q(f"INSERT INTO {table} SELECT * FROM {table}_unpartitioned")
    q(f"DROP TABLE {table}_unpartitioned")
    if sequence:
        q(f"ALTER SEQUENCE {sequence} OWNED BY {table}.id")
    for name, kind, definition in constraints:
        if kind == "p":
            definition = f"PRIMARY KEY (id, {key})"
        elif kind == "u" and not re.search(rf"\b{key}\b", definition):
            definition = definition.rstrip(")") + f", {key})"
            name = f"{name}_{key}"
        q(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for definition in indexes:
        q(definition)
    q(f"ANALYZE {table}")


def _to_plain(conn: Connection, table: str, key: str) -> None:
    q = conn.exec_driver_sql
    indexes, constraints, sequence = _shape(conn, table)
    if sequence:
        q(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    q(f"ALTER TABLE {table} RENAME TO {table}_partitioned")
    q(f"CREATE TABLE {table} (LIKE {table}_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
      "INCLUDING STORAGE INCLUDING COMPRESSION)")
    uniques = []
    for name, kind, definition in constraints:
        if kind == "u" and name.endswith(f"_{key}"):
            columns = [c.strip() for c in definition[definition.index("(") + 1:definition.rindex(")")].split(",")]
            uniques.append([c for c in columns if c != key])
    if uniques:  # rows the wider key let in twice (same span, another start time): the first stored is kept
        columns = ", ".join(uniques[0])
        q(f"INSERT INTO {table} SELECT DISTINCT ON ({columns}) * FROM {table}_partitioned ORDER BY {columns}, id")
    else:
        q(f"INSERT INTO {table} SELECT * FROM {table}_partitioned")
    q(f"DROP TABLE {table}_partitioned")  # and its partitions
    if sequence:
        q(f"ALTER SEQUENCE {sequence} OWNED BY {table}.id")
    for name, kind, definition in constraints:
        if kind == "p":
            definition = "PRIMARY KEY (id)"
        elif kind == "u" and name.endswith(f"_{key}"):
            name = name[: -len(key) - 1]
            definition = re.sub(rf",\s*{key}\)$", ")", definition)
        q(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for definition in indexes:
        q(definition)
