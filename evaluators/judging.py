"""Helpers that turn judge and classifier outputs into ``Judgement``s, shared by the evaluators.

Why: every judge-backed evaluator reads a yes/no or 1–5 answer the same way (probability-weighted,
from the answer-choice tokens), and every classifier-backed one picks one label's probability. Keeping
that here leaves each evaluator module with only its prompt and the meaning of its score.
"""

from __future__ import annotations

from collections.abc import Sequence

from evaluators.backends import JudgePrompt
from evaluators.base import Judgement
from evaluators.config import EvaluatorConfig

YES_NO = ("yes", "no")
LIKERT = ("1", "2", "3", "4", "5")
SYSTEM = ("You are a careful, strict evaluator of AI assistant answers. "
          "Follow the instructions exactly and answer with the requested single word or digit.")
YES_NO_INSTRUCTION = "\n\nAnswer with one word: yes or no."
LIKERT_INSTRUCTION = "\n\nAnswer with a single digit from 1 to 5."


def yes_no_prompt(body: str) -> JudgePrompt:
    return JudgePrompt(user=body.strip() + YES_NO_INSTRUCTION, system=SYSTEM)


def likert_prompt(body: str) -> JudgePrompt:
    return JudgePrompt(user=body.strip() + LIKERT_INSTRUCTION, system=SYSTEM)


def judge_yes_no(judge: object, prompts: Sequence[JudgePrompt], config: EvaluatorConfig,
                 score_is_yes: bool = True) -> list[Judgement]:
    """Score = P(yes) (or P(no) when ``score_is_yes`` is False), renormalised over the two answers."""
    probs = judge.choice_probs(prompts, YES_NO)  # type: ignore[attr-defined]
    values = [p[0] if score_is_yes else p[1] for p in probs]
    return _with_explanations(judge, prompts, values, config)


def judge_likert(judge: object, prompts: Sequence[JudgePrompt], config: EvaluatorConfig) -> list[Judgement]:
    """Score = (expected rating - 1) / 4 under the judge's distribution over the digits 1..5."""
    probs = judge.choice_probs(prompts, LIKERT)  # type: ignore[attr-defined]
    values = [(sum((i + 1) * p for i, p in enumerate(row)) - 1.0) / 4.0 for row in probs]
    return _with_explanations(judge, prompts, values, config)


def _with_explanations(judge: object, prompts: Sequence[JudgePrompt], values: Sequence[float],
                       config: EvaluatorConfig) -> list[Judgement]:
    explanations: Sequence[str | None] = [None] * len(values)
    if config.explain:
        explanations = judge.explain(prompts)  # type: ignore[attr-defined]
    return [Judgement(value=v, explanation=e) for v, e in zip(values, explanations, strict=True)]


def classifier_probability(classifier: object, config: EvaluatorConfig, guesses: Sequence[str],
                           texts: Sequence[str], pairs: Sequence[str] | None = None) -> list[float]:
    """Probability of the label that is the score: ``positive_label`` if configured, else the first guess found."""
    probs = classifier.predict(texts, pairs)  # type: ignore[attr-defined]
    index = classifier.label_index(config.positive_label, guesses)  # type: ignore[attr-defined]
    return [float(row[index]) for row in probs]
