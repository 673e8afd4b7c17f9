"""Time partitions (migration 0008) and retention, on a real PostgreSQL and a real SQLite file.

Spans arrive through the real ingest path (the ASGI app, OTLP protobuf); the migration converts a
database that already holds ten days of them; retention drops whole partitions on PostgreSQL and
deletes in batches on SQLite.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.exc import OperationalError

from monitor.api.app import create_app
from monitor.config import Settings
from monitor.domain import LogEvent
from monitor.migrate import downgrade, upgrade
from monitor.store import make_engine
from monitor.store.models import EvalQueueRow, LogRecordRow, ScoreRow, SpanRow
from monitor.store.partitions import ensure_partitions, expire, list_partitions, partition_name, span_retention
from monitor.store.writer import SpanWriter
from monitor.worker import Worker
from tests.conftest import ensure_database, postgres_url, reset_schema
from tests.otlp_builders import chat_attrs, make_span, request

PROTOBUF = {"content-type": "application/x-protobuf"}
DAY = timedelta(days=1)


@pytest.fixture
def private_pg() -> str:
    """A database of its own: these tests drop and create partitions."""
    url = postgres_url().rsplit("/", 1)[0] + "/" + postgres_url().rsplit("/", 1)[1] + "_partitions"
    ensure_database(url)
    reset_schema(url)
    return url


def _ns(value: datetime) -> int:
    return int(value.timestamp() * 1e9)


def _send(client: TestClient, starts: list[datetime], tag: str) -> list[bytes]:
    """One OTLP request with an LLM span starting at each time; returns the body (to resend it)."""
    spans = [make_span(chat_attrs(**{"app.tag": tag}), start_ns=_ns(s)) for s in starts]
    body = request(spans).SerializeToString()
    reply = client.post("/v1/traces", content=body, headers=PROTOBUF)
    assert reply.status_code == 200, reply.text
    assert not reply.content or b"rejected" not in reply.content
    return [body]


def _count(engine: Engine, model: object) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()  # type: ignore[arg-type]


def _where(engine: Engine) -> dict[str, str]:
    """span_id -> the partition its row lives in."""
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT span_id, tableoid::regclass::text FROM spans")).all())


def _partitions(engine: Engine, table: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                     "WHERE i.inhparent = to_regclass(:t)"), {"t": table}).scalars())


def _add_dependants(engine: Engine, now: datetime) -> None:
    """A score and a queue row for every span, and a log record at each span's time (as SDKs send events)."""
    with engine.begin() as conn:
        spans = conn.execute(select(SpanRow.id, SpanRow.project_rowid, SpanRow.trace_id, SpanRow.span_id,
                                    SpanRow.start_time)).all()
        conn.execute(ScoreRow.__table__.insert(), [
            {"project_rowid": s.project_rowid, "span_rowid": s.id, "trace_id": s.trace_id, "span_id": s.span_id,
             "name": "toxicity", "value": 0.1, "source": "evaluator", "created_at": now} for s in spans])
        conn.execute(EvalQueueRow.__table__.insert(), [
            {"project_rowid": s.project_rowid, "span_rowid": s.id, "evaluator": "toxicity", "state": "done",
             "attempts": 1, "call_time": s.start_time, "next_attempt_at": now, "created_at": now, "updated_at": now}
            for s in spans])
        project = spans[0].project_rowid
    SpanWriter(engine).write_logs(project, [
        LogEvent(s.trace_id, s.span_id, _ns(s.start_time), "gen_ai.user.message", "INFO", {"content": "hi"}, {},
                 {"service.name": "svc"}) for s in spans])


