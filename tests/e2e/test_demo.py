"""``llm-monitor demo`` end to end on a small run: real Gemma generations traced through the SDK and
the server, scored by the worker, drift stored, GPU-time prices, user thumbs, and the webhook alert
checked against what was scored."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.config import Settings
from monitor.demo.run import EVALUATORS, run_demo
from monitor.store import make_engine
from monitor.store.models import DriftResultRow, ScoreRow, SpanRow

pytestmark = pytest.mark.slow


@pytest.mark.timeout(900)
def test_small_demo_fills_every_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    lines: list[str] = []
    result = run_demo(Settings(database_url=url), requests=12, with_dashboard=False, say=lines.append,
                      progress=False)
    assert (result.calls, result.failed) == (12, 0)
    assert all(result.scored[name] >= 12 for name in EVALUATORS), result.scored
    engine = make_engine(url)
    with engine.connect() as conn:
        calls = conn.execute(select(SpanRow.response_model, SpanRow.output_text, SpanRow.output_tokens,
                                    SpanRow.ttft_ms, SpanRow.cost_source, SpanRow.segment, SpanRow.retrieval_context)
                             .where(SpanRow.is_llm)).all()
        toxicity = [v for (v,) in conn.execute(select(ScoreRow.value).where(ScoreRow.name == "toxicity",
                                                                             ScoreRow.source == "evaluator"))]
        thumbs = conn.execute(select(func.count()).where(ScoreRow.name == "thumbs", ScoreRow.source == "human")
                              ).scalar_one()
        drift_rows = conn.execute(select(func.count()).select_from(DriftResultRow)).scalar_one()
    engine.dispose()
    assert len(calls) == 12
    assert {c.response_model for c in calls} <= {"gemma-3-270m-greedy", "gemma-3-270m-sampled"}
    assert all(c.output_text and c.output_tokens and c.ttft_ms > 0 for c in calls)  # real generations
    assert all(c.cost_source == "gpu_time" for c in calls)  # by the worker's job or the demo's final pass
    assert 0 <= result.gpu_priced <= 12
    assert {c.segment["variant"] for c in calls} <= {"A", "B"} and all(c.retrieval_context for c in calls)
    assert thumbs == result.feedback
    assert drift_rows == result.drift_rows > 0
    toxic_share = sum(v > 0.5 for v in toxicity) / len(toxicity)
    fired = {a["alert"]["rule"] for a in result.alerts if a["transition"] == "firing"}
    assert ("demo: toxic answers" in fired) == (toxic_share > 0.05)
    assert any("webhook received" in line for line in lines) == bool(result.alerts)
