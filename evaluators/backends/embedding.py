"""``embedding``: sentence-transformers models (default: the packaged all-MiniLM-L6-v2, offline).

Why embeddings: one small encoder pass per text gives features that the relevance, toxicity,
hallucination and prompt-injection evaluators turn into scores (cosine similarity, or the small
logistic heads the project trains on public data). It is the fast path: hundreds of texts a second
on a laptop CPU, and the same vectors serve several evaluators.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sentence_transformers import SentenceTransformer

from evaluators.backends.loading import (
    PACKAGED_MINILM,
    packaged_minilm,
    pick_device,
    translate_load_error,
    weights_source,
)
from evaluators.config import EvaluatorConfig


class SentenceEmbedder:
    kind = "embedding"
    default_batch_size = 256  # items per evaluator batch: enough texts for length-sorting to cut padding

    def __init__(self, config: EvaluatorConfig) -> None:
        self.config = config
        self.packaged_default = config.model is None
        location = str(packaged_minilm()) if self.packaged_default else config.model
        self.model_id = PACKAGED_MINILM if self.packaged_default else config.model
        source = weights_source(location, None, config.allow_pickle)
        model_kwargs = {k: v for k, v in source.kwargs().items() if k == "use_safetensors"}
        try:
            self.model = SentenceTransformer(source.location, device=pick_device(config.device),
                                             local_files_only=source.local, model_kwargs=model_kwargs)
        except (OSError, ValueError, RuntimeError) as exc:
            raise translate_load_error(self.model_id, exc) from exc
        if self.model.device.type == "cuda":
            self.model.half()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised embeddings; duplicates are encoded once, and texts are length-sorted into batches of 32."""
        unique = list(dict.fromkeys(texts))
        vectors = self.model.encode(unique, batch_size=32, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        row = {text: i for i, text in enumerate(unique)}
        return np.asarray(vectors, dtype=np.float32)[[row[t] for t in texts]]
