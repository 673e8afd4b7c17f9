"""Registries by name for evaluators and backends, and the one function that builds an evaluator from config.

Built-in evaluators register exactly as a plugin does: their module applies ``@register_evaluator``
when imported. Built-ins are imported from ``BUILTIN_EVALUATORS``; third-party packages are found
through the ``llm_monitor.evaluators`` entry-point group (each entry point names a module to import).
Backends register a factory by name, lazily as "module:attribute" so torch is imported only when a
model is actually built. Built backends are cached, so five evaluators on MiniLM load it once.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import fields
from importlib.metadata import entry_points
from typing import Any, TypeVar

from evaluators.base import Evaluator
from evaluators.config import EvaluatorConfig
from evaluators.errors import EvaluatorConfigError, UnknownNameError

E = TypeVar("E", bound=type[Evaluator])
ENTRY_POINT_GROUP = "llm_monitor.evaluators"
BUILTIN_EVALUATORS = ("evaluators.relevance", "evaluators.hallucination", "evaluators.toxicity",
                      "evaluators.coherence", "evaluators.prompt_injection", "evaluators.custom")
BackendFactory = Callable[[EvaluatorConfig], Any]

_evaluators: dict[str, type[Evaluator]] = {}
_backends: dict[str, BackendFactory | str] = {}
_backend_cache: dict[tuple[Any, ...], Any] = {}
_lock = threading.RLock()
_discovered = False
# Config fields that change which model a backend loads or how it talks to it (the cache key).
_BACKEND_FIELDS = ("model", "gguf_file", "base_url", "api_key", "device", "dtype", "allow_pickle", "max_length",
                   "max_prompt_tokens", "request_timeout_s", "max_concurrency", "retries", "explain_max_tokens",
                   "cache_dir")


def register_evaluator(cls: E) -> E:
    """Class decorator: make an evaluator available under ``cls.name`` (plugins use it too)."""
    with _lock:
        existing = _evaluators.get(cls.name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            taken_by = f"{existing.__module__}.{existing.__qualname__}"
            raise EvaluatorConfigError(f"evaluator name {cls.name!r} is taken by {taken_by}")
        _evaluators[cls.name] = cls
    return cls


def register_backend(name: str, factory: BackendFactory | str) -> None:
    """Make a backend available by name; ``factory`` is a callable or a lazy "module:attribute" string."""
    with _lock:
        _backends[name] = factory


def _discover() -> None:
    global _discovered
    with _lock:
        if _discovered:
            return
        for module in BUILTIN_EVALUATORS:
            importlib.import_module(module)
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            entry.load()
        _discovered = True


def evaluator_names() -> list[str]:
    _discover()
    return sorted(_evaluators)


def backend_names() -> list[str]:
    return sorted(_backends)


def get_evaluator_class(name: str) -> type[Evaluator]:
    _discover()
    try:
        return _evaluators[name]
    except KeyError:
        raise UnknownNameError("evaluator", name, _evaluators) from None


def build_backend(kind: str, config: EvaluatorConfig) -> Any:
    """The backend ``kind`` for this config, built once per distinct model settings and then reused."""
    try:
        factory = _backends[kind]
    except KeyError:
        raise UnknownNameError("backend", kind, _backends) from None
    key = (kind, *(repr(getattr(config, name)) for name in _BACKEND_FIELDS), repr(sorted(config.extra.items())))
    with _lock:
        if key not in _backend_cache:
            if isinstance(factory, str):
                module, _, attribute = factory.partition(":")
                factory = getattr(importlib.import_module(module), attribute)
            _backend_cache[key] = factory(config)
        return _backend_cache[key]


def clear_backend_cache() -> None:
    """Forget built backends (tests, or a worker reloading its config)."""
    with _lock:
        _backend_cache.clear()


def build_evaluator(name: str, settings: Mapping[str, Mapping[str, Any]] | None = None, *,
                    backend_instance: Any = None, **overrides: Any) -> Evaluator:
    """An evaluator from the ``[evaluators]`` config tables: ``name`` is a table name or a built-in name.

    A table may set ``evaluator = "custom"`` to define a named instance (e.g. ``[evaluators.politeness]``).
    ``overrides`` (such as the CLI's ``backend``/``model``) win over the table; ``backend_instance`` injects a
    backend built elsewhere (tests, or a worker sharing one model between evaluators).
    """
    table = dict((settings or {}).get(name, {}))
    cls = get_evaluator_class(table.get("evaluator") or name)
    valid = {f.name for f in fields(EvaluatorConfig)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise EvaluatorConfigError(f"unknown override(s) {', '.join(unknown)}")
    config = EvaluatorConfig.from_mapping(table).merged(**overrides)
    if backend_instance is None:
        backend_instance = build_backend(config.backend or cls.default_backend, config)
    return cls(config, backend_instance, instance_name=name)


for _name, _factory in {
    "embedding": "evaluators.backends.embedding:SentenceEmbedder",
    "classifier": "evaluators.backends.classifier:SequenceClassifier",
    "judge_transformers": "evaluators.backends.judge_transformers:TransformersJudge",
    "judge_openai": "evaluators.backends.judge_openai:OpenAIJudge",
}.items():
    register_backend(_name, _factory)
