"""Call rollups (monitor.store.call_rollup) and the long-range reads built on them (monitor.query_views),
on SQLite and PostgreSQL: the dashboard's figures from rollups + spans match the figures from the
spans alone (counts and sums exactly, percentiles within the sketch's 2 %), late and changed
calls are rolled again, and the reads fall back to the spans where the rollups cannot answer.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from monitor import query_views as qv
from monitor.config import Settings
from monitor.query import CallFilters, percentile
from monitor.store import call_rollup, sketch
from monitor.store.advisory import lock_key
from monitor.store.call_rollup import HOUR, CallRollupStats, floor_to, mark_dirty, roll_up_calls
from monitor.store.models import CallRollupRow, CallRollupStateRow, SpanRow
from monitor.worker import Worker
from tests.stored_calls import project_rowid

MODELS = ("gpt-4o", "gpt-4o-mini", "llama")
EXACT = ("bucket", "bucket_s", "group", "requests", "errors", "error_rate", "input_tokens", "output_tokens",
         "total_tokens", "priced_requests")
PERCENTILES = ("latency_ms_p50", "latency_ms_p95", "latency_ms_p99", "ttft_ms_p50", "ttft_ms_p95")


def _span(pid: int, start: datetime, rng: random.Random, received: datetime, **over: Any) -> dict[str, Any]:
    model = rng.choice(MODELS)
    failed = rng.random() < 0.1
    duration = rng.lognormvariate(6.5, 0.6)
    row = {
        "project_rowid": pid, "trace_id": secrets.token_hex(16), "span_id": secrets.token_hex(8),
        "parent_span_id": None, "name": f"chat {model}", "kind": 3, "start_time": start,
        "end_time": start + timedelta(milliseconds=duration), "duration_ms": duration,
        "status_code": 2 if failed else 1, "status_message": None, "service_name": rng.choice(("bot", "search")),
        "scope_name": None, "attributes": {}, "resource": {}, "events": None, "links": None, "tags": ["prod"],
        "segment": {"variant": rng.choice("AB"), "region": rng.choice(("eu", "us"))}, "is_llm": True,
        "operation": "chat", "provider": "openai", "request_model": model,
        "response_model": None if failed else (f"{model}-2024" if model == "gpt-4o" else model),
        "input_tokens": rng.randint(10, 3000), "output_tokens": None if failed else rng.randint(1, 900),
        "error_type": "Timeout" if failed else None,
        "ttft_ms": duration * rng.uniform(0.05, 0.3) if rng.random() < 0.6 else None,
        "cost_usd": None if model == "llama" else rng.uniform(1e-5, 1e-2), "user_id": f"u{rng.randint(1, 5)}",
        "input_text": "hello", "output_text": "hi", "received_at": received,
    }
    row.update(over)
    return row


def _insert(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(SpanRow.__table__.insert(), rows)


def _seed(engine: Engine, now: datetime, hours: int = 80, calls: int = 900) -> tuple[int, list[dict[str, Any]]]:
    """``calls`` LLM calls over the ``hours`` before ``now`` (the last ones in the unrolled hour), plus
    a few multi-span traces whose nested LLM spans must not count, and a non-LLM span."""
    rng = random.Random(7)
    pid = project_rowid(engine)
    received = now - timedelta(minutes=10)  # before the rollup round's grace: not re-read as late by the next one
    rows = [_span(pid, now - timedelta(seconds=rng.uniform(5, hours * 3600)), rng, received) for _ in range(calls)]
    for outer in rows[:40]:  # the inference server's own span inside the client's: not a second call
        rows.append(_span(pid, outer["start_time"] + timedelta(milliseconds=1), rng, received,
                          trace_id=outer["trace_id"], parent_span_id=outer["span_id"]))
    rows.append(_span(pid, now - timedelta(hours=3), rng, received, is_llm=False, request_model=None,
                      response_model=None))
    _insert(engine, rows)
    return pid, rows


def _close(mine: list[dict[str, Any]], exact: list[dict[str, Any]]) -> None:
    assert [(r["bucket"], r["group"]) for r in mine] == [(r["bucket"], r["group"]) for r in exact]
    for got, ref in zip(mine, exact, strict=True):
        assert {k: got[k] for k in EXACT} == {k: ref[k] for k in EXACT}
        assert got["cost_usd"] == (None if ref["cost_usd"] is None else pytest.approx(ref["cost_usd"], rel=1e-9))
        for k in PERCENTILES:
            if ref[k] is None:
                assert got[k] is None, k
            else:  # the sketch's bound: 2 % relative (a hair more for float rounding)
                assert got[k] == pytest.approx(ref[k], rel=sketch.ALPHA * 1.001, abs=1e-3), (k, got, ref)


NOW = floor_to(datetime.now(UTC), HOUR) + timedelta(minutes=37)


def test_sketch_percentiles_are_within_two_percent() -> None:
    rng = random.Random(1)
    for n in (1, 2, 7, 100, 5000):
        values = sorted(rng.lognormvariate(5, 1.5) for _ in range(n))
        counts: dict[int, int] = {}
        for v in values:
            sketch.add(counts, v)
        merged: dict[int, int] = {}
        sketch.merge(merged, sketch.dumps(counts))  # stored and read back, as the rollups do
        for q, got in zip((0.0, 0.5, 0.95, 0.99, 1.0), sketch.quantiles(merged, (0.0, 0.5, 0.95, 0.99, 1.0)),
                          strict=True):
            assert got == pytest.approx(percentile(values, q), rel=sketch.ALPHA)
    parts = [sketch.dumps({rng.randint(-5, 400): rng.randint(1, 9) for _ in range(30)}) for _ in range(50)]
    one_by_one: dict[int, int] = {}
    for part in parts:
        sketch.merge(one_by_one, part)
    for few in (parts[:3], parts, ["[]", *parts, ""]):  # plain Python below 8 sketches, numpy above
        at_once: dict[int, int] = {}
        sketch.merge_many(at_once, few)
        expected: dict[int, int] = {}
        for part in few:
            sketch.merge(expected, part)
        assert at_once == expected
    assert expected == one_by_one
    zero_and_negative: dict[int, int] = {}
    for v in (0.0, -5.0, 1e-9, 3.0, float("nan")):
        sketch.add(zero_and_negative, v)
    assert sketch.quantiles(zero_and_negative, (0.0, 0.5, 1.0)) == (
        pytest.approx(-5.0, rel=0.02), 0.0, pytest.approx(3.0, rel=0.02))
    assert sketch.quantiles({}, (0.5,)) == (None,)


@pytest.mark.parametrize(("filters", "bucket_s", "group_by"), [
    (CallFilters(), None, None),
    (CallFilters(), 43200, "model"),
    (CallFilters(), 3600, "segment.variant"),
    (CallFilters(start=NOW - timedelta(days=2, minutes=13)), 10800, None),
    (CallFilters(start=NOW - timedelta(days=2, minutes=13)), None, "service"),
    (CallFilters(model="gpt-4o"), 43200, "segment.region"),
    (CallFilters(model="gpt-4o-2024", service="bot"), None, "model"),
    (CallFilters(segment={"variant": ["B"], "region": ["eu", "us"]}), 86400, "model"),
    (CallFilters(start=NOW - timedelta(hours=70), end=NOW - timedelta(hours=5, minutes=30)), 3600, "model"),
])
def test_rollups_answer_like_the_spans(engine: Engine, filters: CallFilters, bucket_s: int | None,
                                       group_by: str | None) -> None:
    pid, _ = _seed(engine, NOW)
    stats = roll_up_calls(engine, NOW, grace_s=120)
    assert stats.hours >= 79 and stats.blocks >= 5 and stats.rows > 0
    mine = qv.call_series(engine, pid, filters, bucket_s, group_by)
    exact = qv._raw_series(engine, pid, filters, bucket_s, group_by)
    assert mine and all(r["approximate"] for r in mine) and not any(r["approximate"] for r in exact)
    _close(mine, exact)
    if bucket_s is None:
        _close(qv.call_stats(engine, pid, filters, group_by), sorted(exact, key=lambda r: (-r["requests"],
                                                                                           str(r["group"]))))


def test_rollup_rows_and_blocks_hold_every_outermost_call(engine: Engine) -> None:
    _, rows = _seed(engine, NOW)
    roll_up_calls(engine, NOW, grace_s=120)
    rolled_until = floor_to(NOW - timedelta(seconds=120), HOUR)
    calls = [r for r in rows if r["is_llm"] and r["parent_span_id"] is None and r["start_time"] < rolled_until]
    with engine.connect() as conn:
        per_level = {lvl: sum(conn.scalars(select(CallRollupRow.requests).where(CallRollupRow.resolution_s == lvl)))
                     for lvl in (3600, 43200)}
        state = conn.execute(select(CallRollupStateRow)).one()
    assert per_level[3600] == len(calls)
    complete_blocks = floor_to(rolled_until, 43200)
    assert per_level[43200] == sum(1 for c in calls if c["start_time"] < complete_blocks)
    assert state.rolled_until.replace(tzinfo=UTC) == rolled_until
    again = roll_up_calls(engine, NOW, grace_s=120)  # nothing new: no hour rolled, the same rows
    assert (again.hours, again.rerolled) == (0, 0)


def test_late_spans_and_late_parents_are_rolled_again(engine: Engine) -> None:
    pid, rows = _seed(engine, NOW)
    roll_up_calls(engine, NOW, grace_s=120)
    everything = CallFilters()
    before = qv.call_stats(engine, pid, everything)[0]["requests"]
    rng = random.Random(3)
    received = NOW  # stored during the round's grace period
    old_hour = NOW - timedelta(hours=50)
    late = [_span(pid, old_hour, rng, received) for _ in range(3)]
    # a late LLM parent, an hour before a call it wraps: that call becomes nested and stops counting
    child = next(r for r in rows if r["is_llm"] and r["parent_span_id"] is None
                 and NOW - timedelta(hours=40) > r["start_time"] > NOW - timedelta(hours=60))
    parent_id = secrets.token_hex(8)
    with engine.begin() as conn:
        conn.execute(update(SpanRow).where(SpanRow.span_id == child["span_id"]).values(parent_span_id=parent_id))
    late.append(_span(pid, child["start_time"] - timedelta(minutes=70), rng, received, trace_id=child["trace_id"],
                      span_id=parent_id))
    _insert(engine, late)
    exact = qv._raw_series(engine, pid, everything, None, None)[0]["requests"]
    assert exact == before + 4 - 1
    assert qv.call_stats(engine, pid, everything)[0]["requests"] == before  # not rolled again yet
    stats = roll_up_calls(engine, NOW + timedelta(minutes=1), grace_s=120)
    assert stats.rerolled == 3  # the late calls' hour, the parent's and the child's
    _close(qv.call_series(engine, pid, everything, 43200, "model"), qv._raw_series(engine, pid, everything, 43200,
                                                                                    "model"))
    assert qv.call_stats(engine, pid, everything)[0]["requests"] == exact


def test_calls_changed_after_rollup_are_rolled_again_when_marked(engine: Engine) -> None:
    pid, rows = _seed(engine, NOW)
    roll_up_calls(engine, NOW, grace_s=120)
    unpriced = [r for r in rows if r["is_llm"] and r["parent_span_id"] is None and r["cost_usd"] is None
                and r["start_time"] < NOW - timedelta(hours=30)][:5]
    with engine.begin() as conn:  # what monitor.gpu_cost does when it prices calls by GPU time
        conn.execute(update(SpanRow).where(SpanRow.span_id.in_([r["span_id"] for r in unpriced]))
                     .values(cost_usd=0.5, cost_source="gpu_time"))
        mark_dirty(conn, [(pid, r["start_time"]) for r in unpriced])
    before = qv.call_stats(engine, pid, CallFilters())[0]
    stats = roll_up_calls(engine, NOW, grace_s=120)
    assert stats.rerolled == len({floor_to(r["start_time"], HOUR) for r in unpriced})
    after = qv.call_stats(engine, pid, CallFilters())[0]
    assert after["priced_requests"] == before["priced_requests"] + 5
    assert after["cost_usd"] == pytest.approx(before["cost_usd"] + 2.5)
    _close(qv.call_series(engine, pid, CallFilters(), None, "model"),
           qv._raw_series(engine, pid, CallFilters(), None, "model"))


def test_reads_use_the_spans_where_rollups_cannot_answer(engine: Engine) -> None:
    pid, _ = _seed(engine, NOW)
    long = CallFilters(start=NOW - timedelta(days=3))
    assert not any(r["approximate"] for r in qv.call_series(engine, pid, long, 43200))  # no rollup yet
    roll_up_calls(engine, NOW, grace_s=120)
    assert all(r["approximate"] for r in qv.call_series(engine, pid, long, 43200))
    day = CallFilters(start=(NOW - timedelta(hours=24)).replace(second=0, microsecond=0))  # "Last 24 hours"
    for filters, bucket_s, group_by in [
        (day, None, None),  # fewer than 24 whole hours: exact
        (long, 1800, None),  # buckets shorter than an hour
        (replace(long, tag="prod"), None, None), (replace(long, user="u1"), None, None),
        (replace(long, has_error=True), None, None), (long, None, "provider"), (long, None, "language"),
    ]:
        rows = qv.call_series(engine, pid, filters, bucket_s, group_by)
        assert rows and not any(r["approximate"] for r in rows), (filters, bucket_s, group_by)
        assert rows == qv._raw_series(engine, pid, filters, bucket_s, group_by)


def test_worker_round_rolls_calls_up(db_url: str, engine: Engine) -> None:
    pid, _ = _seed(engine, NOW, hours=30, calls=200)
    worker = Worker(Settings(database_url=db_url, auth="disabled"), engine=engine, clock=lambda: NOW)
    result = worker.maintain_once()
    assert isinstance(result["call_rollup"], CallRollupStats) and result["call_rollup"].hours >= 29
    rows = qv.call_stats(engine, pid, CallFilters())
    assert rows[0]["approximate"] and rows[0]["requests"] == 200


def _naive_search(engine: Engine, pid: int, word: str, limit: int) -> list[str]:
    """``list_traces``' definition, read in one query: the traces of the newest ``limit × 20`` matching calls."""
    with engine.connect() as conn:
        rows = conn.execute(select(SpanRow.trace_id, SpanRow.start_time, SpanRow.id).where(
            SpanRow.project_rowid == pid, SpanRow.is_llm, SpanRow.parent_span_id.is_(None),
            SpanRow.input_text.contains(word)).order_by(SpanRow.start_time.desc(), SpanRow.id.desc())
            .limit(limit * 20)).all()
    return list(dict.fromkeys(r.trace_id for r in rows))[:limit]


