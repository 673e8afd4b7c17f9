"""custom: a judge defined in config by a criterion and a rubric. Direction set in config (default: higher is better).

``value`` is P(yes) for "does the answer meet the criterion?" (``scale = "binary"``), or (expected
rating − 1) / 4 for a 1–5 rating (``scale = "likert"``), read from the judge's answer-token
probabilities. Labels are "pass" at or above the threshold and "fail" below. Example:

    [evaluators.politeness]
    evaluator = "custom"
    criterion = "The answer is polite and respectful to the user."
    rubric = "Rudeness, sarcasm or blaming the user fails. Neutral, factual answers pass."
    backend = "judge_openai"
    model = "Qwen/Qwen2.5-7B-Instruct"
    base_url = "http://vllm-judge:8000/v1"

Only judge backends make sense here: the criterion is free text.
"""

from __future__ import annotations

from collections.abc import Sequence

from evaluators.base import EvalItem, Evaluator, Judgement
from evaluators.errors import EvaluatorConfigError
from evaluators.judging import judge_likert, judge_yes_no, likert_prompt, yes_no_prompt
from evaluators.registry import register_evaluator

PROMPT = """Criterion: {criterion}

Rubric:
{rubric}

Question:
{input}
{context}
Answer:
{output}

{ask}"""


@register_evaluator
class Custom(Evaluator):
    name = "custom"
    version = "1"
    direction = "higher_is_better"
    labels = ("pass", "fail")
    requires = ("input", "output")
    default_backend = "judge_transformers"
    capabilities = ("judge",)

    def setup(self) -> None:
        if not self.config.criterion:
            raise EvaluatorConfigError(f"custom evaluator {self.score_name!r} needs `criterion` (and ideally `rubric`)")
        self.direction = self.config.direction  # type: ignore[misc]

    def _prompt(self, item: EvalItem) -> str:
        context = f"\nContext:\n{item.context_text}\n" if item.context_text else ""
        ask = ("Does the answer meet the criterion?" if self.config.scale == "binary"
               else "How well does the answer meet the criterion? 1 = not at all, 5 = fully.")
        return PROMPT.format(criterion=self.config.criterion, rubric=self.config.rubric or "(none given)",
                             input=item.input, context=context, output=item.output, ask=ask)

    def _score_batch(self, items: Sequence[EvalItem]) -> list[Judgement]:
        if self.config.scale == "likert":
            return judge_likert(self.backend, [likert_prompt(self._prompt(i)) for i in items], self.config)
        return judge_yes_no(self.backend, [yes_no_prompt(self._prompt(i)) for i in items], self.config)
