"""Batch writers for the ingest path: one transaction per request, idempotent on
(project, trace_id, span_id), committed before the request is acknowledged.

PostgreSQL gets ``COPY`` into a per-transaction staging table and one
``INSERT … SELECT … ON CONFLICT DO NOTHING``; SQLite gets ``INSERT OR IGNORE`` executemany.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from collectors.semconv.messages import messages_from_events, render, split_system
from monitor.domain import LogEvent, Span
from monitor.store.engine import is_sqlite
from monitor.store.rows import SPAN_COLUMNS, dumps, ns_to_datetime, span_row

_COLS = ", ".join(SPAN_COLUMNS)
_SQLITE_INSERT = f"INSERT OR IGNORE INTO spans ({_COLS}) VALUES ({', '.join('?' * len(SPAN_COLUMNS))})"
_PG_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS spans_stage ON COMMIT DELETE ROWS AS SELECT " + _COLS
    + " FROM spans WITH NO DATA"
)
_PG_INSERT = f"INSERT INTO spans ({_COLS}) SELECT {_COLS} FROM spans_stage ON CONFLICT DO NOTHING"
_DT = 6, 7, len(SPAN_COLUMNS) - 1  # datetime columns (start, end, received_at)
CONTENT_EVENTS = frozenset({
    "gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message", "gen_ai.tool.message",
    "gen_ai.choice", "gen_ai.client.inference.operation.details", "gen_ai.content.prompt",
    "gen_ai.content.completion",
})


def sqlite_datetime(value: datetime) -> str:
    """The text form SQLAlchemy's SQLite DateTime reads back (naive UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class SpanWriter:
    """Writes decoded, normalised spans (and log records) for one project."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = is_sqlite(engine)

    def write_spans(self, project_rowid: int, spans: list[Span]) -> None:
        """Commit all spans in one transaction (duplicates of stored spans are ignored)."""
        if not spans:
            return
        now = datetime.now(UTC)
        rows = [span_row(project_rowid, s, now) for s in spans]
        missing = [(s.trace_id, s.span_id) for s in spans if s.llm is not None
                   and s.llm.input_text is None and s.llm.output_text is None]
        with self._connect() as conn, conn.begin():
            if self._sqlite:
                conn.exec_driver_sql(_SQLITE_INSERT, [_sqlite_row(r) for r in rows])
            else:
                _pg_copy(conn, rows)
            if missing:
                _fill_content_from_logs(conn, project_rowid, missing)

    def write_logs(self, project_rowid: int, logs: list[LogEvent]) -> None:
        """Store log records, and copy GenAI content events onto the spans they belong to."""
        if not logs:
            return
        params = [
            {"p": project_rowid, "t": lg.trace_id, "s": lg.span_id, "time": ns_to_datetime(lg.time_ns),
             "e": lg.event_name, "sev": lg.severity, "b": dumps(lg.body), "a": dumps(lg.attributes) or "{}",
             "svc": lg.resource.get("service.name")}
            for lg in logs
        ]
        if self._sqlite:
            for p in params:
                p["time"] = sqlite_datetime(p["time"])
        with self._connect() as conn, conn.begin():
            conn.execute(
                text("INSERT INTO log_records (project_rowid, trace_id, span_id, time, event_name, severity, "
                     "body, attributes, service_name) VALUES (:p, :t, :s, :time, :e, :sev, :b, :a, :svc)"),
                params,
            )
            by_span: dict[tuple[str, str], list[tuple[str | None, dict[str, Any], Any]]] = defaultdict(list)
            for lg in logs:
                if lg.trace_id and lg.span_id and lg.event_name in CONTENT_EVENTS:
                    by_span[(lg.trace_id, lg.span_id)].append((lg.event_name, lg.attributes, lg.body))
            _apply_content(conn, project_rowid, by_span)

    def _connect(self) -> Connection:
        return self.engine.connect().execution_options(write=True)


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    values = list(row)
    for i in _DT:
        values[i] = sqlite_datetime(values[i])
    return tuple(values)


def _pg_copy(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(_PG_STAGE)
        with cur.copy(f"COPY spans_stage ({_COLS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(_PG_INSERT)


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
                        "o": render(outputs), "sys": system or in_system})
    if updates:
        conn.execute(
            text("UPDATE spans SET input_text = COALESCE(input_text, :i), output_text = COALESCE(output_text, :o), "
                 "system_instructions = COALESCE(system_instructions, :sys) "
                 "WHERE project_rowid = :p AND trace_id = :t AND span_id = :s"),
            updates,
        )
