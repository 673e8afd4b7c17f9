"""Pure OTLP metrics decoding: ExportMetricsServiceRequest bytes -> ``MetricBatch`` of ``MetricPoint``s.

Knows nothing of HTTP, gRPC or databases. Gauges, sums (cumulative and delta, monotonic or not),
explicit and exponential histograms and summaries are all kept; the GenAI metrics
(``gen_ai.client.operation.duration``, ``gen_ai.server.time_to_first_token``, …) need no special
case, they are stored under their own names like any other metric.

Labels are the data point's attributes plus the resource's ``service.name`` and
``service.instance.id`` (the whole resource on every point would be too heavy). A point without
a usable timestamp is rejected on its own (partial success); a body that cannot be parsed raises
``PayloadError`` (HTTP 400).
"""

from __future__ import annotations

import json
import math
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from collectors.otlp.traces import JSON, PROTOBUF
from collectors.otlp.values import pb_attributes
from monitor.errors import PayloadError
from monitor.store.points import COUNTER, DELTA, GAUGE, HISTOGRAM, HISTOGRAM_DELTA, Histogram, MetricBatch, MetricPoint

_DELTA_TEMPORALITY = 1
_NO_RECORDED_VALUE = 1
_MAX_NS = 253402300799 * 10**9
_RESOURCE_LABELS = ("service.name", "service.instance.id")


def decode_metrics(body: bytes, content_type: str) -> MetricBatch:
    """Decode an ExportMetricsServiceRequest in either OTLP encoding."""
    if content_type == PROTOBUF:
        try:
            request = ExportMetricsServiceRequest.FromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise PayloadError(f"body is not a valid ExportMetricsServiceRequest protobuf: {exc}") from exc
        return points_from_proto(request)
    if content_type == JSON:
        return points_from_proto(_parse_json(body))
    raise ValueError(f"unsupported content type {content_type!r}")


