"""judge_transformers on the packaged Gemma 3 270M GGUF: label-token probabilities, batching, explanations.

Slow: the first run in a fresh environment converts the GGUF once (minutes on 2 cores); later runs
load the cached safetensors conversion in seconds. The model is a small base model, so these tests
check mechanics (probabilities, padding, determinism), not judgement quality.
"""

from __future__ import annotations

import pytest

from evaluators import EvalItem, EvaluatorConfig, build_backend, build_evaluator
from evaluators.backends import JudgePrompt
from evaluators.backends.loading import gguf_conversion_dir, packaged_gemma_gguf

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a fresh machine converts the GGUF first

PROMPTS = [JudgePrompt("Is Paris the capital of France? Answer with one word: yes or no."),
           JudgePrompt("Here is a much longer question, padded with extra words so the batch needs left padding: "
                       "is the moon made of green cheese? Answer with one word: yes or no.")]


@pytest.fixture(scope="module")
def gemma():
    return build_backend("judge_transformers", EvaluatorConfig())


def test_choice_probabilities_are_normalised_and_batch_independent(gemma) -> None:
    batched = gemma.choice_probs(PROMPTS, ["yes", "no"])
    alone = [gemma.choice_probs([p], ["yes", "no"])[0] for p in PROMPTS]
    for row, single in zip(batched, alone, strict=True):
        assert sum(row) == pytest.approx(1.0) and 0.0 < row[0] < 1.0
        assert row == pytest.approx(single, abs=2e-3)  # left padding does not change the answer position
    assert gemma.choice_probs(PROMPTS[:1], ["yes", "no"])[0] == pytest.approx(alone[0], abs=1e-5)  # deterministic


def test_likert_choices_and_explanations(gemma) -> None:
    probs = gemma.choice_probs([JudgePrompt("Rate this sentence from 1 to 5: 'The cat sat.' Answer with a digit.")],
                               ["1", "2", "3", "4", "5"])[0]
    assert len(probs) == 5 and sum(probs) == pytest.approx(1.0)
    [text] = gemma.explain(PROMPTS[:1])
    assert isinstance(text, str) and text


def test_gguf_is_converted_once_to_safetensors(gemma) -> None:
    converted = gguf_conversion_dir(packaged_gemma_gguf())
    assert (converted / "model.safetensors").exists() and (converted / "tokenizer.json").exists()
    assert gemma.model_id == "gemma-3-270m (Q4_K_M GGUF)" and gemma.tokenizer.padding_side == "left"


def test_judge_backed_evaluators_on_the_default_judge(gemma) -> None:
    item = EvalItem("What is the boiling point of water at sea level?", "Water boils at 100 degrees Celsius.",
                    context="At sea level, water boils at 100 °C (212 °F).")
    custom = {"concise": {"evaluator": "custom", "criterion": "The answer is concise.", "explain": True}}
    scores = [build_evaluator(name, custom, backend_instance=gemma).score([item])[0]
              for name in ("coherence", "concise")]
    scores += [build_evaluator(name, backend="judge_transformers", backend_instance=gemma).score([item])[0]
               for name in ("relevance", "hallucination", "toxicity", "prompt_injection")]
    for score in scores:
        assert 0.0 <= score.value <= 1.0 and score.model == "gemma-3-270m (Q4_K_M GGUF)"
    assert scores[1].explanation and scores[0].explanation is None
