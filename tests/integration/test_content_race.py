"""A span and its GenAI content events, written at the same moment by two writers (two ``serve``
processes on PostgreSQL), still meet: the span ends up with its text.

The writers' look-ups for each other are ordered by a per-project transaction lock
(``monitor.store.writer.CONTENT_LOCK``). The test holds that lock itself while both writers run, so
both have inserted their own rows, uncommitted, and wait to look: the interleaving in which, without
the lock, neither would see the other. Then it lets them go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
from sqlalchemy import Engine, func, select, text

from collectors.otlp.traces import PROTOBUF, decode_traces
from monitor.api.app import build_ingest
from monitor.config import Settings
from monitor.domain import DecodedBatch, LogEvent
from monitor.store import make_engine
from monitor.store.advisory import _int4, lock_key
from monitor.store.keys import get_or_create_project
from monitor.store.models import LogRecordRow, SpanRow
from monitor.store.writer import CONTENT_LOCK
from tests.conftest import TABLES
from tests.otlp_builders import chat_attrs, make_span, request


def _waiting_advisory_locks(admin: psycopg.Connection) -> int:
    return admin.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()[0]


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def _run(target: Callable[[], object], errors: list[BaseException]) -> threading.Thread:
    def guarded() -> None:
        try:
            target()
        except BaseException as exc:  # surfaced by the test below
            errors.append(exc)
    thread = threading.Thread(target=guarded, daemon=True)
    thread.start()
    return thread


def test_span_and_content_events_committed_at_once_still_meet(pg_url: str) -> None:
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    project = get_or_create_project(engine, "race").rowid
    ingest = build_ingest(Settings(database_url=pg_url), engine)
    attrs = {k: v for k, v in chat_attrs().items() if not k.startswith("gen_ai.input") and "output.messages" not in k}
    proto = make_span(attrs)
    spans = decode_traces(request([proto], {"service.name": "svc"}).SerializeToString(), PROTOBUF)
    trace_id, span_id = proto.trace_id.hex(), proto.span_id.hex()
    events = [
        LogEvent(trace_id, span_id, proto.start_time_unix_nano, "gen_ai.user.message", "INFO",
                 {"content": "Where is my parcel?"}, {}, {"service.name": "svc"}),
        LogEvent(trace_id, span_id, proto.end_time_unix_nano, "gen_ai.choice", "INFO",
                 {"index": 0, "finish_reason": "stop", "message": {"content": "On its way."}}, {},
                 {"service.name": "svc"}),
    ]
    key = (_int4(lock_key(CONTENT_LOCK)), _int4(project))
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    errors: list[BaseException] = []
    with psycopg.connect(dsn, autocommit=True) as holder, psycopg.connect(dsn, autocommit=True) as admin:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", key)
        threads = [_run(lambda: ingest.ingest_logs(project, DecodedBatch(logs=events)), errors),
                   _run(lambda: ingest.ingest_traces(project, spans), errors)]
        deadline = time.monotonic() + 20
        while _waiting_advisory_locks(admin) < 2 and time.monotonic() < deadline and not errors:
            time.sleep(0.05)
        assert not errors, errors
        assert _waiting_advisory_locks(admin) == 2, "both writers must wait for the content lock before looking"
        assert _count(engine, SpanRow) == 0 and _count(engine, LogRecordRow) == 0  # neither has committed
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", key)
        for thread in threads:
            thread.join(20)
    assert not errors, errors
    with engine.connect() as conn:
        row = conn.execute(select(SpanRow.input_text, SpanRow.output_text)).one()
    engine.dispose()
    assert "Where is my parcel?" in (row.input_text or "")
    assert "On its way." in (row.output_text or "")
