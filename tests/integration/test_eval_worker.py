"""The online evaluation worker on real SQLite and PostgreSQL with the real (CPU) toxicity evaluator."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

from evaluators.queue import PARKED, PENDING, Q
from evaluators.queue_stats import queue_stats
from evaluators.registry import build_evaluator
from evaluators.sampling import SamplingRule, sample_point
from evaluators.worker import EvaluationWorker
from monitor.api.app import create_app
from monitor.config import EvaluationSettings, Settings
from monitor.store import make_engine
from monitor.store.models import ScoreRow, SpanRow
from tests.stored_calls import Call, store_calls

FAST = EvaluationSettings(max_batch_wait_s=0.0, poll_interval_s=0.05, backoff_s=0.0)
TABLES = {"toxicity": {"batch_size": 16}}


@pytest.fixture(scope="module")
def toxicity() -> object:
    """One real evaluator for the module (MiniLM loads once)."""
    return build_evaluator("toxicity", TABLES)


@pytest.fixture
def clean(engine: Engine) -> Engine:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM worker_leases"))
    return engine


def _calls(n: int, **kw: object) -> list[Call]:
    return [Call(input=f"question {i}", output=f"a polite answer number {i}", **kw) for i in range(n)]  # type: ignore[arg-type]


def _scores_per_span(engine: Engine) -> dict[int, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(ScoreRow.span_rowid, func.count()).group_by(ScoreRow.span_rowid)).all())


def _worker(engine: Engine, toxicity: object, tables: dict | None = None, options: EvaluationSettings = FAST,
            **kw: object) -> EvaluationWorker:
    tables = tables or TABLES
    return EvaluationWorker(engine, tables, options, evaluators={n: toxicity for n in tables}, **kw)  # type: ignore


def test_scores_sampled_calls_once_with_full_provenance(clean: Engine, toxicity: object) -> None:
    ids = store_calls(clean, _calls(30))
    worker = _worker(clean, toxicity, {"toxicity": {"sample_rate": 0.5}})
    while worker.run_once(flush=True):
        pass
    with clean.connect() as conn:
        spans = conn.execute(select(SpanRow.id, SpanRow.trace_id, SpanRow.span_id).where(SpanRow.id.in_(ids))).all()
        rows = conn.execute(select(ScoreRow.__table__)).all()
    expected = {s.id for s in spans if sample_point("toxicity", s.trace_id, s.span_id) < 0.5}
    assert 0 < len(expected) < 30
    assert {r.span_rowid for r in rows} == expected and len(rows) == len(expected)
    row = rows[0]
    assert (row.source, row.name, row.evaluator, row.evaluator_version) == ("evaluator", "toxicity", "toxicity", "1")
    assert "MiniLM" in (row.model or "") and row.latency_ms > 0 and 0.0 <= row.value <= 1.0
    assert worker.run_once(flush=True) == 0  # nothing left: skipped calls are not looked at again
    stats = queue_stats(clean, datetime.now(UTC))[0]
    assert (stats["done"], stats["skipped"], stats["depth"]) == (len(expected), 30 - len(expected), 0)


def test_filters_by_model_service_tag_and_segment(clean: Engine, toxicity: object) -> None:
    store_calls(clean, [
        Call("q", "a", model="gpt-a", service="bot", tags=["prod"], segment={"region": "eu"}),
        Call("q", "a", model="gpt-b", service="bot", tags=["prod"], segment={"region": "eu"}),
        Call("q", "a", model="gpt-a", service="other", tags=["prod"], segment={"region": "eu"}),
        Call("q", "a", model="gpt-a", service="bot", tags=["dev"], segment={"region": "eu"}),
        Call("q", "a", model="gpt-a", service="bot", tags=["prod"], segment={"region": "us"}),
    ])
    table = {"filters": {"model": "gpt-a", "service": "bot", "tag": "prod", "segment.region": "eu"}}
    worker = _worker(clean, toxicity, {"toxicity": table})
    worker.run_once(flush=True)
    with clean.connect() as conn:
        scored = conn.execute(select(SpanRow.response_model, SpanRow.service_name, SpanRow.segment)
                              .join(ScoreRow, ScoreRow.span_rowid == SpanRow.id)).all()
    assert [(m, s, seg["region"]) for m, s, seg in scored] == [("gpt-a", "bot", "eu")]


def test_sampling_rule_rejects_unknown_filters_and_bad_rates() -> None:
    with pytest.raises(Exception, match="unknown filter"):
        SamplingRule.from_table({"filters": {"colour": "red"}})
    with pytest.raises(Exception, match="sample_rate"):
        SamplingRule.from_table({"sample_rate": 1.5})
    rule = SamplingRule.from_table({"sample_rate": 0.25})
    share = sum(rule.sampled("toxicity", f"{i:032x}", f"{i:016x}") for i in range(4000)) / 4000
    assert 0.22 < share < 0.28


def test_three_postgres_workers_score_each_call_exactly_once(pg_url: str, toxicity: object) -> None:
    engine = make_engine(pg_url, pool_size=8)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE projects, worker_leases RESTART IDENTITY CASCADE"))
    ids = store_calls(engine, _calls(240))
    stop = threading.Event()
    workers = [_worker(engine, toxicity) for _ in range(3)]
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
    for t in threads:
        t.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=120)
        while sum(_scores_per_span(engine).values()) < len(ids) and datetime.now(UTC) < deadline:
            stop.wait(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    per_span = _scores_per_span(engine)
    assert set(per_span) == set(ids) and set(per_span.values()) == {1}
    with engine.connect() as conn:
        by_worker = conn.execute(text("SELECT count(DISTINCT claimed_by) FROM eval_queue")).scalar()
    assert by_worker == 0  # every claim finished and cleared
    engine.dispose()


def test_a_killed_workers_claims_are_picked_up_after_their_lease(clean: Engine, toxicity: object) -> None:
    ids = store_calls(clean, _calls(10))
    slow = EvaluationSettings(max_batch_wait_s=3600, lease_s=0.5)
    doomed = _worker(clean, toxicity, options=slow, worker_id="doomed")
    doomed.run_once()  # claims everything, then waits for a fuller batch ... and "dies" (never shuts down)
    with clean.connect() as conn:
        assert conn.execute(select(func.count()).where(Q.claimed_by == "doomed")).scalar() == 10
    survivor = _worker(clean, toxicity, worker_id="survivor", clock=lambda: datetime.now(UTC) + timedelta(seconds=1))
    survivor.run_once(flush=True)
    assert _scores_per_span(clean) == dict.fromkeys(ids, 1)
    doomed.run_once(flush=True)  # the dead worker wakes up: its stale claims write nothing
    assert _scores_per_span(clean) == dict.fromkeys(ids, 1)


def test_shutdown_releases_held_claims(clean: Engine, toxicity: object) -> None:
    store_calls(clean, _calls(5))
    worker = _worker(clean, toxicity, options=EvaluationSettings(max_batch_wait_s=3600))
    worker.run_once()
    worker.shutdown()
    with clean.connect() as conn:
        rows = conn.execute(select(Q.state, Q.attempts, Q.claimed_by)).all()
    assert rows and set(rows) == {(PENDING, 0, None)}
    assert _scores_per_span(clean) == {}


def test_sqlite_lease_lets_one_worker_run(tmp_path: object, toxicity: object) -> None:
    from monitor.migrate import upgrade

    url = f"sqlite:///{tmp_path}/lease.db"
    upgrade(url)
    engine = make_engine(url)
    store_calls(engine, _calls(3))
    first, second = _worker(engine, toxicity, worker_id="first"), _worker(engine, toxicity, worker_id="second")
    assert first._hold_lease() and not second._hold_lease()
    stop = threading.Event()
    stop.set()
    first.run(stop)  # returns at once and gives the lease up
    assert second._hold_lease()
    engine.dispose()


def test_failing_items_retry_with_backoff_then_park_visibly(clean: Engine) -> None:
    # A real judge that cannot be reached: every batch fails with the backend's error.
    tables = {"politeness": {"evaluator": "custom", "backend": "judge_openai", "base_url": "http://127.0.0.1:9/v1",
                             "model": "judge", "retries": 0, "criterion": "The answer is polite.",
                             "request_timeout_s": 2}}
    store_calls(clean, _calls(2))
    options = EvaluationSettings(max_batch_wait_s=0, max_attempts=2, backoff_s=30)
    now = [datetime.now(UTC)]
    worker = EvaluationWorker(clean, tables, options, clock=lambda: now[0])
    worker.run_once()
    with clean.connect() as conn:
        assert set(conn.execute(select(Q.state, Q.attempts)).all()) == {(PENDING, 1)}
    assert worker.run_once() == 0  # backing off: not claimed again yet
    now[0] += timedelta(seconds=31)
    worker.run_once()
    with clean.connect() as conn:
        assert set(conn.execute(select(Q.state, Q.attempts)).all()) == {(PARKED, 2)}
    now[0] += timedelta(days=1)
    assert worker.run_once() == 0  # parked for good
    stats = queue_stats(clean, datetime.now(UTC))[0]
    assert stats["parked"] == 2 and "127.0.0.1:9" in stats["parked_items"][0]["error"].replace("localhost", "127.0.0.1")


def test_calls_without_text_are_parked_at_once(clean: Engine, toxicity: object) -> None:
    store_calls(clean, [Call(input="", output=None)])
    _worker(clean, toxicity).run_once(flush=True)
    stats = queue_stats(clean, datetime.now(UTC))[0]
    assert stats["parked"] == 1 and "no output or input" in stats["parked_items"][0]["error"]


def test_queue_api_reports_depth_and_oldest_age(clean: Engine, settings: Settings, toxicity: object) -> None:
    old = datetime.now(UTC) - timedelta(minutes=10)
    store_calls(clean, _calls(4, start=old))
    _worker(clean, toxicity, options=EvaluationSettings(max_batch_wait_s=3600)).run_once()  # queued and held
    with TestClient(create_app(settings, clean)) as client:
        body = client.get("/api/v1/evaluations/queue").json()
    (entry,) = body["evaluators"]
    assert entry["evaluator"] == "toxicity" and entry["depth"] == 4 and entry["claimed"] == 4
    assert 590 < entry["oldest_unscored_age_s"] < 900



def test_llm_monitor_worker_runs_the_scorer_thread_when_evaluators_are_configured(clean: Engine, db_url: str,
                                                                                    toxicity: object) -> None:
    from monitor.worker import Worker

    ids = store_calls(clean, _calls(6))
    settings = Settings(database_url=db_url, evaluators=TABLES, drift={"enabled": False},
                        evaluation={"poll_interval_s": 0.05, "max_batch_wait_s": 0})
    worker = Worker(settings, clean)
    worker.start()
    try:
        assert "llm-monitor-evaluations" in {t.name for t in worker._threads}
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while len(_scores_per_span(clean)) < len(ids) and datetime.now(UTC) < deadline:
            threading.Event().wait(0.1)
    finally:
        worker.stop()
    assert _scores_per_span(clean) == dict.fromkeys(ids, 1)


DOOMED = """
import sys
from sqlalchemy import create_engine
from evaluators.worker import EvaluationWorker
from monitor.config import EvaluationSettings
from monitor.store import make_engine
url, base_url = sys.argv[1], sys.argv[2]
tables = {"politeness": {"evaluator": "custom", "backend": "judge_openai", "base_url": base_url, "model": "judge",
                         "criterion": "The answer is polite.", "retries": 0, "request_timeout_s": 120}}
