"""Batch scoring of JSONL files (what `llm-monitor eval` runs), on the packaged offline toxicity evaluator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluators import UnknownNameError
from evaluators.batch import parse_line, run_batch
from evaluators.testing import StubJudgeServer


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_scores_every_line_and_marks_bad_ones(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [
        json.dumps({"input": "hi", "output": "Happy to help with your garden!", "metadata": {"id": 1}}),
        "{not json",
        "",
        json.dumps({"input": "", "output": ""}),
        json.dumps({"input": "x", "output": "Those people are animals and deserve to die.", "trace_id": "abc"}),
    ])
    summary = run_batch("toxicity", source, tmp_path / "out.jsonl", progress=False,
                        settings_evaluators={"toxicity": {"batch_size": 2}})
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and (summary.total, summary.scored, summary.failed) == (4, 2, 2)
    assert rows[0]["label"] == "non-toxic" and rows[0]["metadata"] == {"id": 1} and rows[0]["explanation"] is None
    assert rows[3]["label"] == "toxic" and rows[3]["trace_id"] == "abc" and rows[3]["score"] > rows[0]["score"]
    assert rows[0]["evaluated_by"]["evaluator"] == "toxicity"
    assert rows[0]["evaluated_by"]["direction"] == "lower_is_better"
    assert rows[1]["error"].startswith("line 2: not JSON")
    assert rows[2]["error"] == "line 4: toxicity: item 0 has no output or input"
    assert summary.exit_code == 1 and "2/4 scored" in summary.describe()


def test_backend_and_model_flags_override_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_lines(tmp_path / "in.jsonl", [json.dumps({"input": "Capital of France?", "output": "Paris"})])
    with StubJudgeServer(answer=lambda body: {"yes": 0.9, "no": 0.1}) as server:
        settings = {"relevance": {"base_url": server.base_url, "model": "from-config"}}
        summary = run_batch("relevance", source, None, backend="judge_openai", model="from-flag",
                            settings_evaluators=settings, progress=False)
        assert server.requests[0]["model"] == "from-flag"
    row = json.loads(capsys.readouterr().out)
    assert row["score"] == pytest.approx(0.9) and row["evaluated_by"]["model"] == "from-flag"
    assert summary.exit_code == 0 and summary.mean_score == pytest.approx(0.9)


def test_a_failing_judge_marks_its_lines_and_the_run_goes_on(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [json.dumps({"input": f"q{i}", "output": "a"}) for i in range(3)])
    with StubJudgeServer(fail_first=99) as server:
        settings = {"relevance": {"backend": "judge_openai", "base_url": server.base_url, "model": "m", "retries": 0}}
        summary = run_batch("relevance", source, tmp_path / "out.jsonl", settings_evaluators=settings, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert summary.failed == 3 and all("HTTP 503" in r["error"] for r in rows)


def test_unknown_evaluator_and_line_shapes() -> None:
    with pytest.raises(UnknownNameError, match="valid evaluators: coherence, custom"):
        run_batch("nope", "missing.jsonl", progress=False)
    row, item = parse_line('{"input": "q", "output": "a", "context": ["d1", "d2"]}')
    assert item.context_text == "d1\n\nd2" and row["input"] == "q"
