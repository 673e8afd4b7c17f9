"""Parsed Prometheus families → ``MetricPoint``s: the quirks of real inference servers handled here.

- Counters keep their cumulative value; ``_created`` (a separate gauge family in the text format,
  a sample of the family in OpenMetrics) becomes the point's start time, which tells a restart
  apart from growth even when the counter has already passed its old value.
- Cumulative ``_bucket{le=…}`` samples become one histogram point with per-bucket counts.
- Summaries become one gauge per quantile plus ``_sum`` / ``_count`` counters.
- Known names get their canonical name and base unit (``names``), others have unit suffixes
  normalised (``units``); the deprecated and the new name of one vLLM metric collapse to one series.
- DCGM "blank" sentinels (field not supported / not found) are dropped, never stored as values.
- Target labels from the config are added; an exposition label they would hide is kept as
  ``exported_<name>``, as Prometheus does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import pairwise

from collectors.prometheus.names import canonical
from collectors.prometheus.parse import Exposition, Family
from collectors.prometheus.units import normalise_suffix
from monitor.store.points import COUNTER, GAUGE, HISTOGRAM, Histogram, MetricPoint

# DCGM blank values (dcgm_structs.h): DCGM_INT32_BLANK 0x7ffffff0, DCGM_INT64_BLANK 0x7ffffffffffffff0,
# DCGM_FP64_BLANK 2**47, each followed by a few "not found / not supported / not permissioned" codes.
_INT64_BLANK = float(0x7FFFFFFFFFFFFFF0) - 1024.0
_INT32_BLANK = (float(0x7FFFFFF0), float(0x7FFFFFFF))
_FP64_BLANK = (140737488355328.0, 140737488355328.0 + 16)


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """What the points of one scrape target share."""

    name: str
    kind: str = "generic"
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Naming:
    name: str
    unit: str | None
    scale: float
    priority: int


def to_points(exposition: Exposition, target: TargetInfo, now_ns: int) -> list[MetricPoint]:
    """All points of one scrape; a series named twice (old and new vLLM name) is kept once."""
    types = {f.name: f.type for f in exposition.families}
    created = _created_times(exposition, types)
    kept: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[int, MetricPoint]] = {}
    for family in exposition.families:
        if _is_paired_created(family, types):
            continue
        naming = _naming(family)
        for point in _family_points(family, naming, exposition, target, created, now_ns):
            key = (point.name, tuple(sorted(point.labels.items())))
            held = kept.get(key)
            if held is None or naming.priority > held[0]:
                kept[key] = (naming.priority, point)
    return [p for _, p in kept.values()]


def _naming(family: Family) -> _Naming:
    base = family.name
    if family.type in ("unknown", "untyped") and base.endswith("_total"):
        base = base[:-6]  # an untyped counter (or `# TYPE x counter` over `x_total` lines) is named like a typed one
    known = canonical(base)
    if known is not None:
        return _Naming(known.name, known.unit, known.scale, known.priority)
    name, scale, unit = normalise_suffix(base)
    return _Naming(name, unit or (family.unit or None), scale, 0)


def _is_paired_created(family: Family, types: dict[str, str]) -> bool:
    return family.name.endswith("_created") and types.get(family.name[:-8]) in ("counter", "histogram", "summary")


def _created_times(exposition: Exposition, types: dict[str, str]) -> dict[tuple[str, frozenset], int]:
    """(family, labels) -> start time in ns, from text-format ``X_created`` families and OpenMetrics samples."""
    out: dict[tuple[str, frozenset], int] = {}
    for family in exposition.families:
        paired = _is_paired_created(family, types)
        base = family.name[:-8] if paired else family.name
        for name, labels, idx in family.samples:
            if paired or name == family.name + "_created":
                value = exposition.values[idx]
                if math.isfinite(value) and value > 0:
                    out[(base, frozenset(labels.items()))] = int(value * 1e9)
    return out


def _family_points(family: Family, naming: _Naming, exp: Exposition, target: TargetInfo,
                   created: dict[tuple[str, frozenset], int], now_ns: int) -> list[MetricPoint]:
    if family.type == "histogram":
        return _histograms(family, naming, exp, target, created, now_ns)
    if family.type == "summary":
        return _summaries(family, naming, exp, target, created, now_ns)
    points = []
    for sample_name, labels, idx in family.samples:
        if sample_name.endswith("_created") and family.type == "counter":
            continue
        kind = COUNTER if family.type == "counter" or (
            family.type in ("unknown", "untyped") and sample_name.endswith("_total")) else GAUGE
        value = exp.values[idx]
        if _blank(family.name, kind, value):
            continue
        start = created.get((family.name, frozenset(labels.items()))) if kind == COUNTER else None
        points.append(MetricPoint(name=naming.name, kind=kind, time_ns=_time(exp, idx, now_ns),
                                  value=value * naming.scale, labels=_labels(labels, target), unit=naming.unit,
                                  source=target.name, start_ns=start))
    return points


def _histograms(family: Family, naming: _Naming, exp: Exposition, target: TargetInfo,
                created: dict[tuple[str, frozenset], int], now_ns: int) -> list[MetricPoint]:
    groups: dict[frozenset, dict[str, object]] = defaultdict(lambda: {"buckets": []})
    for sample_name, labels, idx in family.samples:
        suffix = sample_name[len(family.name):]
        if suffix == "_bucket" and "le" in labels:
            rest = frozenset((k, v) for k, v in labels.items() if k != "le")
            groups[rest]["buckets"].append((float(labels["le"]), exp.values[idx]))  # type: ignore[attr-defined]
            groups[rest]["idx"] = idx
        elif suffix in ("_sum", "_count"):
            groups[frozenset(labels.items())][suffix] = exp.values[idx]
    points = []
    for labels, parts in groups.items():
        hist = _histogram(parts, naming.scale)
        if hist is None:
            continue
        points.append(MetricPoint(
            name=naming.name, kind=HISTOGRAM, time_ns=_time(exp, parts.get("idx"), now_ns),  # type: ignore[arg-type]
            value=None, labels=_labels(dict(labels), target), unit=naming.unit, source=target.name,
            start_ns=created.get((family.name, labels)), histogram=hist))
    return points


def _histogram(parts: dict[str, object], scale: float) -> Histogram | None:
    """Cumulative ``le`` buckets -> per-bucket counts; bounds and sum scaled to base units."""
    buckets = sorted(parts["buckets"])  # type: ignore[call-overload]
    if not buckets:
        return None
    bounds = tuple(le * scale for le, _ in buckets if math.isfinite(le))
    cumulative = [c for _, c in buckets]
    if math.isfinite(buckets[-1][0]):  # no +Inf bucket: _count is the total
        cumulative.append(float(parts.get("_count", cumulative[-1])))  # type: ignore[arg-type]
    counts = tuple(max(c - p, 0.0) for p, c in pairwise([0.0, *cumulative]))
    total = parts.get("_sum")
    return Histogram(bounds, counts, float(total) * scale if total is not None else None,  # type: ignore[arg-type]
                     float(cumulative[-1]))


def _summaries(family: Family, naming: _Naming, exp: Exposition, target: TargetInfo,
               created: dict[tuple[str, frozenset], int], now_ns: int) -> list[MetricPoint]:
    points = []
    for sample_name, labels, idx in family.samples:
        suffix = sample_name[len(family.name):]
        value = exp.values[idx]
        if suffix == "" and "quantile" in labels:
            points.append(MetricPoint(naming.name, GAUGE, _time(exp, idx, now_ns), value * naming.scale,
                                      _labels(labels, target), naming.unit, target.name))
        elif suffix in ("_sum", "_count"):
            scale = naming.scale if suffix == "_sum" else 1.0
            points.append(MetricPoint(naming.name + suffix, COUNTER, _time(exp, idx, now_ns), value * scale,
                                      _labels(labels, target), naming.unit if suffix == "_sum" else None,
                                      target.name, created.get((family.name, frozenset(labels.items())))))
    return points


def _labels(labels: dict[str, str], target: TargetInfo) -> dict[str, str]:
    if not target.labels:
        return dict(labels)
    merged = dict(labels)
    for key, value in target.labels.items():
        if key in merged and merged[key] != value:
            merged["exported_" + key] = merged[key]
        merged[key] = value
    return merged


def _time(exp: Exposition, idx: int | None, now_ns: int) -> int:
    stamp = exp.timestamps[idx] if idx is not None else None
    return round(stamp * 1e6) * 1000 if stamp is not None else now_ns  # µs: what the databases keep


def _blank(family: str, kind: str, value: float) -> bool:
    """DCGM's sentinels for fields a GPU does not support (and absurd values no server means)."""
    if value >= _INT64_BLANK:
        return True
    if not family.startswith(("DCGM_", "nv_gpu_")):
        return False
    if _FP64_BLANK[0] <= value <= _FP64_BLANK[1]:
        return True
    return kind == GAUGE and _INT32_BLANK[0] <= value <= _INT32_BLANK[1]
