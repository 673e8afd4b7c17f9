"""Batch writers for the ingest path: one transaction per request, idempotent on
(project, trace_id, span_id), committed before the request is acknowledged.

PostgreSQL gets ``COPY`` straight into ``spans`` inside a savepoint, with rows produced while
the copy streams (so the database works on one core while Python normalises on the other); only
when a span is already stored (a client retry) does it fall back to a staging table and
``INSERT … ON CONFLICT DO NOTHING``. SQLite gets ``INSERT OR IGNORE`` executemany.

GenAI content may arrive as log events in another request than its span, and with several ``serve``
processes on PostgreSQL the two may be written at the same moment. Each side, after inserting its own
rows, looks for the other (logs → spans to update; spans without content → logs to copy from); had
both looked before either committed, neither would see the other and the span would stay without its
text. So both take one transaction lock per project (``CONTENT_LOCK``) before looking: the second
looks only after the first has committed, and finds its rows.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DataError, OperationalError

from collectors.semconv.messages import finish_reasons, messages_from_events, render, split_system
from monitor.domain import LogEvent, Span
from monitor.store.advisory import transaction_lock
from monitor.store.engine import is_sqlite, write_lock
from monitor.store.rows import SPAN_COLUMNS, dumps, ns_to_datetime, span_row

_COLS = ", ".join(SPAN_COLUMNS)
_SQLITE_INSERT = f"INSERT OR IGNORE INTO spans ({_COLS}) VALUES ({', '.join('?' * len(SPAN_COLUMNS))})"
_PG_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS spans_stage ON COMMIT DELETE ROWS AS SELECT " + _COLS
    + " FROM spans WITH NO DATA"
)
_PG_INSERT = f"INSERT INTO spans ({_COLS}) SELECT {_COLS} FROM spans_stage ON CONFLICT DO NOTHING"
_DT = 6, 7, len(SPAN_COLUMNS) - 1  # datetime columns (start, end, received_at)
CONTENT_LOCK = "llm-monitor:span-content"  # see the module docstring
CONTENT_EVENTS = frozenset({
    "gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message", "gen_ai.tool.message",
    "gen_ai.choice", "gen_ai.client.inference.operation.details", "gen_ai.content.prompt",
    "gen_ai.content.completion",
})


def sqlite_datetime(value: datetime) -> str:
    """The text form SQLAlchemy's SQLite DateTime reads back (naive UTC)."""
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


class SpanWriter:
    """Writes decoded, normalised spans (and log records) for one project."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = is_sqlite(engine)

    def write_spans(self, project_rowid: int, spans: Iterable[Span]) -> None:
        """Commit all spans in one transaction (duplicates of stored spans are ignored).

        ``spans`` may be a lazy iterable: on PostgreSQL each span is turned into a row while the
        previous ones are already on their way to the database.
        """
        now = datetime.now(UTC)
        seen: list[Span] = []

        def rows() -> Iterable[tuple[Any, ...]]:
            for span in spans:
                seen.append(span)
                yield span_row(project_rowid, span, now)

        with _translate_errors():
            # SQLite: rows are built before the write lock is taken, so normalising one request
            # overlaps with another request's commit instead of holding the only writer.
            batch = [_sqlite_row(r) for r in rows()] if self._sqlite else []
            with write_lock(self.engine), self._connect() as conn, conn.begin():
                if batch:
                    conn.connection.driver_connection.executemany(_SQLITE_INSERT, batch)  # type: ignore[union-attr]
                elif not self._sqlite:
                    _pg_copy(conn, rows())
                missing = [(s.trace_id, s.span_id) for s in seen if s.llm is not None
                           and s.llm.input_text is None and s.llm.output_text is None]
                if missing:
                    transaction_lock(conn, CONTENT_LOCK, project_rowid)
                    _fill_content_from_logs(conn, project_rowid, missing)

    def write_logs(self, project_rowid: int, logs: list[LogEvent]) -> None:
        """Store log records, and copy GenAI content events onto the spans they belong to."""
        if not logs:
            return
        with _translate_errors():
            self._insert_logs(project_rowid, logs)

    def _insert_logs(self, project_rowid: int, logs: list[LogEvent]) -> None:
        params = [
            {"p": project_rowid, "t": lg.trace_id, "s": lg.span_id, "time": ns_to_datetime(lg.time_ns),
             "e": lg.event_name, "sev": lg.severity, "b": dumps(lg.body), "a": dumps(lg.attributes) or "{}",
             "svc": lg.resource.get("service.name")}
            for lg in logs
        ]
        if self._sqlite:
            for p in params:
                p["time"] = sqlite_datetime(p["time"])
        with write_lock(self.engine), self._connect() as conn, conn.begin():
            conn.execute(
                text("INSERT INTO log_records (project_rowid, trace_id, span_id, time, event_name, severity, "
                     "body, attributes, service_name) VALUES (:p, :t, :s, :time, :e, :sev, :b, :a, :svc)"),
                params,
            )
            by_span: dict[tuple[str, str], list[tuple[str | None, dict[str, Any], Any]]] = defaultdict(list)
            for lg in logs:
                if lg.trace_id and lg.span_id and lg.event_name in CONTENT_EVENTS:
                    by_span[(lg.trace_id, lg.span_id)].append((lg.event_name, lg.attributes, lg.body))
            if by_span:
                transaction_lock(conn, CONTENT_LOCK, project_rowid)
                _apply_content(conn, project_rowid, by_span)

    def _connect(self) -> Connection:
        return self.engine.connect().execution_options(write=True)


@contextmanager
def _translate_errors() -> Iterator[None]:
    """Raw driver errors (we use the DBAPI connection for COPY and executemany) become the
    SQLAlchemy ones the ingest service maps: unavailable -> 503, bad row -> per-span rejection."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError, sqlite3.OperationalError,
            sqlite3.InterfaceError) as exc:
        raise OperationalError("write spans", None, exc) from exc
    except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError, sqlite3.DataError,
            sqlite3.IntegrityError, orjson.JSONEncodeError, UnicodeEncodeError) as exc:
        # a value JSON or the database's encoding cannot hold is a bad row
        raise DataError("write spans", None, exc) from exc


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    values = list(row)
    for i in _DT:
        values[i] = sqlite_datetime(values[i])
    return tuple(values)


