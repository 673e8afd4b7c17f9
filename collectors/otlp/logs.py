"""Pure OTLP log decoding; GenAI content can arrive as log events rather than on spans."""

from __future__ import annotations

import json

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collectors.otlp.traces import JSON, PROTOBUF, _list, _obj, _text
from collectors.otlp.values import json_attributes, json_id, json_int, json_value, pb_attributes, pb_value
from monitor.domain import DecodedBatch, LogEvent, Rejected
from monitor.errors import PayloadError


def decode_logs(body: bytes, content_type: str) -> DecodedBatch:
    if content_type == PROTOBUF:
        try:
            request = ExportLogsServiceRequest.FromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise PayloadError(f"body is not a valid ExportLogsServiceRequest protobuf: {exc}") from exc
        return logs_from_proto(request)
    if content_type == JSON:
        return _decode_json(body)
    raise ValueError(f"unsupported content type {content_type!r}")


def logs_from_proto(request: ExportLogsServiceRequest) -> DecodedBatch:
    batch = DecodedBatch()
    for resource_logs in request.resource_logs:
        resource = pb_attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for r in scope_logs.log_records:
                attributes = pb_attributes(r.attributes)
                batch.logs.append(
                    LogEvent(
                        trace_id=r.trace_id.hex() if len(r.trace_id) == 16 and any(r.trace_id) else None,
                        span_id=r.span_id.hex() if len(r.span_id) == 8 and any(r.span_id) else None,
                        time_ns=r.time_unix_nano or r.observed_time_unix_nano,
                        event_name=_text(r.event_name or attributes.get("event.name")),
                        severity=_text(r.severity_text),
                        body=pb_value(r.body),
                        attributes=attributes,
                        resource=resource,
                    )
                )
    return batch


def _decode_json(body: bytes) -> DecodedBatch:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise PayloadError("OTLP/JSON body must be an object with resourceLogs")
    batch = DecodedBatch()
    index = 0
    for resource_logs in _list(doc, "resourceLogs"):
        resource = json_attributes(_obj(resource_logs, "resource").get("attributes"))
        for scope_logs in _list(resource_logs, "scopeLogs"):
            for raw in _list(scope_logs, "logRecords"):
                try:
                    attributes = json_attributes(raw.get("attributes"))
                    batch.logs.append(
                        LogEvent(
                            trace_id=json_id(raw.get("traceId"), 16),
                            span_id=json_id(raw.get("spanId"), 8),
                            time_ns=json_int(raw.get("timeUnixNano")) or json_int(raw.get("observedTimeUnixNano")),
                            event_name=_text(raw.get("eventName") or attributes.get("event.name")),
                            severity=_text(raw.get("severityText")),
                            body=json_value(raw.get("body")),
                            attributes=attributes,
                            resource=resource,
                        )
                    )
                except (PayloadError, ValueError, TypeError, AttributeError) as exc:
                    batch.rejected.append(Rejected(index, f"log record {index}: {exc}"))
                index += 1
    return batch