def test_migration_partitions_existing_data_and_retention_drops_whole_days(private_pg: str) -> None:
    url = private_pg
    upgrade(url, "0007")
    engine = make_engine(url)
    settings = Settings(database_url=url, auth="disabled", server={"key_cache_ttl_s": 0})
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - d * DAY + timedelta(hours=1) for d in range(10)]  # 01:00 of the last ten days
    ancient, future = now - 40 * DAY, now + 20 * DAY
    with TestClient(create_app(settings)) as client:  # the app on the 0007 schema: plain tables
        bodies = _send(client, [*days, ancient, future], "before")
    _add_dependants(engine, now)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT span_id, id, start_time FROM spans ORDER BY id")).all()
    assert len(before) == 12 and _count(engine, LogRecordRow) == 12

    upgrade(url)  # 0008: the tables become partitioned, every row kept
    assert _count(engine, SpanRow) == 12 and _count(engine, ScoreRow) == 12 and _count(engine, LogRecordRow) == 12
    with engine.connect() as conn:
        after = conn.execute(text("SELECT span_id, id, start_time FROM spans ORDER BY id")).all()
        fks = conn.execute(text("SELECT count(*) FROM pg_constraint WHERE confrelid = 'spans'::regclass")).scalar()
        kinds = dict(conn.execute(text("SELECT relname, relkind FROM pg_class WHERE relname IN "
                                       "('spans', 'log_records', 'metric_points')")).all())
    assert after == before  # same ids, same rows
    assert fks == 0 and set(kinds.values()) == {"p"}
    where = _where(engine)
    by_span = {r.span_id: r.start_time for r in after}
    first = today - 7 * DAY
    for span_id, start in by_span.items():
        if start >= now + 10 * DAY:
            assert where[span_id] == "spans_default"  # beyond the partitions made: stored all the same
        elif start < first:
            assert where[span_id] == "spans_old"  # older than the migration's first day
        else:
            assert where[span_id] == partition_name("spans", start.replace(hour=0)), (start, where[span_id])
    assert {f"spans_p{(today + d * DAY):%Y%m%d}" for d in range(-7, 4)} | {"spans_old", "spans_default"} == \
        _partitions(engine, "spans")

    with TestClient(create_app(settings)) as client:  # a retried request stays idempotent on the partitioned table
        assert client.post("/v1/traces", content=bodies[0], headers=PROTOBUF).status_code == 200
        _send(client, [datetime(2200, 1, 1, tzinfo=UTC)], "odd")  # a time no partition covers: still stored
    assert _count(engine, SpanRow) == 13
    assert "spans_default" in {v for k, v in _where(engine).items() if k not in by_span}

    retention = Settings(database_url=url, retention={"spans_days": 5})
    results = Worker(retention, engine).maintain_once(now)
    assert not any(isinstance(r, Exception) for r in results.values()), results
    dropped = set(results["span_retention"]["dropped"])
    gone = {"_old", f"_p{today - 7 * DAY:%Y%m%d}", f"_p{today - 6 * DAY:%Y%m%d}"}
    assert dropped == {t + g for t in ("spans", "log_records") for g in gone}
    assert not dropped & (_partitions(engine, "spans") | _partitions(engine, "log_records"))  # pg_inherits
    keep_from = today - 5 * DAY  # partition granularity: day -5 is kept whole though partly past the cutoff
    expected = {s for s, t in by_span.items() if t >= keep_from}
    with engine.connect() as conn:
        left = set(conn.execute(select(SpanRow.span_id).where(SpanRow.start_time < datetime(2100, 1, 1, tzinfo=UTC)))
                   .scalars())
        scored = set(conn.execute(select(ScoreRow.span_id)).scalars())
        queued = set(conn.execute(select(SpanRow.span_id).join(EvalQueueRow, EvalQueueRow.span_rowid == SpanRow.id))
                     .scalars())
        queue_rows = conn.execute(select(func.count()).select_from(EvalQueueRow)).scalar()
        logged = set(conn.execute(select(LogRecordRow.span_id)).scalars())
    assert left == expected and len(expected) == 7  # days -5..0 and the future one
    assert scored == expected and queued == expected and queue_rows == len(expected)  # dependants went with them
    assert logged == expected
    assert results["span_retention"]["spans"] == 12 - len(expected) == results["span_retention"]["eval_queue"]

    # partitions ahead: the one for the future span is created and its row moved out of the DEFAULT partition
    future_id = next(s for s, t in by_span.items() if t >= now + 10 * DAY)
    assert _where(engine)[future_id] == "spans_default"
    created = ensure_partitions(engine, "spans", 24, 25, now)
    assert partition_name("spans", future.replace(hour=0, minute=0, second=0, microsecond=0)) in created
    assert _where(engine)[future_id] == partition_name("spans", future.replace(hour=0, minute=0, second=0,
                                                                                 microsecond=0))
    assert _count(engine, SpanRow) == len(expected) + 1
    with engine.connect() as conn:
        parts = list_partitions(conn, "spans")
    regular = [p for p in parts if not p.catch_all]
    assert all(a.end == b.start for a, b in pairwise(regular))  # no gap, no overlap

    downgrade(url, "0007")  # back to plain tables, rows and foreign keys restored
    with engine.connect() as conn:
        kinds = set(conn.execute(text("SELECT relkind FROM pg_class WHERE relname IN ('spans', 'log_records', "
                                      "'metric_points')")).scalars())
        fks = conn.execute(text("SELECT count(*) FROM pg_constraint WHERE confrelid = 'spans'::regclass")).scalar()
    assert kinds == {"r"} and fks == 2
    assert _count(engine, SpanRow) == len(expected) + 1 and _count(engine, ScoreRow) == len(expected)
    upgrade(url)
    assert _count(engine, SpanRow) == len(expected) + 1
    engine.dispose()


