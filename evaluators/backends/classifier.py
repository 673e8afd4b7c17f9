"""``classifier``: any ``AutoModelForSequenceClassification`` (hub id or local folder), batched.

Why a generic classifier backend: the strongest cheap evaluators are fine-tuned encoders (toxicity
classifiers, NLI / HHEM-style faithfulness models, cross-encoder rerankers, prompt-injection
detectors). They all share one shape: text or (text, text) in, class probabilities out. Which label
counts as the score is chosen by the evaluator, or by ``positive_label`` in the config.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from evaluators.backends.loading import pick_device, pick_dtype, translate_load_error, weights_source
from evaluators.config import EvaluatorConfig
from evaluators.errors import EvaluatorConfigError


class SequenceClassifier:
    kind = "classifier"
    default_batch_size = 32

    def __init__(self, config: EvaluatorConfig) -> None:
        if not config.model:
            raise EvaluatorConfigError("the classifier backend needs `model` (a hub id or a local folder)")
        self.config, self.model_id = config, config.model
        self.device = pick_device(config.device)
        source = weights_source(config.model, None, config.allow_pickle)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source.location, **source.kwargs())
            model = AutoModelForSequenceClassification.from_pretrained(
                source.location, dtype=pick_dtype(config.dtype, self.device), **source.kwargs())
        except (OSError, ValueError, RuntimeError) as exc:
            raise translate_load_error(config.model, exc) from exc
        self.model = model.to(self.device).eval()
        id2label = self.model.config.id2label or {}
        self.labels = [str(id2label.get(i, f"LABEL_{i}")) for i in range(self.model.config.num_labels)]
        self.multi_label = self.model.config.problem_type == "multi_label_classification"

    def predict(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        """Probabilities per label: softmax for single-label models, per-label sigmoid for multi-label ones."""
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError("texts and pairs must have the same length")
        encoded = self.tokenizer(list(texts), list(pairs) if pairs is not None else None, padding=True,
                                 truncation=True, max_length=self.config.max_length, return_tensors="pt")
        with torch.inference_mode():
            logits = self.model(**{k: v.to(self.device) for k, v in encoded.items()}).logits.float()
        probs = torch.sigmoid(logits) if self.multi_label or logits.shape[-1] == 1 else torch.softmax(logits, dim=-1)
        return probs.cpu().numpy()

    def label_index(self, wanted: str | None, guesses: Sequence[str]) -> int:
        """Index of the label whose probability is the score: ``wanted`` if set, else the first guess present."""
        lowered = [label.lower() for label in self.labels]
        for name in ([wanted] if wanted else list(guesses)):
            if name and name.lower() in lowered:
                return lowered.index(name.lower())
        if wanted:
            raise EvaluatorConfigError(f"positive_label {wanted!r} is not one of the model's labels: {self.labels}")
        if len(self.labels) == 1:
            return 0
        if len(self.labels) == 2:
            return 1  # binary models conventionally put the positive class second (LABEL_1)
        raise EvaluatorConfigError(f"cannot tell which of {self.labels} is the score; set positive_label")