def test_text_search_reads_newest_first_in_windows(engine: Engine) -> None:
    pid, rows = _seed(engine, NOW)
    calls = sorted((r for r in rows if r["is_llm"] and r["parent_span_id"] is None), key=lambda r: r["start_time"])
    needles = calls[::97]  # one call in 97, spread over the 80 hours
    with engine.begin() as conn:
        conn.execute(update(SpanRow).where(SpanRow.span_id.in_([r["span_id"] for r in needles]))
                     .values(input_text="where is my Invoice?"))
    for limit in (1, 3, 50):  # the newest hour, several windows, the whole range
        got = [t["trace_id"] for t in qv.list_traces(engine, pid, CallFilters(), "invoice", limit)]
        assert got == _naive_search(engine, pid, "Invoice", limit) and len(got) == min(limit, len(needles))
    week = CallFilters(start=NOW - timedelta(days=7))
    assert [t["trace_id"] for t in qv.list_traces(engine, pid, week, "INVOICE", 3)] == \
        _naive_search(engine, pid, "Invoice", 3)
    full = qv.search_traces(engine, pid, CallFilters(), "zebracorn", 10)
    assert full == qv.TraceSearch([], None, True)
    cut = qv.search_traces(engine, pid, CallFilters(), "zebracorn", 10, budget_s=0.0)  # stops after one window
    assert not cut.complete and cut.traces == []
    assert cut.searched_from == calls[-1]["start_time"] + timedelta(microseconds=1) - qv.SEARCH_FIRST_WINDOW
    partial = qv.search_traces(engine, pid, CallFilters(), "invoice", 50, budget_s=0.0)
    assert not partial.complete and [t["trace_id"] for t in partial.traces] == \
        [r["trace_id"] for r in reversed(needles) if r["start_time"] >= partial.searched_from]


