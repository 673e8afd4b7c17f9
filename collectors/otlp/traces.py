"""Pure OTLP trace decoding: request bytes -> ``DecodedBatch`` of domain ``Span`` objects.

Knows nothing of HTTP, gRPC or databases, so both transports and the tests share it. A span
with a broken id is rejected on its own (partial success); a body that cannot be parsed at all
raises ``PayloadError`` (HTTP 400).
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from collectors.otlp.values import json_attributes, json_id, json_int, json_optional_id, pb_attributes, truncate
from monitor.domain import DecodedBatch, Rejected, Span
from monitor.errors import PayloadError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def decode_traces(body: bytes, content_type: str) -> DecodedBatch:
    """Decode an ExportTraceServiceRequest in either OTLP encoding."""
    if content_type == PROTOBUF:
        return decode_traces_proto(body)
    if content_type == JSON:
        return decode_traces_json(body)
    raise ValueError(f"unsupported content type {content_type!r}")


def decode_traces_proto(body: bytes) -> DecodedBatch:
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise PayloadError(f"body is not a valid ExportTraceServiceRequest protobuf: {exc}") from exc
    return spans_from_proto(request)


def spans_from_proto(request: ExportTraceServiceRequest) -> DecodedBatch:
    """Convert an already parsed request (the gRPC server receives it parsed)."""
    batch = DecodedBatch()
    index = 0
    for resource_spans in request.resource_spans:
        resource = pb_attributes(resource_spans.resource.attributes)
        service = _service_name(resource)
        for scope_spans in resource_spans.scope_spans:
            scope_name = truncate(scope_spans.scope.name) or None
            for s in scope_spans.spans:
                trace_id, span_id = s.trace_id, s.span_id
                if len(trace_id) != 16 or not any(trace_id) or len(span_id) != 8 or not any(span_id):
                    batch.rejected.append(Rejected(index, "trace_id must be 16 bytes and span_id 8, non-zero"))
                    index += 1
                    continue
                parent = s.parent_span_id
                batch.spans.append(
                    Span(
                        trace_id=trace_id.hex(),
                        span_id=span_id.hex(),
                        parent_span_id=parent.hex() if len(parent) == 8 and any(parent) else None,
                        name=truncate(s.name),
                        kind=_enum(s.kind, 5),
                        start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano or s.start_time_unix_nano,
                        status_code=_enum(s.status.code, 2),
                        status_message=truncate(s.status.message) if s.status.message else None,
                        attributes=pb_attributes(s.attributes),
                        resource=resource,
                        scope_name=scope_name,
                        events=[
                            {"name": truncate(e.name), "time_ns": e.time_unix_nano,
                             "attributes": pb_attributes(e.attributes)}
                            for e in s.events
                        ],
                        links=[
                            {"trace_id": ln.trace_id.hex(), "span_id": ln.span_id.hex(),
                             "attributes": pb_attributes(ln.attributes)}
                            for ln in s.links
                        ],
                        service_name=service,
                    )
                )
                index += 1
    return batch


def decode_traces_json(body: bytes) -> DecodedBatch:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise PayloadError("OTLP/JSON body must be an object with resourceSpans")
    batch = DecodedBatch()
    index = 0
    for resource_spans in _list(doc, "resourceSpans"):
        resource = json_attributes(_obj(resource_spans, "resource").get("attributes"))
        service = _service_name(resource)
        for scope_spans in _list(resource_spans, "scopeSpans"):
            scope_name = _text(_obj(scope_spans, "scope").get("name"))
            for raw in _list(scope_spans, "spans"):
                try:
                    batch.spans.append(_json_span(raw, resource, scope_name, service))
                except (PayloadError, ValueError, TypeError, AttributeError) as exc:
                    batch.rejected.append(Rejected(index, f"span {index}: {exc}"))
                index += 1
    return batch


def _json_span(raw: Any, resource: dict[str, Any], scope_name: str | None, service: str | None) -> Span:
    if not isinstance(raw, dict):
        raise ValueError("span is not an object")
    trace_id = json_id(raw.get("traceId"), 16)
    span_id = json_id(raw.get("spanId"), 8)
    if not trace_id or not span_id or int(trace_id, 16) == 0 or int(span_id, 16) == 0:
        raise ValueError("traceId and spanId are required and non-zero")
    start = json_int(raw.get("startTimeUnixNano"))
    status = raw.get("status") or {}
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=json_optional_id(raw.get("parentSpanId"), 8),
        name=truncate(str(raw.get("name", ""))),
        kind=_enum(_json_enum(raw.get("kind"), PbSpan.SpanKind), 5),
        start_ns=start,
        end_ns=json_int(raw.get("endTimeUnixNano"), start),
        status_code=_enum(_json_enum(status.get("code"), Status.StatusCode), 2),
        status_message=truncate(str(status.get("message"))) if status.get("message") else None,
        attributes=json_attributes(raw.get("attributes")),
        resource=resource,
        scope_name=scope_name,
        events=[
            {"name": _text(e.get("name")) or "", "time_ns": json_int(e.get("timeUnixNano")),
             "attributes": json_attributes(e.get("attributes"))}
            for e in raw.get("events") or []
        ],
        links=[
            {"trace_id": json_optional_id(ln.get("traceId"), 16), "span_id": json_optional_id(ln.get("spanId"), 8),
             "attributes": json_attributes(ln.get("attributes"))}
            for ln in raw.get("links") or []
        ],
        service_name=service,
    )


def _json_enum(raw: Any, enum: Any) -> int:
    """OTLP/JSON enums are integers; generic proto3 JSON writers (``MessageToDict``) send names."""
    if isinstance(raw, str) and raw and not raw.lstrip("-").isdigit():
        names = enum.DESCRIPTOR.values_by_name
        return int(names[raw].number) if raw in names else 0
    return json_int(raw)


def _enum(value: int, highest: int) -> int:
    """Unknown enum values (from newer or broken clients) are stored as UNSPECIFIED/UNSET."""
    return value if 0 <= value <= highest else 0


def _text(value: Any) -> str | None:
    """A name field as storable text: JSON clients may send numbers or objects where a string belongs."""
    return truncate(value if isinstance(value, str) else str(value)) if value not in (None, "") else None


def _service_name(resource: dict[str, Any]) -> str | None:
    name = resource.get("service.name")
    return str(name) if name is not None else None


def _list(obj: Any, key: str) -> list[Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"{key} must be a list")
    return value


def _obj(obj: Any, key: str) -> dict[str, Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{key} must be an object")
    return value
