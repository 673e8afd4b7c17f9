"""Semantic-convention normalisation: one mapping table per convention, one ``normalize_span``."""

from collectors.semconv.normalize import MODEL_OPERATIONS, NormalizeOptions, is_model_call, normalize_span

__all__ = ["MODEL_OPERATIONS", "NormalizeOptions", "is_model_call", "normalize_span"]
