"""Embedding drift of inputs or outputs: sentence embeddings of a sample per window, compared by evidently.

Why a sample: encoding is the one costly step (MiniLM on a CPU does a few hundred texts a second),
and evidently's classifier method separates two windows as well from 5,000 texts as from 50,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evaluators.drift.stats import Outcome, embedding_test


def sample_texts(texts: Sequence[str | None], size: int, seed: int = 0) -> list[str]:
    """Up to ``size`` non-empty texts, drawn without replacement (the same draw for the same input)."""
    present = [t for t in texts if t and t.strip()]
    if len(present) <= size:
        return present
    picks = np.random.default_rng(seed).choice(len(present), size=size, replace=False)
    return [present[i] for i in sorted(picks)]


def embedding_drift(embedder: Any, reference: Sequence[str | None], current: Sequence[str | None], size: int,
                    method: str = "model", min_samples: int = 30) -> tuple[Outcome, int, int] | None:
    """Outcome and sample sizes, or None when either window has fewer than ``min_samples`` texts."""
    ref, cur = sample_texts(reference, size), sample_texts(current, size, seed=1)
    if len(ref) < min_samples or len(cur) < min_samples:
        return None
    ref_emb, cur_emb = embedder.encode(ref), embedder.encode(cur)
    return embedding_test(np.asarray(ref_emb), np.asarray(cur_emb), method), len(ref), len(cur)
