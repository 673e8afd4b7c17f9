"""The evaluator part of llm-monitor's exception tree.

    MonitorError (monitor.errors)
    └── EvaluatorError            anything an evaluator or backend raises on purpose
        ├── UnknownNameError      no evaluator/backend registered under that name (lists the valid ones)
        ├── EvaluatorConfigError  options that do not fit the chosen evaluator or backend
        ├── InvalidItemError      an EvalItem lacks a field the evaluator needs
        ├── UnsafeWeightsError    weights would be unpickled and the user did not allow it
        ├── ModelLoadError        a model or tokenizer could not be loaded
        ├── EvaluatorTimeout      a batch did not finish within the configured deadline
        └── BackendError          a judge server answered with an error or nothing usable

Third-party failures (transformers, httpx, torch) are translated at the backend edge with
``raise ... from exc`` so callers only ever need to catch ``EvaluatorError``.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.errors import MonitorError


class EvaluatorError(MonitorError):
    """Root of the errors evaluators and their backends raise on purpose."""


class UnknownNameError(EvaluatorError, KeyError):
    """A registry lookup failed; the message lists every valid name so a typo is easy to fix."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(self.valid) or '(none)'}")

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0])


class EvaluatorConfigError(EvaluatorError):
    """The options given to an evaluator or backend are inconsistent or incomplete."""


class InvalidItemError(EvaluatorError, ValueError):
    """One or more items cannot be scored by this evaluator (e.g. no output for relevance)."""


class UnsafeWeightsError(EvaluatorError):
    """Only pickled weights (.bin/.pt/.pkl) were found and ``allow_pickle`` is off."""


class ModelLoadError(EvaluatorError):
    """A model, tokenizer or head could not be loaded."""


class EvaluatorTimeout(EvaluatorError, TimeoutError):
    """A batch ran past its deadline; the caller gets this instead of waiting forever."""


class BackendError(EvaluatorError):
    """A backend failed to produce a usable answer (HTTP errors after retries, missing label tokens)."""
