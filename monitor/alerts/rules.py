"""The alert rule model: what a ``[[alerts.rules]]`` table, an API body and a CLI call describe.

Pure pydantic (no database, no settings) so ``monitor.config`` can validate rules at load time.
Durations are written like ``30s``, ``15m``, ``1h`` or ``7d``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

RuleKind = Literal["metric", "score", "drift", "absence"]
Comparison = Literal[">", ">=", "<", "<="]
Severity = Literal["info", "warning", "critical"]

# Metrics computed from traced LLM calls; any other metric name is a scraped/pushed metric series.
CALL_METRICS: dict[str, str] = {
    "request_rate": "requests per minute",
    "requests": "request count in the window",
    "error_rate": "share of calls that failed (0..1)",
    "latency_ms": "call duration in ms (aggregate p50/p95/p99/mean/max)",
    "ttft_ms": "time to first token in ms (aggregate p50/p95/p99/mean/max)",
    "tokens_per_minute": "input + output tokens per minute",
    "cost_per_hour": "USD per hour",
}
CALL_AGGREGATES = ("p50", "p95", "p99", "mean", "max")
SERIES_AGGREGATES = ("mean", "max", "min", "last", "rate", "increase", "p50", "p95", "p99")
SCORE_AGGREGATES = ("mean", "share_above", "share_below", "p50", "p95", "min", "max")
DRIFT_AGGREGATES = ("drifted", "score")
GROUPS = ("model", "service", "provider", "operation")
_DURATION = re.compile(r"^\s*(\d{1,9})\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """``"15m"`` -> 15 minutes; numbers are seconds; a timedelta passes through."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"duration {value!r} must look like 30s, 15m, 1h or 7d")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def format_duration(value: timedelta) -> str:
    """The shortest exact ``30s`` / ``15m`` / ``1h`` / ``7d`` spelling of a duration."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]


class RuleFilters(BaseModel):
    """Which traffic a rule looks at; scraped-metric rules match ``labels`` on the series."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    service: str | None = None
    segment: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict, description="scraped series labels that must match")


class RuleSpec(BaseModel):
    """One alert rule. ``for`` is how long the condition must hold before the alert fires."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=200)
    kind: RuleKind = "metric"
    metric: str = Field(default="", max_length=200, description="call metric, scraped metric or score name")
    aggregate: str | None = None
    threshold: float = 0.0
    comparison: Comparison = ">"
    score_threshold: float | None = Field(default=None, description="for share_above / share_below")
    window: Duration = timedelta(minutes=5)
    for_: Duration = Field(default=timedelta(0), alias="for")
    min_samples: int = Field(default=1, ge=0)
    severity: Severity = "warning"
    group_by: str | None = Field(default=None, description="model, service, provider, operation, segment.<label>"
                                                           " or, for scraped metrics, a series label")
    filters: RuleFilters = Field(default_factory=RuleFilters)
    webhooks: list[str] = Field(default_factory=list)
    renotify: Duration | None = Field(default=None, description="repeat a firing alert this often")
    project: str | None = Field(default=None, description="project the rule watches (default project if unset)")
    description: str | None = Field(default=None, max_length=2000)
    enabled: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> RuleSpec:
        if self.window <= timedelta(0):
            raise ValueError("window must be longer than 0s")
        check = {"metric": self._check_metric, "score": self._check_score, "absence": self._check_absence,
                 "drift": self._check_drift}[self.kind]
        check()
        if self.renotify is not None and self.renotify < timedelta(minutes=1):
            raise ValueError("renotify must be at least 1m")
        return self

    def _check_metric(self) -> None:
        if not self.metric:
            raise ValueError(f"a metric rule needs `metric`: one of {', '.join(CALL_METRICS)} or a scraped "
                             "metric name such as vllm:gpu_cache_usage_perc")
        if self.metric in CALL_METRICS:
            self._check_group()
            if self.metric in ("latency_ms", "ttft_ms"):
                self.aggregate = self.aggregate or "p95"
                _one_of("aggregate", self.aggregate, CALL_AGGREGATES)
            elif self.aggregate is not None:
                raise ValueError(f"metric {self.metric!r} takes no aggregate")
        else:
            self.aggregate = self.aggregate or "mean"
            _one_of("aggregate", self.aggregate, SERIES_AGGREGATES)

    def _check_score(self) -> None:
        if not self.metric:
            raise ValueError("a score rule needs `metric`: the score name, e.g. toxicity")
        self.aggregate = self.aggregate or "mean"
        _one_of("aggregate", self.aggregate, SCORE_AGGREGATES)
        if self.aggregate.startswith("share_") and self.score_threshold is None:
            raise ValueError(f"aggregate {self.aggregate} needs score_threshold")
        if self.group_by is not None:
            raise ValueError("score rules take no group_by")

    def _check_drift(self) -> None:
        self.aggregate = self.aggregate or "drifted"
        _one_of("aggregate", self.aggregate, DRIFT_AGGREGATES)
        if self.group_by is not None:
            raise ValueError("drift rules take no group_by (each feature and segment is its own alert)")

    def _check_absence(self) -> None:
        if self.group_by is not None:
            raise ValueError("absence rules take no group_by (a group with no traffic has no label set)")

    def _check_group(self) -> None:
        g = self.group_by
        if g is not None and g not in GROUPS and not (g.startswith("segment.") and len(g) > 8):
            raise ValueError(f"group_by {g!r}: use one of {', '.join(GROUPS)} or segment.<label>")

    def breaches(self, value: float) -> bool:
        """Whether ``value`` is on the bad side of the threshold."""
        t = self.threshold
        return {">": value > t, ">=": value >= t, "<": value < t, "<=": value <= t}[self.comparison]

    def describe(self) -> str:
        """``p95(latency_ms) > 2000 for 5m over 15m`` - for logs, the CLI and payloads."""
        what = f"{self.aggregate}({self.metric})" if self.aggregate else (self.metric or self.kind)
        if self.kind == "absence":
            return f"no traffic for {format_duration(self.window)}"
        return (f"{what} {self.comparison} {self.threshold:g} for {format_duration(self.for_)} "
                f"over {format_duration(self.window)}")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def _one_of(field: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{field} {value!r} is not valid here; use one of {', '.join(valid)}")
