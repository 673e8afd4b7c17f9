"""Metric values shared by the collectors (Prometheus, OTLP), the writer, the rollups and the reads.

Plain value objects that know nothing of HTTP, protobuf or SQL. (They sit beside the store rather
than in ``monitor.domain`` only because this issue does not own that module; they may move there.)

Kinds, and how a value is read:

- ``gauge``: the value at ``time``.
- ``counter``: a cumulative, monotonic total since ``start_ns`` (Prometheus counters, OTLP
  cumulative monotonic sums). Increases are derived between consecutive points, with resets.
- ``delta``: the change since the previous point (OTLP delta sums).
- ``histogram``: cumulative bucket counts since ``start_ns``.
- ``histogram_delta``: bucket counts observed since the previous point.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

GAUGE, COUNTER, DELTA, HISTOGRAM, HISTOGRAM_DELTA = "gauge", "counter", "delta", "histogram", "histogram_delta"
KINDS = (GAUGE, COUNTER, DELTA, HISTOGRAM, HISTOGRAM_DELTA)
CUMULATIVE_KINDS = frozenset({COUNTER, HISTOGRAM})
HISTOGRAM_KINDS = frozenset({HISTOGRAM, HISTOGRAM_DELTA})


@dataclass(frozen=True, slots=True)
class Histogram:
    """Explicit-bucket histogram: ``counts[i]`` observations fell in ``(bounds[i-1], bounds[i]]``.

    ``counts`` has one more entry than ``bounds`` (the last bucket is ``(bounds[-1], +Inf)``);
    counts are per bucket, not cumulative (the OTLP layout; Prometheus buckets are converted).
    """

    bounds: tuple[float, ...]
    counts: tuple[float, ...]
    sum: float | None = None
    count: float | None = None

    def total(self) -> float:
        return self.count if self.count is not None else float(sum(self.counts))

    def to_json(self) -> dict[str, object]:
        return {"bounds": list(self.bounds), "counts": list(self.counts), "sum": self.sum, "count": self.total()}

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> Histogram:
        return cls(tuple(doc["bounds"]), tuple(doc["counts"]), doc.get("sum"), doc.get("count"))  # type: ignore[arg-type]


@dataclass(slots=True)
class MetricPoint:
    """One value of one series (name + source + labels) at one time."""

    name: str
    kind: str
    time_ns: int
    value: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    unit: str | None = None
    source: str | None = None
    start_ns: int | None = None
    histogram: Histogram | None = None


@dataclass(slots=True)
class MetricBatch:
    """What a decoder produced from one request: the points, and what it had to reject."""

    points: list[MetricPoint] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)


def labels_json(labels: dict[str, str]) -> str:
    """Canonical JSON of a label set (sorted keys), the form stored and hashed."""
    return orjson.dumps(labels, option=orjson.OPT_SORT_KEYS).decode()


def series_key(name: str, source: str | None, labels_text: str) -> str:
    """A stable 32-hex-digit id of a series: the same on every host and in every process."""
    raw = f"{name}\x00{source or ''}\x00{labels_text}".encode()
    return hashlib.blake2b(raw, digest_size=16).hexdigest()