def test_sqlite_retention_deletes_in_batches(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    engine = make_engine(url)
    settings = Settings(database_url=url, auth="disabled", server={"key_cache_ttl_s": 0})
    now = datetime.now(UTC)
    old = [now - timedelta(days=8, minutes=i) for i in range(700)]
    recent = [now - timedelta(days=2, minutes=i) for i in range(50)]
    with TestClient(create_app(settings)) as client:
        for chunk in range(0, len(old), 250):
            _send(client, old[chunk:chunk + 250], "old")
        _send(client, recent, "recent")
    _add_dependants(engine, now)
    deletes: list[int] = []

    @event.listens_for(engine, "after_cursor_execute")
    def _spy(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("DELETE FROM spans"):
            deletes.append(cursor.rowcount)  # type: ignore[attr-defined]

    result = span_retention(engine, now, 7, batch_rows=200)
    assert result["spans"] == 700 and result["log_records"] == 700
    assert result["scores"] == 700 and result["eval_queue"] == 700
    assert deletes == [200, 200, 200, 100]  # one transaction per batch, never the whole backlog at once
    with engine.connect() as conn:
        kept = conn.execute(select(func.min(SpanRow.start_time))).scalar()
    assert _count(engine, SpanRow) == 50 and kept >= now - timedelta(days=3)
    assert _count(engine, ScoreRow) == 50 and _count(engine, EvalQueueRow) == 50 and _count(engine, LogRecordRow) == 50
    assert span_retention(engine, now, 0) == {}  # 0: keep forever
    engine.dispose()


def test_a_drop_waits_at_most_lock_timeout_and_is_all_or_nothing(private_pg: str) -> None:
    """A long ingest transaction holds the table: the drop gives up after ``lock_timeout_s``, removing
    nothing (its scores are still there), the ingest commits, and the next round drops the day."""
    url = private_pg
    upgrade(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    settings = Settings(database_url=url, auth="disabled", server={"key_cache_ttl_s": 0})
    created = ensure_partitions(engine, "spans", 6, 5, now)  # another width: follows on from the daily ones
    assert created[0] == partition_name("spans", today + 4 * DAY) and created[1].endswith("_06")
    with engine.connect() as conn:
        parts = [p for p in list_partitions(conn, "spans") if not p.catch_all]
    assert all(a.end == b.start for a, b in pairwise(parts))
    assert {(p.end - p.start) for p in parts} == {DAY, timedelta(hours=6)}
    with TestClient(create_app(settings)) as client:
        _send(client, [today + timedelta(hours=2), today + timedelta(hours=3)], "today")
    _add_dependants(engine, now)
    holder = make_engine(url)
    with holder.connect() as ingest:  # an uncommitted write into today's partition
        ingest.execute(text("UPDATE spans SET name = 'held' WHERE start_time >= :t"), {"t": today})
        t = time.monotonic()
        with pytest.raises(OperationalError, match="lock"):
            expire(engine, "spans", today + DAY, lock_timeout_s=0.5)
        waited = time.monotonic() - t
        assert _count(engine, ScoreRow) == 2 and _count(engine, EvalQueueRow) == 2  # rolled back whole
        ingest.commit()
    holder.dispose()
    assert waited < 3
    result = expire(engine, "spans", today + DAY, lock_timeout_s=0.5)
    assert result.dropped == [partition_name("spans", today)] and result.rows == 2 and result.scores == 2
    assert _count(engine, SpanRow) == 0 and _count(engine, ScoreRow) == 0
    engine.dispose()


def test_a_queued_call_removed_by_retention_is_dropped_from_the_queue_not_stuck(private_pg: str) -> None:
    """Queued, then its partition dropped before a worker claimed it (no foreign key cascades on
    PostgreSQL): the claim hands out the calls that exist and deletes the orphaned queue row."""
    from evaluators.queue import claim
    from tests.stored_calls import Call, store_calls

    url = private_pg
    upgrade(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    ids = store_calls(engine, [Call("question", "answer"), Call("question 2", "answer 2")])
    with engine.begin() as conn:
        project = conn.execute(select(SpanRow.project_rowid)).scalar()
        conn.execute(EvalQueueRow.__table__.insert(), [
            {"project_rowid": project, "span_rowid": span, "evaluator": "toxicity", "state": "pending", "attempts": 0,
             "call_time": now, "next_attempt_at": now, "created_at": now, "updated_at": now}
            for span in [-1, *ids]])  # -1: a span that is no longer there
    claimed = claim(engine, "toxicity", "w1", 10, now + timedelta(seconds=1), timedelta(minutes=5))
    assert sorted(c.span_rowid for c in claimed) == sorted(ids)
    with engine.connect() as conn:
        assert set(conn.execute(select(EvalQueueRow.span_rowid)).scalars()) == set(ids)
    engine.dispose()
