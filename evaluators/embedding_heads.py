"""Choosing the trained head that goes with an embedding backend.

Why: a head is only valid for the embedding model it was trained on. With the packaged MiniLM the
packaged head is used; with another embedding model the default head is skipped (evaluators fall
back to what needs no training, or refuse), and a head given by path must name the same model.
"""

from __future__ import annotations

import logging

from evaluators.config import EvaluatorConfig
from evaluators.errors import EvaluatorConfigError
from evaluators.heads import LogisticHead, load_head

log = logging.getLogger(__name__)


def head_for(config: EvaluatorConfig, packaged: str, embedding_model: str) -> LogisticHead | None:
    """The head to use with ``embedding_model``, or None when there is none that fits."""
    if config.head in (None, "none"):
        return None
    head = load_head(packaged if config.head == "default" else config.head)
    if head.embedding_model == embedding_model:
        return head
    if config.head == "default":
        log.info("packaged head %s was trained on %s, not %s: not using it", packaged, head.embedding_model,
                 embedding_model)
        return None
    raise EvaluatorConfigError(f"head {config.head} was trained on {head.embedding_model}, "
                               f"but the embedding backend runs {embedding_model}")