def _parse_json(body: bytes) -> ExportMetricsServiceRequest:
    """OTLP/JSON through protobuf's JSON mapping, after removing exemplars (their ids are hex, not base64)."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise PayloadError("OTLP/JSON body must be an object with resourceMetrics")
    _drop_exemplars(doc)
    try:
        return json_format.ParseDict(doc, ExportMetricsServiceRequest(), ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError, AttributeError) as exc:
        raise PayloadError(f"not an OTLP/JSON ExportMetricsServiceRequest: {str(exc)[:300]}") from exc


def _drop_exemplars(doc: dict[str, Any]) -> None:
    for rm in _items(doc, "resourceMetrics"):
        for sm in _items(rm, "scopeMetrics"):
            for metric in _items(sm, "metrics"):
                for key in ("gauge", "sum", "histogram", "exponentialHistogram"):
                    for dp in _items(metric.get(key), "dataPoints"):
                        dp.pop("exemplars", None)


def _items(obj: Any, key: str) -> list[dict[str, Any]]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def points_from_proto(request: ExportMetricsServiceRequest) -> MetricBatch:
    """Convert an already parsed request (the gRPC server receives it parsed)."""
    batch = MetricBatch()
    index = 0
    for rm in request.resource_metrics:
        resource = pb_attributes(rm.resource.attributes)
        base = {k: _text(resource[k]) for k in _RESOURCE_LABELS if resource.get(k) is not None}
        source = base.get("service.name", "otlp")
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for result in _metric_points(metric, base, source):  # one result per data point
                    if isinstance(result, str):
                        batch.rejected.append((index, result))
                    else:
                        batch.points.extend(result)
                    index += 1
    return batch


def _metric_points(metric: Any, base: dict[str, str], source: str) -> list[list[MetricPoint] | str]:
    """For each data point, its points (a summary gives several) or the reason it was rejected."""
    which = metric.WhichOneof("data")
    if which is None:
        return []
    data = getattr(metric, which)
    if not metric.name:
        return ["metric without a name"] * len(data.data_points)
    unit = metric.unit or None
    out: list[list[MetricPoint] | str] = []
    for dp in data.data_points:
        problem = _check_time(metric.name, dp)
        if problem:
            out.append(problem)
            continue
        if dp.flags & _NO_RECORDED_VALUE:
            out.append([])
            continue
        labels = {**base, **{k: _text(v) for k, v in pb_attributes(dp.attributes).items()}}
        start = dp.start_time_unix_nano or None
        if which in ("gauge", "sum"):
            point = _number(metric.name, which, data, dp, labels, unit, source, start)
            out.append([point] if point is not None else [])
        elif which in ("histogram", "exponential_histogram"):
            kind = HISTOGRAM_DELTA if data.aggregation_temporality == _DELTA_TEMPORALITY else HISTOGRAM
            try:
                hist = _explicit(dp) if which == "histogram" else _exponential(dp)
            except OverflowError:  # 2**2**-scale or base**offset beyond float: this point only is bad
                out.append(f"{metric.name}: exponential histogram scale/offset out of range")
                continue
            out.append([MetricPoint(metric.name, kind, dp.time_unix_nano, None, labels, unit, source, start, hist)])
        else:
            out.append(_summary(metric.name, dp, labels, unit, source, start))
    return out


def _check_time(name: str, dp: Any) -> str | None:
    if not 0 < dp.time_unix_nano < _MAX_NS:
        return f"{name}: data point time_unix_nano {dp.time_unix_nano} out of range"
    return None


def _number(name: str, which: str, data: Any, dp: Any, labels: dict[str, str], unit: str | None,
            source: str, start: int | None) -> MetricPoint | None:
    value = float(dp.as_double if dp.WhichOneof("value") == "as_double" else dp.as_int)
    if math.isnan(value):
        return None
    if which == "gauge":
        kind = GAUGE
    elif data.aggregation_temporality == _DELTA_TEMPORALITY:
        kind = DELTA
    else:
        kind = COUNTER if data.is_monotonic else GAUGE  # a cumulative up-down counter reads like a gauge
    return MetricPoint(name, kind, dp.time_unix_nano, value, labels, unit, source,
                       start if kind == COUNTER else None)


def _explicit(dp: Any) -> Histogram:
    bounds = tuple(dp.explicit_bounds)
    counts = [float(c) for c in dp.bucket_counts]
    if len(counts) != len(bounds) + 1:  # malformed or count-only: keep the total in the overflow bucket
        counts = [0.0] * len(bounds) + [float(dp.count)]
    return Histogram(bounds, tuple(counts), dp.sum if dp.HasField("sum") else None, float(dp.count))


def _exponential(dp: Any) -> Histogram:
    """Exponential buckets as explicit ones: bucket i covers (base**i, base**(i+1)], base = 2**2**-scale.

    Zero and negative observations are folded into the first bucket (upper bound 0), which is
    enough for latency and token percentiles, the only use of these histograms here.
    """
    base = 2.0 ** (2.0 ** -dp.scale)
    positive = [float(c) for c in dp.positive.bucket_counts]
    offset = dp.positive.offset
    bounds = [0.0] + [base ** (offset + i + 1) for i in range(len(positive))]
    counts = [float(dp.zero_count) + sum(float(c) for c in dp.negative.bucket_counts), *positive, 0.0]
    return Histogram(tuple(bounds), tuple(counts), dp.sum if dp.HasField("sum") else None, float(dp.count))


def _summary(name: str, dp: Any, labels: dict[str, str], unit: str | None, source: str,
             start: int | None) -> list[MetricPoint]:
    out = [
        MetricPoint(name, GAUGE, dp.time_unix_nano, q.value, {**labels, "quantile": _text(q.quantile)}, unit, source)
        for q in dp.quantile_values
    ]
    out.append(MetricPoint(name + ".sum", COUNTER, dp.time_unix_nano, dp.sum, dict(labels), unit, source, start))
    out.append(MetricPoint(name + ".count", COUNTER, dp.time_unix_nano, float(dp.count), dict(labels), None,
                           source, start))
    return out


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)
