"""Backends: what runs the models behind an evaluator. This package imports nothing heavy.

Three capabilities, one protocol each, so an evaluator asks "can this backend embed / classify /
judge?" and never which library sits underneath:

- ``Embedder`` (``embedding``): sentence embeddings, L2-normalised.
- ``Classifier`` (``classifier``): class probabilities for a text or a text pair.
- ``Judge`` (``judge_transformers``, ``judge_openai``): probabilities of answer choices ("yes"/"no",
  "1".."5") at the answer position of a chat prompt, and optional short explanations.

Concrete backends live in their own modules and import torch/transformers/httpx only when built
through ``evaluators.registry.build_backend``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Classifier", "Embedder", "Judge", "JudgePrompt"]


@dataclass(frozen=True, slots=True)
class JudgePrompt:
    """A chat prompt for a judge: an optional system message and one user message."""

    user: str
    system: str | None = None


@runtime_checkable
class Embedder(Protocol):
    kind: str
    model_id: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...


@runtime_checkable
class Classifier(Protocol):
    kind: str
    model_id: str
    labels: list[str]

    def predict(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels)); ``pairs`` makes it a pair classifier."""
        ...

    def label_index(self, wanted: str | None, guesses: Sequence[str]) -> int:
        """Index of the label whose probability is the score (``wanted``, else the first guess present)."""
        ...


@runtime_checkable
class Judge(Protocol):
    kind: str
    model_id: str

    def choice_probs(self, prompts: Sequence[JudgePrompt], choices: Sequence[str]) -> list[list[float]]:
        """For each prompt, the probability of each choice as the first answer token, normalised to sum 1."""
        ...

    def explain(self, prompts: Sequence[JudgePrompt]) -> list[str]:
        """A short free-text justification per prompt (only called when the user asks for explanations)."""
        ...
