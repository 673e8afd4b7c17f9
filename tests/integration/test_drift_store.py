"""The drift job on real SQLite and PostgreSQL: stored calls -> profiles and results -> ``GET /api/v1/drift``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select

from evaluators.drift.compare import DriftOptions
from evaluators.drift.detect import detect, load_profile, store_profiles
from evaluators.drift.job import DriftJob, windows
from evaluators.drift.load import Window
from evaluators.drift.profiles import count
from monitor.api.app import create_app
from monitor.config import DriftSettings, Settings
from monitor.store.models import DriftProfileRow, SpanRow
from tests.stored_calls import Call, store_calls

NOW = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
ANSWERS = ["Paris is the capital of France.", "Water boils at 100 degrees at sea level.",
           "The mitochondria makes energy for the cell.", "Use a list comprehension for that."]
QUESTIONS = ["What is the capital of France?", "When does water boil?", "What do mitochondria do?",
             "How do I build a list in Python?"]
SETTINGS = DriftSettings(window_s=3600, segments=["model"], embeddings=False, min_samples=20)


def _hour(calls_per_model: int, start: datetime, refusals: float = 0.0) -> list[Call]:
    out = []
    for model in ("model-a", "model-b"):
        for i in range(calls_per_model):
            refuse = model == "model-b" and i < refusals * calls_per_model
            answer = "I'm sorry, but I can't help with that request." if refuse else ANSWERS[i % 4]
            out.append(Call(QUESTIONS[i % 4], answer, model=model, start=start + timedelta(seconds=10 * i)))
    return out


def _seed(engine: Engine, refusals: float) -> tuple[Window, Window]:
    current, reference = windows(SETTINGS, NOW)
    store_calls(engine, _hour(80, reference.start) + _hour(80, current.start, refusals))
    return current, reference


def test_job_flags_a_planted_shift_in_one_segment_only(engine: Engine, settings: Settings) -> None:
    current, _ = _seed(engine, refusals=0.4)
    written = DriftJob(SETTINGS, engine).run_once(NOW)
    assert written["default"] > 0
    with TestClient(create_app(settings, engine)) as client:
        body = client.get("/api/v1/drift", params={"drifted": "true"}).json()
        everything = client.get("/api/v1/drift").json()["items"]
    flagged = {(r["segment"], r["feature"]) for r in body["items"]}
    assert ("model=model-b", "is_refusal") in flagged and ("all", "is_refusal") in flagged
    assert not any(seg == "model=model-a" for seg, _ in flagged)  # the unshifted segment stays quiet
    assert not any(f.startswith("input_") for _, f in flagged)  # the questions did not change
    row = next(r for r in everything if r["segment"] == "model=model-b" and r["feature"] == "is_refusal")
    assert row["window_start"].startswith(current.start.isoformat()[:19]) and row["current_count"] == 80
    assert row["details"]["current_shares"]["1"] == 0.4


def test_unshifted_window_is_not_flagged_and_rerun_replaces_results(engine: Engine, settings: Settings) -> None:
    _seed(engine, refusals=0.0)
    job = DriftJob(SETTINGS, engine)
    first = job.run_once(NOW)["default"]
    assert job.run_once(NOW)["default"] == first
    with TestClient(create_app(settings, engine)) as client:
        items = client.get("/api/v1/drift").json()["items"]
    assert len(items) == first and not any(r["drifted"] for r in items)


def test_profiles_merge_across_windows_and_replace_deleted_raw_rows(engine: Engine) -> None:
    current, reference = _seed(engine, refusals=0.4)
    earlier = Window(reference.start - timedelta(hours=1), reference.start)
    store_calls(engine, _hour(80, earlier.start))
    for window in (earlier, reference):
        assert store_profiles(engine, 1, window, ["model"]) == 3  # all, model-a, model-b
    baseline = Window(earlier.start, reference.end)
    merged = load_profile(engine, 1, "all", baseline)
    assert count(merged, "input_chars") == 320  # two hourly windows of 160 calls
    with engine.begin() as conn:  # retention dropped the raw calls of the baseline
        conn.execute(delete(SpanRow).where(SpanRow.start_time < reference.end))
        assert conn.execute(select(func.count()).select_from(DriftProfileRow)).scalar() == 6
    found = {s.segment: s for s in detect(engine, 1, current, baseline, ["model"], DriftOptions(min_samples=20))}
    flagged = {r.feature for r in found["model=model-b"].results if r.outcome.drifted}
    assert "is_refusal" in flagged
    assert not any(r.outcome.drifted for r in found["model=model-a"].results)
    assert "input_oov_rate" not in {r.feature for r in found["all"].results}  # needs raw reference rows


def test_worker_starts_the_drift_thread_and_stops_it(engine: Engine, settings: Settings) -> None:
    from monitor.worker import Worker

    worker = Worker(settings.model_copy(update={"drift": SETTINGS}), engine)
    worker.start()
    try:
        assert "llm-monitor-drift" in {t.name for t in worker._threads}
    finally:
        worker.stop(timeout_s=5)
    assert not worker._threads


def test_baseline_reference_needs_its_period() -> None:
    import pytest

    with pytest.raises(ValueError, match="baseline_start"):
        windows(DriftSettings(reference="baseline"), NOW)
    current, reference = windows(DriftSettings(reference="baseline", baseline_start=NOW - timedelta(days=30),
                                               baseline_end=NOW - timedelta(days=23)), NOW)
    assert current.end == NOW.replace(minute=0) and reference.seconds == 7 * 86400


def test_evaluator_score_distributions_drift_per_segment(engine: Engine) -> None:
    from monitor.store.models import ScoreRow

    current, reference = _seed(engine, refusals=0.0)
    with engine.begin() as conn:
        calls = conn.execute(select(SpanRow.id, SpanRow.trace_id, SpanRow.span_id, SpanRow.response_model,
                                    SpanRow.start_time)).all()
        rows = []
        for c in calls:
            now_hour = c.start_time >= current.start
            i = int((c.start_time - (current.start if now_hour else reference.start)).total_seconds()) // 10
            toxic = now_hour and c.response_model == "model-b"  # model-b's answers got more toxic this hour
            rows.append({"project_rowid": 1, "span_rowid": c.id, "trace_id": c.trace_id, "span_id": c.span_id,
                         "name": "toxicity", "source": "evaluator", "created_at": NOW,
                         "value": (0.8 if toxic else 0.05) + 0.001 * i})
        conn.execute(ScoreRow.__table__.insert(), rows)
    found = {s.segment: s for s in detect(engine, 1, current, reference, ["model"], DriftOptions(min_samples=20))}
    score_b = next(r for r in found["model=model-b"].results if r.feature == "score.toxicity")
    score_a = next(r for r in found["model=model-a"].results if r.feature == "score.toxicity")
    assert score_b.outcome.drifted and score_b.details["current_mean"] > 0.8
    assert not score_a.outcome.drifted
