"""Hypothesis strategies for OTLP payloads: structured requests with extreme values, and mutations.

Structured generation goes through the real opentelemetry-proto classes, so every generated
protobuf is one a (strange) client could send; JSON is derived from it the way OTLP/JSON
exporters write it (camelCase, int64 as strings, ids as hex or base64). Mutations then break
what the structure guarantees: bytes flipped, inserted, cut; JSON values swapped for the wrong
types; gzip corrupted; content types wrong.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import zlib
from typing import Any

from google.protobuf import json_format
from hypothesis import Phase
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
    Summary,
    SummaryDataPoint,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MAX_NS = 253402300799 * 10**9  # 9999-12-31, the largest timestamp the store keeps
NOW_NS = 1_764_000_000 * 10**9  # fixed, so that generation is deterministic
# No shrinking: with megabyte values it can take minutes; derandomised runs reproduce a failure anyway.
NO_SHRINK = (Phase.explicit, Phase.generate)
INT64 = st.integers(-(2**63), 2**63 - 1)
UINT64 = st.integers(0, 2**64 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)

# Text: short and arbitrary (NUL, surrogates-free unicode, control chars), or huge (past the
# 256 KiB attribute limit) built by repetition, which hypothesis could not draw directly.
HUGE = st.sampled_from(["x", "\x00", "é", "🙂"]).map(lambda c: c * 270_000)
TEXT = st.one_of(st.text(max_size=30), st.sampled_from(["", "\x00", "service.name", "gen_ai.request.model"]))
ODD_TEXT = st.integers(0, 24).flatmap(lambda i: HUGE if i == 0 else TEXT)  # huge values are rare: they are slow
TIMESTAMPS = st.one_of(
    st.integers(NOW_NS - 10**12, NOW_NS + 10**12),
    st.sampled_from([0, 1, 2**63 - 1, 2**63, 2**64 - 1]),  # fixed64: JSON mutations go past it
    UINT64,
)
VALID_TIMESTAMPS = st.one_of(st.integers(NOW_NS - 10**12, NOW_NS + 10**12), st.sampled_from([0, 1, 2**64 - 1]))
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([float("nan"), float("inf"), -float("inf"), -0.0, 1e308, 5e-324]))


def _leaf_values() -> st.SearchStrategy[AnyValue]:
    return st.one_of(
        ODD_TEXT.map(lambda s: AnyValue(string_value=s)),
        INT64.map(lambda i: AnyValue(int_value=i)),
        FLOATS.map(lambda f: AnyValue(double_value=f)),
        st.booleans().map(lambda b: AnyValue(bool_value=b)),
        st.binary(max_size=40).map(lambda b: AnyValue(bytes_value=b)),
        st.just(AnyValue()),
    )


def _nest(children: st.SearchStrategy[AnyValue]) -> st.SearchStrategy[AnyValue]:
    return st.one_of(
        st.lists(children, max_size=4).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs))),
        st.lists(st.tuples(TEXT, children), max_size=4).map(
            lambda kv: AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in kv]))),
    )


def deep_value(depth: int) -> AnyValue:
    """An AnyValue nested ``depth`` levels (alternating arrays and kvlists)."""
    value = AnyValue(string_value="bottom")
    for level in range(depth):
        if level % 2:
            value = AnyValue(array_value=ArrayValue(values=[value]))
        else:
            value = AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="k", value=value)]))
    return value


def any_values(max_depth: int = 30) -> st.SearchStrategy[AnyValue]:
    """Small odd trees, or one deep chain (deeper ones, which protobuf objects cannot even hold, come
    from ``deep_trace_bodies``)."""
    return st.one_of(st.recursive(_leaf_values(), _nest, max_leaves=12), st.integers(1, max_depth).map(deep_value))


def attributes(max_depth: int = 30) -> st.SearchStrategy[list[KeyValue]]:
    return st.lists(st.builds(KeyValue, key=TEXT, value=any_values(max_depth)), max_size=6)


ANY_VALUES = any_values()
ATTRIBUTES = attributes()


def _ids(size: int, valid: bool) -> st.SearchStrategy[bytes]:
    exact = st.binary(min_size=size, max_size=size).filter(any)
    if valid:
        return exact
    return st.one_of(exact, st.binary(max_size=2 * size + 1), st.just(b"\x00" * size))


def spans(valid: bool = False) -> st.SearchStrategy[Span]:
    """A span; ``valid`` keeps ids and timestamps acceptable (everything else stays odd)."""
    times = VALID_TIMESTAMPS if valid else TIMESTAMPS
    attrs = attributes(20) if valid else ATTRIBUTES
    return st.builds(
        Span,
        trace_id=_ids(16, valid), span_id=_ids(8, valid), parent_span_id=st.binary(max_size=9),
        trace_state=TEXT, name=ODD_TEXT, kind=INT32, start_time_unix_nano=times, end_time_unix_nano=times,
        attributes=attrs, dropped_attributes_count=st.integers(0, 2**32 - 1),
        events=st.lists(st.builds(Span.Event, time_unix_nano=TIMESTAMPS, name=TEXT, attributes=ATTRIBUTES),
                        max_size=2),
        links=st.lists(st.builds(Span.Link, trace_id=st.binary(max_size=17), span_id=st.binary(max_size=9),
                                 attributes=ATTRIBUTES), max_size=2),
        status=st.builds(Status, code=INT32, message=TEXT),
    )


def trace_requests(valid: bool = False) -> st.SearchStrategy[ExportTraceServiceRequest]:
    scope = st.builds(ScopeSpans, spans=st.lists(spans(valid), min_size=1 if valid else 0, max_size=4))
    resource = st.builds(ResourceSpans, scope_spans=st.lists(scope, min_size=1 if valid else 0, max_size=2))
    return st.tuples(st.lists(resource, min_size=1 if valid else 0, max_size=2), ATTRIBUTES).map(_trace_request)


def _trace_request(parts: tuple[list[ResourceSpans], list[KeyValue]]) -> ExportTraceServiceRequest:
    resources, attrs = parts
    for rs in resources:
        rs.resource.attributes.extend(attrs)
        for ss in rs.scope_spans:
            ss.scope.name = "fuzz"
    return ExportTraceServiceRequest(resource_spans=resources)


def log_requests(valid: bool = False) -> st.SearchStrategy[ExportLogsServiceRequest]:
    times = VALID_TIMESTAMPS if valid else TIMESTAMPS
    record = st.builds(LogRecord, time_unix_nano=times, observed_time_unix_nano=times, severity_number=INT32,
                       severity_text=TEXT, body=any_values(20 if valid else 30),
                       attributes=attributes(20) if valid else ATTRIBUTES, trace_id=st.binary(max_size=17),
                       span_id=st.binary(max_size=9), event_name=TEXT)
    scope = st.builds(ScopeLogs, log_records=st.lists(record, min_size=1 if valid else 0, max_size=4))
    return st.lists(st.builds(ResourceLogs, scope_logs=st.lists(scope, min_size=1, max_size=2)),
                    min_size=1 if valid else 0, max_size=2).map(lambda rl: ExportLogsServiceRequest(resource_logs=rl))


def _metric() -> st.SearchStrategy[Metric]:
    number = st.builds(NumberDataPoint, time_unix_nano=TIMESTAMPS, start_time_unix_nano=TIMESTAMPS,
                       attributes=ATTRIBUTES, flags=st.integers(0, 3),
                       as_double=FLOATS) | st.builds(NumberDataPoint, time_unix_nano=TIMESTAMPS, as_int=INT64)
    hist = st.builds(HistogramDataPoint, time_unix_nano=TIMESTAMPS, count=UINT64, sum=FLOATS,
                     bucket_counts=st.lists(UINT64, max_size=5), explicit_bounds=st.lists(FLOATS, max_size=5))
    expo = st.builds(ExponentialHistogramDataPoint, time_unix_nano=TIMESTAMPS, count=UINT64, sum=FLOATS,
                     scale=st.one_of(st.integers(-30, 30), INT32), zero_count=UINT64,
                     positive=st.builds(ExponentialHistogramDataPoint.Buckets, offset=INT32,
                                        bucket_counts=st.lists(UINT64, max_size=5)))
    summary = st.builds(SummaryDataPoint, time_unix_nano=TIMESTAMPS, count=UINT64, sum=FLOATS,
                        quantile_values=st.lists(st.builds(SummaryDataPoint.ValueAtQuantile, quantile=FLOATS,
                                                           value=FLOATS), max_size=3))
    temporality = st.integers(-1, 3)
    data = st.one_of(
        st.lists(number, max_size=3).map(lambda dps: {"gauge": Gauge(data_points=dps)}),
        st.tuples(st.lists(number, max_size=3), temporality, st.booleans()).map(
            lambda t: {"sum": Sum(data_points=t[0], aggregation_temporality=t[1], is_monotonic=t[2])}),
        st.tuples(st.lists(hist, max_size=3), temporality).map(
            lambda t: {"histogram": Histogram(data_points=t[0], aggregation_temporality=t[1])}),
        st.tuples(st.lists(expo, max_size=3), temporality).map(
            lambda t: {"exponential_histogram": ExponentialHistogram(data_points=t[0],
                                                                      aggregation_temporality=t[1])}),
        st.lists(summary, max_size=3).map(lambda dps: {"summary": Summary(data_points=dps)}),
    )
    return st.tuples(TEXT, TEXT, data).map(lambda t: Metric(name=t[0], unit=t[1], **t[2]))


def metric_requests() -> st.SearchStrategy[ExportMetricsServiceRequest]:
    scope = st.builds(ScopeMetrics, metrics=st.lists(_metric(), max_size=3))
    return st.lists(st.builds(ResourceMetrics, scope_metrics=st.lists(scope, max_size=2)), max_size=2).map(
        lambda rm: ExportMetricsServiceRequest(resource_metrics=rm))


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _deep_proto(depth: int) -> bytes:
    """A one-span ExportTraceServiceRequest whose attribute nests ``depth`` arrays, encoded by hand
    (the protobuf runtime refuses to build what it would refuse to parse)."""
    value = _field(1, b"bottom")  # AnyValue.string_value
    for _ in range(depth):
        value = _field(5, _field(1, value))  # AnyValue.array_value -> ArrayValue.values
    stamp = (NOW_NS).to_bytes(8, "little")
    span = (_field(1, bytes(range(1, 17))) + _field(2, bytes(range(1, 9))) + _field(5, b"deep")
            + b"\x39" + stamp + b"\x41" + stamp + _field(9, _field(1, b"deep") + _field(2, value)))
    return _field(1, _field(2, _field(2, span)))


def _deep_json(depth: int) -> bytes:
    value: dict[str, Any] = {"stringValue": "bottom"}
    for _ in range(depth):
        value = {"arrayValue": {"values": [value]}}
    span = {"traceId": bytes(range(1, 17)).hex(), "spanId": bytes(range(1, 9)).hex(), "name": "deep",
            "startTimeUnixNano": str(NOW_NS), "endTimeUnixNano": str(NOW_NS),
            "attributes": [{"key": "deep", "value": value}]}
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


DEEP_TRACE_BODIES = st.tuples(st.integers(1, 400), st.booleans()).map(
    lambda t: (_deep_proto(t[0]), PROTOBUF) if t[1] else (_deep_json(t[0]), JSON))


# --- encodings --------------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


UNKNOWN_FIELDS = st.lists(
    st.tuples(st.integers(2, 2**29 - 1), st.one_of(INT64.map(lambda i: (0, _varint(i & (2**64 - 1)))),
                                                  st.binary(max_size=20).map(lambda b: (2, b)))),
    max_size=3,
).map(lambda fields: b"".join(
    _varint(number << 3 | wire) + (payload if wire == 0 else _varint(len(payload)) + payload)
    for number, (wire, payload) in fields))


def to_json(message: Any, hex_ids: bool) -> dict[str, Any]:
    """OTLP/JSON as exporters write it: camelCase, int64 as strings, ids hex (spec) or base64 (proto3 JSON)."""
    doc = json_format.MessageToDict(message)
    if hex_ids:
        _hexify(doc)
    return doc


def _hexify(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hexify(value)
    elif isinstance(node, list):
        for item in node:
            _hexify(item)


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_json(draw: st.DrawFn, doc: dict[str, Any]) -> bytes:
    """Replace a few values anywhere in the document with JSON of the wrong shape, or add unknown keys."""
    for _ in range(draw(st.integers(1, 4))):
        nodes = _containers(doc)
        node = draw(st.sampled_from(nodes))
        if isinstance(node, dict):
            key = draw(st.sampled_from([*node.keys(), "unknownField"]) if node else st.just("unknownField"))
            node[key] = draw(JSON_VALUES)
        elif node:
            node[draw(st.integers(0, len(node) - 1))] = draw(JSON_VALUES)
    return json.dumps(doc, allow_nan=True).encode()


def _containers(node: Any) -> list[Any]:
    out = [node] if isinstance(node, dict | list) else []
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        out += _containers(child)
    return out


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """Flip, insert, delete, duplicate or cut bytes of a valid encoding."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate"]))
        at = draw(st.integers(0, len(buf))) if buf else 0
        if op == "flip" and at < len(buf):
            buf[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del buf[at:at + draw(st.integers(1, 8))]
        elif op == "duplicate":
            buf[at:at] = buf[at:at + draw(st.integers(1, 16))]
        else:
            del buf[at:]
    return bytes(buf)


CONTENT_TYPES = st.sampled_from([PROTOBUF, JSON, f"{PROTOBUF}; charset=binary", f"{JSON}; charset=utf-8",
                                 "APPLICATION/JSON", "text/plain", "application/grpc",
                                 "application/x-www-form-urlencoded", "", "application/json+proto", "*/*"])
ENCODINGS = st.sampled_from([None, "gzip", "deflate", "identity", "br", "GZIP", "gzip, gzip", "x-gzip"])


def encode_body(body: bytes, encoding: str | None, corrupt: bool) -> bytes:
    """Compress for ``encoding`` when it is one we know; ``corrupt`` cuts the compressed stream short."""
    if encoding and encoding.lower() == "gzip":
        body = gzip.compress(body, mtime=0)
    elif encoding == "deflate":
        body = zlib.compress(body)
    if corrupt and body:
        body = body[: len(body) // 2] + b"\x00garbage"
    return body


def now_ns() -> int:
    return time.time_ns()
