"""`llm-monitor eval --since`: backfill stored calls through the real Typer app and the offline toxicity evaluator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from evaluators.backfill import parse_since
from evaluators.queue import DONE, Q
from monitor.cli import app
from monitor.store.models import ScoreRow, SpanRow
from tests.stored_calls import Call, store_calls


def _scored(engine: Engine) -> dict[int, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(ScoreRow.span_rowid, func.count()).where(ScoreRow.name == "toxicity")
                                 .group_by(ScoreRow.span_rowid)).all())


def test_backfill_scores_recent_unscored_calls_once(db_url: str, engine: Engine, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", db_url)
    now = datetime.now(UTC)
    recent = store_calls(engine, [Call(f"q{i}", f"answer {i}", start=now - timedelta(minutes=5)) for i in range(6)])
    old = store_calls(engine, [Call("old q", "old answer", start=now - timedelta(days=3))])
    with engine.begin() as conn:  # one recent call already has a human toxicity score
        span = conn.execute(select(SpanRow.project_rowid, SpanRow.trace_id, SpanRow.span_id)
                            .where(SpanRow.id == recent[0])).one()
        conn.execute(ScoreRow.__table__.insert().values(
            project_rowid=span.project_rowid, span_rowid=recent[0], trace_id=span.trace_id, span_id=span.span_id,
            name="toxicity", value=0.0, source="human", created_at=now))
    runner = CliRunner()
    args = ["eval", "--evaluator", "toxicity", "--since", "1h", "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "5/5 stored calls scored" in result.output
    scored = _scored(engine)
    assert set(scored) == set(recent) and set(scored.values()) == {1} and old[0] not in scored
    with engine.connect() as conn:  # the online worker will not score them again
        assert conn.execute(select(func.count()).where(Q.state == DONE)).scalar() == 5
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "0/0 stored calls scored" in again.output
    assert _scored(engine) == scored


def test_backfill_needs_input_or_since(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    result = CliRunner().invoke(app, ["eval", "--evaluator", "toxicity"])
    assert result.exit_code == 2 and "--since" in result.output
    bad = CliRunner().invoke(app, ["eval", "--evaluator", "toxicity", "--since", "yesterday"])
    assert bad.exit_code == 2 and "must look like" in bad.output


def test_parse_since_accepts_durations_and_iso_times() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("2026-11-01T00:00", now) == datetime(2026, 11, 1, tzinfo=UTC)


def test_input_path_still_reads_evaluator_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from evaluators.testing import StubJudgeServer

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"input": "hi", "output": "Hello, how can I help?"}) + "\n", encoding="utf-8")
    with StubJudgeServer(answer=lambda _: {"yes": 0.9, "no": 0.1}) as judge:
        (tmp_path / "llm-monitor.toml").write_text(
            f'[evaluators.politeness]\nevaluator = "custom"\nbackend = "judge_openai"\nmodel = "judge"\n'
            f'base_url = "{judge.base_url}"\ncriterion = "The answer is polite."\n', encoding="utf-8")
        monkeypatch.setenv("LLM_MONITOR_CONFIG", str(tmp_path / "llm-monitor.toml"))
        out = tmp_path / "out.jsonl"
        result = CliRunner().invoke(app, ["eval", "--evaluator", "politeness", "--input", str(source),
                                          "--output", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["score"] == pytest.approx(0.9, abs=0.01)
