"""The evaluator contract: what goes in (``EvalItem``), what comes out (``Score``) and the one base class.

Why one base class: validation, batching, the deadline and stamping the evaluator's name, version,
model and latency are the same for every evaluator, and getting them subtly different per evaluator
is how scores become incomparable. Subclasses write only ``_score_batch``: items in, ``Judgement``s
out. This module imports neither torch nor numpy, so ``import evaluators`` stays light.
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

from evaluators.backends import Classifier, Embedder, Judge
from evaluators.config import EvaluatorConfig
from evaluators.errors import EvaluatorConfigError, EvaluatorError, EvaluatorTimeout, InvalidItemError

Direction = Literal["higher_is_better", "lower_is_better"]
Capability = Literal["embedding", "classifier", "judge"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EvalItem:
    """One LLM exchange to judge. ``context`` holds the source text or retrieved documents, if any."""

    input: str
    output: str | None = None
    context: str | Sequence[str] | None = None
    reference: str | None = None  # a known good answer, when the application has one
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def context_text(self) -> str | None:
        """Retrieved documents joined into one passage (None when there is no context)."""
        if self.context is None or isinstance(self.context, str):
            return self.context or None
        joined = "\n\n".join(doc for doc in self.context if doc)
        return joined or None


@dataclass(frozen=True, slots=True)
class Judgement:
    """What a subclass returns for one item; the base turns it into a stamped ``Score``."""

    value: float
    explanation: str | None = None
    label: str | None = None  # None: derived from the evaluator's threshold


@dataclass(frozen=True, slots=True)
class Score:
    """An immutable evaluation result. ``value`` is in [0, 1]; ``direction`` says which end is good."""

    name: str
    value: float
    label: str
    direction: Direction
    evaluator: str
    evaluator_version: str
    model: str | None
    latency_ms: float  # wall time of the item's batch divided by the batch size
    explanation: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.value, float) and math.isfinite(self.value) and 0.0 <= self.value <= 1.0):
            raise ValueError(f"score value must be a finite float in [0, 1], got {self.value!r}")
        if self.direction not in ("higher_is_better", "lower_is_better"):
            raise ValueError(f"direction must be higher_is_better or lower_is_better, got {self.direction!r}")

    @property
    def is_good(self) -> bool:
        """Whether the value is on the good side of 0.5 (a convenience; alert rules set their own thresholds)."""
        return self.value >= 0.5 if self.direction == "higher_is_better" else self.value < 0.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Evaluator(ABC):
    """Base of every evaluator. Subclasses set the class attributes and implement ``_score_batch``."""

    name: ClassVar[str]
    version: ClassVar[str]
    direction: ClassVar[Direction]
    labels: ClassVar[tuple[str, str]]  # (label at or above the threshold, label below it)
    requires: ClassVar[tuple[str, ...]] = ("input", "output")  # "a|b": either field will do
    default_backend: ClassVar[str]
    capabilities: ClassVar[tuple[Capability, ...]]  # what the backend must be able to do

    def __init__(self, config: EvaluatorConfig, backend: Any, instance_name: str | None = None) -> None:
        self.capability = capability_of(backend)
        if self.capability not in self.capabilities:
            raise EvaluatorConfigError(
                f"evaluator {self.name!r} cannot use backend {getattr(backend, 'kind', backend)!r} "
                f"(a {self.capability or 'unknown kind of'} backend); it needs one of: {', '.join(self.capabilities)}")
        self.config, self.backend = config, backend
        self.score_name = instance_name or self.name
        self.batch_size = config.batch_size or int(getattr(backend, "default_batch_size", 32))
        self.setup()

    def setup(self) -> None:  # noqa: B027 (an optional hook, deliberately empty)
        """Per-evaluator preparation once config and backend are set (load a head, encode prototypes)."""

    @property
    def model_id(self) -> str | None:
        return getattr(self.backend, "model_id", None)

    def score(self, items: Sequence[EvalItem]) -> list[Score]:
        """Validate all items, score them in batches under the deadline and stamp each result."""
        self.validate(items)
        scores: list[Score] = []
        for start in range(0, len(items), self.batch_size):
            scores.extend(self._score_one_batch(items[start:start + self.batch_size], start))
        return scores

    def validate(self, items: Sequence[EvalItem]) -> None:
        """Raise ``InvalidItemError`` naming every item (up to 5) that lacks a required field."""
        problems = []
        for index, item in enumerate(items):
            if not isinstance(item, EvalItem):
                problems.append(f"item {index} is a {type(item).__name__}, not an EvalItem")
                continue
            missing = [need for need in self.requires
                       if not any(_present(getattr(item, name)) for name in need.split("|"))]
            if missing:
                problems.append(f"item {index} has no {', '.join(m.replace('|', ' or ') for m in missing)}")
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise InvalidItemError(f"{self.score_name}: " + "; ".join(problems[:5]) + more)

    def _score_one_batch(self, batch: Sequence[EvalItem], offset: int) -> list[Score]:
        started = time.perf_counter()
        where = f"{self.score_name} batch of {len(batch)} starting at item {offset}"
        judgements = run_with_timeout(lambda: self._score_batch(batch), self.config.timeout_s, where)
        if len(judgements) != len(batch):
            raise EvaluatorError(f"{where}: got {len(judgements)} results for {len(batch)} items")
        latency_ms = (time.perf_counter() - started) * 1000.0 / max(len(batch), 1)
        return [self._stamp(j, latency_ms) for j in judgements]

    def _stamp(self, judgement: Judgement, latency_ms: float) -> Score:
        value = float(judgement.value)
        if not math.isfinite(value):
            raise EvaluatorError(f"{self.score_name} produced a non-finite score {value!r}")
        value = min(max(value, 0.0), 1.0)
        label = judgement.label or (self.labels[0] if value >= self.config.threshold else self.labels[1])
        return Score(name=self.score_name, value=value, label=label, direction=self.direction,
                     evaluator=self.name, evaluator_version=self.version, model=self.model_id,
                     latency_ms=latency_ms, explanation=judgement.explanation)

    @abstractmethod
    def _score_batch(self, items: Sequence[EvalItem]) -> list[Judgement]:
        """Score one batch; the items are already validated."""


def capability_of(backend: Any) -> Capability | None:
    """What a backend can do, by the protocol it implements (plugins need no registration for this)."""
    for capability, protocol in (("judge", Judge), ("classifier", Classifier), ("embedding", Embedder)):
        if isinstance(backend, protocol):
            return capability  # type: ignore[return-value]
    return None


def _present(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return bool(value)


def run_with_timeout(fn: Callable[[], T], timeout_s: float | None, what: str) -> T:
    """Run ``fn`` and return its result, or raise ``EvaluatorTimeout`` after ``timeout_s`` seconds.

    The work runs on a daemon thread so that a model stuck in a kernel or a socket cannot keep the
    process from exiting; the caller gets a clear error instead of a hang. Python cannot kill the
    thread: it finishes (or not) in the background and its result is dropped.
    """
    if timeout_s is None:
        return fn()
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread below
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name=f"evaluator: {what}", daemon=True).start()
    if not done.wait(timeout_s):
        raise EvaluatorTimeout(f"{what} did not finish within {timeout_s:g} s (raise timeout_s or lower batch_size)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
