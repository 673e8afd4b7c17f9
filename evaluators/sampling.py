"""Which LLM calls an online evaluator scores: ``sample_rate`` and ``filters`` from its config table.

Why a hash and not ``random()``: every worker replica (and a re-run after a crash) must agree on
whether a call is in the sample, so the decision is a pure function of (evaluator, trace id, span id).
Filters narrow the calls in SQL (model, service, tag, segment labels) through ``monitor.query``'s
own call filters, so "the calls of model X" means the same thing here as on the dashboard.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evaluators.errors import EvaluatorConfigError
from monitor.query import CallFilters

FILTER_KEYS = ("model", "service", "tag", "segment")


@dataclass(frozen=True, slots=True)
class SamplingRule:
    """How one evaluator picks calls: a share of the calls that match every filter."""

    rate: float = 1.0
    model: str | None = None
    service: str | None = None
    tag: str | None = None
    segment: Mapping[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> SamplingRule:
        """Read ``sample_rate`` and ``filters`` from an ``[evaluators.NAME]`` table; bad values raise."""
        rate = float(table.get("sample_rate", 1.0))
        if not 0.0 <= rate <= 1.0:
            raise EvaluatorConfigError(f"sample_rate must be in [0, 1], got {rate}")
        filters = dict(table.get("filters") or {})
        segment: dict[str, list[str]] = {}
        for key in list(filters):
            if key.startswith("segment."):  # filters = { "segment.region" = "eu" }
                segment[key.removeprefix("segment.")] = _as_list(filters.pop(key))
        for label, values in dict(filters.pop("segment", None) or {}).items():
            segment[label] = _as_list(values)
        unknown = sorted(set(filters) - set(FILTER_KEYS))
        if unknown:
            raise EvaluatorConfigError(f"unknown filter(s) {', '.join(unknown)}; valid: model, service, tag, "
                                       "segment (a table) or segment.<label>")
        return cls(rate=rate, model=filters.get("model"), service=filters.get("service"), tag=filters.get("tag"),
                   segment=segment)

    def call_filters(self) -> CallFilters:
        """The SQL side of the rule (everything but the rate)."""
        return CallFilters(model=self.model, service=self.service, tag=self.tag,
                           segment={k: list(v) for k, v in self.segment.items()})

    def sampled(self, evaluator: str, trace_id: str, span_id: str) -> bool:
        """Whether the call is in this evaluator's sample (the same answer on every replica)."""
        if self.rate >= 1.0:
            return True
        if self.rate <= 0.0:
            return False
        return sample_point(evaluator, trace_id, span_id) < self.rate


def sample_point(evaluator: str, trace_id: str, span_id: str) -> float:
    """A uniform number in [0, 1) fixed by the call and the evaluator (evaluators sample independently)."""
    digest = hashlib.blake2b(f"{evaluator}/{trace_id.lower()}/{span_id.lower()}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
