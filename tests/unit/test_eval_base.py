"""The evaluator contract: Score, EvalItem, config, registry, batching, deadlines (no model needed)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
import types
from collections.abc import Sequence

import pytest

import evaluators
from evaluators import (
    EvalItem,
    EvaluatorConfig,
    EvaluatorConfigError,
    EvaluatorTimeout,
    InvalidItemError,
    Judgement,
    Score,
    UnknownNameError,
    build_evaluator,
    evaluator_names,
    register_evaluator,
)
from evaluators.backends import JudgePrompt
from evaluators.base import Evaluator, run_with_timeout
from evaluators.config import resolve_secrets


class ListJudge:
    """A judge plugin that answers from a table: a real Judge implementation, used to exercise the base."""

    kind = "judge_table"
    model_id = "table-judge"

    def __init__(self, p_yes: float = 0.75) -> None:
        self.p_yes, self.batches = p_yes, []

    def choice_probs(self, prompts: Sequence[JudgePrompt], choices: Sequence[str]) -> list[list[float]]:
        self.batches.append(len(prompts))
        return [[self.p_yes, 1 - self.p_yes] if len(choices) == 2 else [0.0, 0.0, 0.0, 0.5, 0.5] for _ in prompts]

    def explain(self, prompts: Sequence[JudgePrompt]) -> list[str]:
        return ["table says so"] * len(prompts)


@register_evaluator
class SlowEvaluator(Evaluator):
    """A plugin evaluator registered exactly like the built-ins; sleeps to exercise the deadline."""

    name = "test_slow"
    version = "7"
    direction = "higher_is_better"
    labels = ("ok", "not ok")
    default_backend = "judge_openai"
    capabilities = ("judge",)

    def _score_batch(self, items: Sequence[EvalItem]) -> list[Judgement]:
        time.sleep(float(items[0].metadata.get("sleep", 0)))
        return [Judgement(0.25 * (i % 5)) for i in range(len(items))]


def test_score_is_frozen_and_checked() -> None:
    score = Score(name="relevance", value=0.7, label="relevant", direction="higher_is_better",
                  evaluator="relevance", evaluator_version="1", model="m", latency_ms=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        score.value = 0.1  # type: ignore[misc]
    assert score.is_good and score.to_dict()["value"] == 0.7
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="in \\[0, 1\\]"):
            dataclasses.replace(score, value=bad)
    with pytest.raises(ValueError, match="direction"):
        dataclasses.replace(score, direction="up")  # type: ignore[arg-type]


def test_eval_item_joins_retrieved_documents() -> None:
    assert EvalItem("q", "a", context=["doc one", "", "doc two"]).context_text == "doc one\n\ndoc two"
    assert EvalItem("q", "a", context="passage").context_text == "passage"
    assert EvalItem("q", "a").context_text is None


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError) as caught:
        build_evaluator("relevence")
    message = str(caught.value)
    for name in ("relevance", "hallucination", "toxicity", "coherence", "prompt_injection", "custom"):
        assert name in message
    with pytest.raises(UnknownNameError, match=r"judge_openai.*judge_transformers"):
        build_evaluator("relevance", backend="judge_gpt")


def test_builtins_and_plugins_share_one_registry() -> None:
    names = evaluator_names()
    builtins = {"relevance", "hallucination", "toxicity", "coherence", "prompt_injection", "custom"}
    assert builtins | {"test_slow"} <= set(names)


def test_config_rejects_unknown_keys_and_accepts_worker_keys() -> None:
    with pytest.raises(EvaluatorConfigError, match=r"unknown evaluator option.*modle.*valid options:.*model"):
        EvaluatorConfig.from_mapping({"modle": "x"})
    config = EvaluatorConfig.from_mapping({"backend": "judge_openai", "sample_rate": 0.1, "filters": {"service": "a"}})
    assert config.backend == "judge_openai"
    with pytest.raises(EvaluatorConfigError, match="batch_size"):
        EvaluatorConfig.from_mapping({"batch_size": 0})
    assert resolve_secrets({"api_key_env": "KEY"}, {"KEY": "s3"})["api_key"] == "s3"
    with pytest.raises(EvaluatorConfigError, match="not set"):
        resolve_secrets({"api_key_env": "MISSING"}, {})


def test_score_batches_stamps_and_labels() -> None:
    judge = ListJudge()
    evaluator = build_evaluator("test_slow", {"test_slow": {"batch_size": 3}}, backend_instance=judge)
    scores = evaluator.score([EvalItem(f"q{i}", "a") for i in range(7)])
    assert [s.value for s in scores] == [0.0, 0.25, 0.5, 0.0, 0.25, 0.5, 0.0]
    assert [s.label for s in scores][:3] == ["not ok", "not ok", "ok"]  # threshold 0.5 is inclusive
    first = scores[0]
    stamp = (first.name, first.evaluator, first.evaluator_version, first.model)
    assert stamp == ("test_slow", "test_slow", "7", "table-judge")
    assert first.latency_ms >= 0 and first.direction == "higher_is_better"


def test_validation_names_the_bad_items_before_any_work() -> None:
    evaluator = build_evaluator("test_slow", backend_instance=ListJudge())
    with pytest.raises(InvalidItemError, match="item 1 has no output; item 2 is a dict"):
        evaluator.score([EvalItem("q", "a"), EvalItem("q", "  "), {"input": "q"}])  # type: ignore[list-item]


def test_a_batch_past_its_deadline_fails_clearly_instead_of_hanging() -> None:
    evaluator = build_evaluator("test_slow", {"test_slow": {"timeout_s": 0.2}}, backend_instance=ListJudge())
    started = time.perf_counter()
    with pytest.raises(EvaluatorTimeout, match=r"test_slow batch of 1 starting at item 0 did not finish within 0\.2 s"):
        evaluator.score([EvalItem("q", "a", metadata={"sleep": 3})])
    assert time.perf_counter() - started < 1.5


def test_run_with_timeout_reraises_the_workers_error() -> None:
    def boom() -> None:
        raise RuntimeError("inner")

    with pytest.raises(RuntimeError, match="inner"):
        run_with_timeout(boom, 1.0, "x")
    assert run_with_timeout(lambda: 3, None, "x") == 3


def test_backend_capability_is_checked() -> None:
    with pytest.raises(EvaluatorConfigError, match=r"cannot use backend 'x'.*needs one of: judge"):
        build_evaluator("test_slow", backend_instance="x")


def test_custom_needs_a_criterion_and_takes_its_direction_from_config() -> None:
    with pytest.raises(EvaluatorConfigError, match="needs `criterion`"):
        build_evaluator("polite", {"polite": {"evaluator": "custom"}}, backend_instance=ListJudge())
    table = {"risky": {"evaluator": "custom", "criterion": "The answer gives medical advice.",
                       "direction": "lower_is_better", "scale": "likert", "explain": True}}
    judge = ListJudge()
    [score] = build_evaluator("risky", table, backend_instance=judge).score([EvalItem("q", "a")])
    assert (score.name, score.evaluator, score.direction) == ("risky", "custom", "lower_is_better")
    assert score.value == pytest.approx((4.5 - 1) / 4) and score.explanation == "table says so"


def test_public_api() -> None:
    public = {n for n, v in vars(evaluators).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    assert set(evaluators.__all__) == public - {"annotations"}


def test_importing_evaluators_does_not_import_torch() -> None:
    code = ("import sys, evaluators; evaluators.evaluator_names(); "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
