"""coherence: is the answer clear, logically ordered and consistent with itself? Higher is better.

``value`` is (expected rating − 1) / 4, where the rating is the judge's 1–5 coherence grade read as a
probability distribution over the digit tokens (label "coherent" at or above the threshold, else
"incoherent"). The question is shown so that an answer is judged as a reply, but correctness and
relevance are explicitly out of scope (they have their own evaluators).

- ``judge_transformers`` (default, offline: the packaged Gemma 3 270M) or ``judge_openai``.
- ``classifier``: an acceptability/fluency classifier (e.g. a CoLA model); the score is the probability
  of ``positive_label`` or the first of "acceptable", "coherent", "LABEL_1".

Where it is weak: the packaged 270M model is a small base model, close to chance as a judge; no public
coherence labels are in the project's data, so this evaluator is unmeasured. Point it at a 7–8B
instruction-tuned judge (``backend = "judge_openai"`` on vLLM) for scores worth alerting on.
"""

from __future__ import annotations

from collections.abc import Sequence

from evaluators.base import EvalItem, Evaluator, Judgement
from evaluators.judging import classifier_probability, judge_likert, likert_prompt
from evaluators.registry import register_evaluator

PROMPT = """Question:
{input}

Answer:
{output}

Rate the coherence of the answer: is it clear, logically organised and free of contradictions and
rambling? Ignore whether it is correct. 1 = incoherent, 3 = understandable but disorganised,
5 = perfectly clear and well organised."""
COHERENT_LABELS = ("acceptable", "coherent", "LABEL_1")


@register_evaluator
class Coherence(Evaluator):
    name = "coherence"
    version = "1"
    direction = "higher_is_better"
    labels = ("coherent", "incoherent")
    requires = ("output",)
    default_backend = "judge_transformers"
    capabilities = ("judge", "classifier")

    def _score_batch(self, items: Sequence[EvalItem]) -> list[Judgement]:
        if self.capability == "classifier":
            values = classifier_probability(self.backend, self.config, COHERENT_LABELS, [str(i.output) for i in items])
            return [Judgement(v) for v in values]
        prompts = [likert_prompt(PROMPT.format(input=i.input or "(none)", output=i.output)) for i in items]
        return judge_likert(self.backend, prompts, self.config)
