"""Evaluators: relevance, hallucination, toxicity, coherence, prompt injection and custom judges.

Importing this package is cheap (no torch, no numpy): models load only when an evaluator is built.

    from evaluators import EvalItem, build_evaluator
    relevance = build_evaluator("relevance")                      # packaged offline default
    scores = relevance.score([EvalItem(input="Who wrote Hamlet?", output="Shakespeare wrote it.")])

``build_evaluator(name, settings["evaluators"], backend=..., model=...)`` reads the same tables as
``llm-monitor.toml``'s ``[evaluators.NAME]``. Plugins register with ``@register_evaluator`` from a
module named in the ``llm_monitor.evaluators`` entry-point group, exactly as the built-ins do.
"""

from __future__ import annotations

from evaluators.base import EvalItem, Evaluator, Judgement, Score
from evaluators.config import EvaluatorConfig
from evaluators.errors import (
    BackendError,
    EvaluatorConfigError,
    EvaluatorError,
    EvaluatorTimeout,
    InvalidItemError,
    ModelLoadError,
    UnknownNameError,
    UnsafeWeightsError,
)
from evaluators.registry import (
    backend_names,
    build_backend,
    build_evaluator,
    evaluator_names,
    get_evaluator_class,
    register_backend,
    register_evaluator,
)

__all__ = [
    "BackendError", "EvalItem", "Evaluator", "EvaluatorConfig", "EvaluatorConfigError", "EvaluatorError",
    "EvaluatorTimeout", "InvalidItemError", "Judgement", "ModelLoadError", "Score", "UnknownNameError",
    "UnsafeWeightsError", "backend_names", "build_backend", "build_evaluator", "evaluator_names",
    "get_evaluator_class", "register_backend", "register_evaluator",
]
