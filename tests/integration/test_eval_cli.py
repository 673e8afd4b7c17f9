"""`llm-monitor eval` on a JSONL file, through the real Typer app and the packaged offline toxicity evaluator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no llm-monitor.toml from the repository
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    return CliRunner()


def test_eval_scores_a_file_and_reports_failed_lines(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([
        json.dumps({"input": "tips?", "output": "Water the tomatoes in the morning."}),
        json.dumps({"input": "x", "output": "Those people are animals and deserve to die."}),
        "{broken",
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["eval", "--evaluator", "toxicity", "--input", str(source), "--output", str(out),
                                 "--no-progress"])
    assert result.exit_code == 1, result.output  # one line could not be scored
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r.get("label") for r in rows[:2]] == ["non-toxic", "toxic"]
    assert rows[2]["error"].startswith("line 3: not JSON")
    assert "2/3 scored, 1 failed" in result.output


def test_eval_unknown_evaluator_lists_the_valid_ones(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"input": "a", "output": "b"}) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["eval", "--evaluator", "toxicty", "--input", str(source), "--no-progress"])
    assert result.exit_code == 2
    assert "toxicity" in result.output and "relevance" in result.output


def test_eval_missing_input_file_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "--evaluator", "toxicity", "--input", str(tmp_path / "nope.jsonl"),
                                 "--no-progress"])
    assert result.exit_code == 2 and "nope.jsonl" in result.output