def test_rollups_of_deleted_calls_are_dropped_and_never_read(engine: Engine) -> None:
    pid, _ = _seed(engine, NOW)
    roll_up_calls(engine, NOW, grace_s=120)
    cut = floor_to(NOW - timedelta(hours=50), HOUR)
    with engine.begin() as conn:  # what span retention does with the oldest partitions
        conn.execute(SpanRow.__table__.delete().where(SpanRow.start_time < cut))
    everything = CallFilters()
    _close(qv.call_series(engine, pid, everything, 43200), qv._raw_series(engine, pid, everything, 43200))
    roll_up_calls(engine, NOW + timedelta(minutes=1), grace_s=120)
    with engine.connect() as conn:
        oldest = conn.scalar(select(CallRollupRow.bucket_start).where(CallRollupRow.resolution_s == HOUR)
                             .order_by(CallRollupRow.bucket_start).limit(1))
    assert oldest.replace(tzinfo=UTC) >= cut
    _close(qv.call_stats(engine, pid, everything, "model"),
           sorted(qv._raw_series(engine, pid, everything, None, "model"), key=lambda r: (-r["requests"],
                                                                                          str(r["group"]))))


def test_concurrent_workers_roll_up_once_without_conflict(engine: Engine) -> None:
    """Several workers on one database: on PostgreSQL the round is taken by one of them (an
    advisory lock) and the others skip it; found by the two-servers-three-workers test, where two
    rounds raced on the state row."""
    import threading

    _, rows = _seed(engine, NOW)
    if engine.dialect.name == "postgresql":
        with engine.connect() as holder:  # another worker is mid-round
            holder.exec_driver_sql(f"SELECT pg_advisory_lock({lock_key(call_rollup._LOCK_NAME)})")
            holder.commit()
            assert roll_up_calls(engine, NOW, grace_s=120) == CallRollupStats()
            holder.exec_driver_sql(f"SELECT pg_advisory_unlock({lock_key(call_rollup._LOCK_NAME)})")
            holder.commit()
    errors: list[BaseException] = []

    def round_() -> None:
        try:
            roll_up_calls(engine, NOW, grace_s=120)
        except BaseException as exc:  # any failure of a round is reported below
            errors.append(exc)

    threads = [threading.Thread(target=round_) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if engine.dialect.name == "postgresql":
        assert not errors
    rolled_until = floor_to(NOW - timedelta(seconds=120), HOUR)
    calls = [r for r in rows if r["is_llm"] and r["parent_span_id"] is None and r["start_time"] < rolled_until]
    roll_up_calls(engine, NOW, grace_s=120)
    with engine.connect() as conn:
        hourly = sum(conn.scalars(select(CallRollupRow.requests).where(CallRollupRow.resolution_s == 3600)))
        assert conn.scalar(select(func.count()).select_from(CallRollupStateRow)) == 1
    assert hourly == len(calls)