def _pg_copy(conn: Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY into ``spans`` directly; a duplicate (a retried request) reruns through the staging table."""
    raw = conn.connection.driver_connection
    assert raw is not None
    kept: list[tuple[Any, ...]] = []
    with raw.cursor() as cur:
        cur.execute("SAVEPOINT spans_copy")
        try:
            with cur.copy(f"COPY spans ({_COLS}) FROM STDIN") as copy:
                for row in rows:
                    kept.append(row)
                    copy.write_row(row)
        except psycopg.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT spans_copy")
            kept.extend(rows)  # whatever was not produced yet
            cur.execute(_PG_STAGE)
            with cur.copy(f"COPY spans_stage ({_COLS}) FROM STDIN") as copy:
                for row in kept:
                    copy.write_row(row)
            cur.execute(_PG_INSERT)
        else:
            cur.execute("RELEASE SAVEPOINT spans_copy")


def _fill_content_from_logs(conn: Connection, project_rowid: int, keys: list[tuple[str, str]]) -> None:
    """Content events that arrived before their span are applied once the span lands."""
    trace_ids = sorted({t for t, _ in keys})
    wanted = set(keys)
    found: dict[tuple[str, str], list[tuple[str | None, dict[str, Any], Any]]] = defaultdict(list)
    for start in range(0, len(trace_ids), 500):
        chunk = trace_ids[start:start + 500]
        params = {f"t{i}": t for i, t in enumerate(chunk)}
        rows = conn.execute(
            text(f"SELECT trace_id, span_id, event_name, attributes, body FROM log_records "
                 f"WHERE project_rowid = :p AND trace_id IN ({', '.join(':' + k for k in params)}) ORDER BY id"),
            {"p": project_rowid, **params},
        )
        for trace_id, span_id, name, attrs, body in rows:
            if (trace_id, span_id) in wanted and name in CONTENT_EVENTS:
                found[(trace_id, span_id)].append((name, _json(attrs) or {}, _json(body)))
    _apply_content(conn, project_rowid, found)


def _json(value: Any) -> Any:
    import orjson

    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _apply_content(conn: Connection, project_rowid: int,
                   by_span: dict[tuple[str, str], list[tuple[str | None, dict[str, Any], Any]]]) -> None:
    updates = []
    for (trace_id, span_id), events in by_span.items():
        inputs, outputs, system = messages_from_events(events)
        inputs, in_system = split_system(inputs)
        updates.append({"p": project_rowid, "t": trace_id, "s": span_id, "i": render(inputs),
                        "o": render(outputs), "sys": system or in_system, "fr": dumps(finish_reasons(outputs))})
    if updates:
        json_param = "CAST(:fr AS JSONB)" if conn.dialect.name == "postgresql" else ":fr"
        conn.execute(
            text("UPDATE spans SET input_text = COALESCE(input_text, :i), output_text = COALESCE(output_text, :o), "
                 "system_instructions = COALESCE(system_instructions, :sys), "
                 f"finish_reasons = COALESCE(finish_reasons, {json_param}) "
                 "WHERE project_rowid = :p AND trace_id = :t AND span_id = :s"),
            updates,
        )
