"""relevance: does the answer address the question? Higher is better.

``value`` is the probability that ``output`` is a relevant answer to ``input`` (label "relevant" at
or above the threshold, else "irrelevant"). Backends:

- ``embedding`` (default, offline): MiniLM embeddings of question and answer; the packaged head
  (``heads/relevance.json``, trained on WikiQA-train) combines their cosine with word overlap and
  answer-type cues (a "when" question wants a date, "how many" a number). With another embedding
  model and no head, the value is the cosine clipped to [0, 1] (uncalibrated).
- ``classifier``: a cross-encoder or relevance classifier on the (question, answer) pair.
- ``judge_transformers`` / ``judge_openai``: P(yes) for "does the answer address the question?".

Where it is weak: it judges topical fit and answer type, not correctness; an on-topic sentence that
does not answer is still often scored relevant (see docs/evaluator-quality.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evaluators.base import EvalItem, Evaluator, Judgement
from evaluators.embedding_heads import head_for
from evaluators.features import relevance_features
from evaluators.judging import classifier_probability, judge_yes_no, yes_no_prompt
from evaluators.registry import register_evaluator

PROMPT = """Question:
{input}

Answer:
{output}

Does the answer address the question (it may be wrong, but it must respond to what was asked)?"""
POSITIVE_LABELS = ("relevant", "LABEL_1", "yes", "entailment")


@register_evaluator
class Relevance(Evaluator):
    name = "relevance"
    version = "1"
    direction = "higher_is_better"
    labels = ("relevant", "irrelevant")
    requires = ("input", "output")
    default_backend = "embedding"
    capabilities = ("embedding", "classifier", "judge")

    def setup(self) -> None:
        embedding = self.capability == "embedding"
        self.head = head_for(self.config, "relevance", self.backend.model_id) if embedding else None

    @property
    def model_id(self) -> str | None:
        head = f" + head relevance v{self.head.version}" if self.head else ""
        return f"{self.backend.model_id}{head}"

    def _score_batch(self, items: Sequence[EvalItem]) -> list[Judgement]:
        if self.capability == "judge":
            prompts = [yes_no_prompt(PROMPT.format(input=i.input, output=i.output)) for i in items]
            return judge_yes_no(self.backend, prompts, self.config)
        questions, answers = [i.input for i in items], [str(i.output) for i in items]
        if self.capability == "classifier":
            values = classifier_probability(self.backend, self.config, POSITIVE_LABELS, questions, answers)
            return [Judgement(v) for v in values]
        vectors = self.backend.encode(questions + answers)
        cosines = np.einsum("ij,ij->i", vectors[: len(items)], vectors[len(items):])
        if self.head is None:
            return [Judgement(float(np.clip(c, 0.0, 1.0))) for c in cosines]
        features = [relevance_features(q, a, float(c)) for q, a, c in zip(questions, answers, cosines, strict=True)]
        return [Judgement(float(p)) for p in self.head.predict(features)]