EvaluationWorker(make_engine(url), tables, EvaluationSettings(max_batch_wait_s=0, lease_s=2),
                 worker_id="doomed").run_once()
"""


def test_a_worker_killed_mid_batch_has_its_calls_scored_by_another(clean: Engine, db_url: str) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from evaluators.testing import StubJudgeServer

    ids = store_calls(clean, _calls(6))
    with StubJudgeServer(delay_s=60) as hanging, StubJudgeServer(answer=lambda _: {"yes": 0.9, "no": 0.1}) as judge:
        proc = subprocess.Popen([sys.executable, "-c", DOOMED, db_url, hanging.base_url],
                                cwd=os.getcwd(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not hanging.max_in_flight and time.monotonic() < deadline:  # claimed; its judge call in flight
                time.sleep(0.1)
            assert hanging.max_in_flight, "the doomed worker never reached its judge"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        with clean.connect() as conn:
            assert set(conn.execute(select(Q.state, Q.claimed_by)).all()) == {("claimed", "doomed")}
        tables = {"politeness": {"evaluator": "custom", "backend": "judge_openai", "base_url": judge.base_url,
                                 "model": "judge", "criterion": "The answer is polite."}}
        survivor = EvaluationWorker(clean, tables, FAST, worker_id="survivor",
                                    clock=lambda: datetime.now(UTC) + timedelta(seconds=5))  # past the 2 s lease
        survivor.run_once(flush=True)
    assert _scores_per_span(clean) == dict.fromkeys(ids, 1)
    with clean.connect() as conn:
        assert set(conn.execute(select(Q.state, Q.attempts)).all()) == {("done", 2)}  # the killed claim counted
