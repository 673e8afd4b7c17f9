"""Helpers that build OTLP requests for tests, through the real opentelemetry-proto classes."""

from __future__ import annotations

import os
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list | tuple):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    return AnyValue(string_value=str(value))


def kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def make_span(attrs: dict[str, Any] | None = None, *, trace_id: bytes | None = None, span_id: bytes | None = None,
              parent: bytes = b"", name: str = "chat gpt-4o-mini", duration_ms: float = 120.0,
              start_ns: int | None = None, status_code: int = 0) -> Span:
    start = start_ns if start_ns is not None else time.time_ns()
    span = Span(trace_id=trace_id or os.urandom(16), span_id=span_id or os.urandom(8), parent_span_id=parent,
                name=name, kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=start,
                end_time_unix_nano=start + int(duration_ms * 1e6), attributes=kvs(attrs or {}))
    span.status.code = status_code
    return span


def chat_attrs(model: str = "gpt-4o-mini", input_tokens: int = 100, output_tokens: int = 50, **extra: Any
               ) -> dict[str, Any]:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"What is OTLP?"}]}]',
        "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text","content":"A protocol."}],'
                                  '"finish_reason":"stop"}]',
        "gen_ai.response.finish_reasons": ["stop"],
    }
    attrs.update(extra)
    return attrs


def request(spans: list[Span], resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    rs.resource.attributes.extend(kvs(resource or {"service.name": "test-svc"}))
    req.resource_spans.append(rs)
    return req
