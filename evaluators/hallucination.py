"""hallucination: is the answer unsupported by its context (or, without context, false)? Lower is better.

``value`` is the probability that ``output`` contains claims its source does not support (label
"hallucinated" at or above the threshold, else "supported"). With ``context`` (retrieved documents,
the source text) it measures faithfulness to that context; without one, only a judge can say
anything, and it then judges factual correctness from its own knowledge.

- ``embedding`` (default, offline; needs ``context``): a head trained on BEGIN dev (``heads/
  hallucination.json``) over MiniLM answer–context and answer–question similarity, the share of the
  answer's content words found in the context, new words, bigram overlap, first-person talk and
  length. Then every number, date or name in the answer that the context and the question lack
  halves the odds that the answer is faithful: an invented figure is unsupported however fluent.
- ``classifier``: an NLI or HHEM-style model on (context, answer); the score is 1 − P(supported label),
  the label named by ``positive_label`` or the first of "entailment", "consistent", "supported".
- ``judge_*``: P(no) for "is every claim supported by the context?" (or "is the answer correct?").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evaluators.base import EvalItem, Evaluator, Judgement
from evaluators.embedding_heads import head_for
from evaluators.errors import EvaluatorConfigError
from evaluators.features import hallucination_features, unsupported_specifics
from evaluators.judging import classifier_probability, judge_yes_no, yes_no_prompt
from evaluators.registry import register_evaluator

WITH_CONTEXT = """Context:
{context}

Question:
{input}

Answer:
{output}

Is every claim in the answer supported by the context?"""
WITHOUT_CONTEXT = """Question:
{input}

Answer:
{output}

Is the answer factually correct?"""
SUPPORTED_LABELS = ("entailment", "consistent", "supported", "factual")
SPECIFIC_PENALTY = 0.5  # each unsupported number/date/name multiplies P(faithful) by this


@register_evaluator
class Hallucination(Evaluator):
    name = "hallucination"
    version = "1"
    direction = "lower_is_better"
    labels = ("hallucinated", "supported")
    default_backend = "embedding"
    capabilities = ("embedding", "classifier", "judge")

    def setup(self) -> None:
        # Only a judge can score an answer that has no context to check it against.
        self.requires = ("input", "output") if self.capability == "judge" else ("output", "context")
        self.head = None
        if self.capability == "embedding":
            self.head = head_for(self.config, "hallucination", self.backend.model_id)
            if self.head is None:
                raise EvaluatorConfigError("the hallucination evaluator on an embedding backend needs its trained "
                                           "head; use the packaged MiniLM, a head trained for this model, or a judge")

    @property
    def model_id(self) -> str | None:
        head = f" + head hallucination v{self.head.version}" if self.head else ""
        return f"{self.backend.model_id}{head}"

    def _score_batch(self, items: Sequence[EvalItem]) -> list[Judgement]:
        if self.capability == "judge":
            prompts = [yes_no_prompt((WITH_CONTEXT if i.context_text else WITHOUT_CONTEXT).format(
                context=i.context_text, input=i.input, output=i.output)) for i in items]
            return judge_yes_no(self.backend, prompts, self.config, score_is_yes=False)
        contexts, answers = [str(i.context_text) for i in items], [str(i.output) for i in items]
        if self.capability == "classifier":
            supported = classifier_probability(self.backend, self.config, SUPPORTED_LABELS, contexts, answers)
            return [Judgement(1.0 - p) for p in supported]
        return self._score_with_head(items, contexts, answers)

    def _score_with_head(self, items: Sequence[EvalItem], contexts: list[str], answers: list[str]) -> list[Judgement]:
        n = len(items)
        vectors = self.backend.encode(contexts + answers + [i.input for i in items])
        ctx, ans, question = vectors[:n], vectors[n:2 * n], vectors[2 * n:]
        cos_ctx, cos_q = np.einsum("ij,ij->i", ans, ctx), np.einsum("ij,ij->i", ans, question)
        features = [hallucination_features(c, a, i.input, float(x), float(y))
                    for c, a, i, x, y in zip(contexts, answers, items, cos_ctx, cos_q, strict=True)]
        probs = self.head.predict(features)  # type: ignore[union-attr]
        judgements = []
        for p, c, a, item in zip(probs, contexts, answers, items, strict=True):
            invented = unsupported_specifics(c, a, item.input)
            value = 1.0 - (1.0 - float(p)) * SPECIFIC_PENALTY ** len(invented)
            why = f"not in the context: {', '.join(invented[:5])}" if invented else None
            judgements.append(Judgement(value, explanation=why))
        return judgements
