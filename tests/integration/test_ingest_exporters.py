"""Spans sent by the real OpenTelemetry Python exporters (HTTP/protobuf and gRPC) are stored and
read back through the REST API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from monitor.config import Settings
from monitor.server import ServiceHandle, start_in_thread


@pytest.fixture
def service(settings: Settings) -> Iterator[ServiceHandle]:
    handle = start_in_thread(settings)
    yield handle
    handle.stop()


def _emit(exporter: SpanExporter) -> str:
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot",
                                                        "llm_monitor.segment.region": "eu"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("handle_request") as root:
        with tracer.start_as_current_span("chat gpt-4o-mini") as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.provider.name", "openai")
            span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            span.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
            span.set_attribute("gen_ai.usage.input_tokens", 1200)
            span.set_attribute("gen_ai.usage.output_tokens", 300)
            span.set_attribute("gen_ai.usage.cache_read.input_tokens", 200)
            span.set_attribute("gen_ai.input.messages",
                               '[{"role":"user","parts":[{"type":"text","content":"Reset my password"}]}]')
            span.set_attribute("gen_ai.output.messages",
                               '[{"role":"assistant","parts":[{"type":"text","content":"Go to settings."}],'
                               '"finish_reason":"stop"}]')
            span.set_attribute("gen_ai.response.finish_reasons", ["stop"])
            span.set_attribute("user.id", "u-42")
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


def _check_stored(base: str, trace_id: str) -> None:
    trace = httpx.get(f"{base}/api/v1/traces/{trace_id}").json()
    assert trace["span_count"] == 2
    root = trace["roots"][0]
    assert root["name"] == "handle_request" and not root["is_llm"]
    call = root["children"][0]
    assert call["is_llm"] and call["operation"] == "chat" and call["provider"] == "openai"
    assert call["response_model"] == "gpt-4o-mini-2024-07-18"
    assert (call["input_tokens"], call["output_tokens"], call["total_tokens"]) == (1200, 300, 1500)
    assert call["cached_input_tokens"] == 200
    assert call["input_text"] == "Reset my password" and call["output_text"] == "Go to settings."
    assert call["segment"] == {"region": "eu"} and call["user_id"] == "u-42"
    assert call["cost_source"] == "genai-prices" and call["cost_usd"] > 0
    calls = httpx.get(f"{base}/api/v1/calls", params={"segment": "region:eu", "user": "u-42"}).json()
    assert [c["span_id"] for c in calls["items"]] == [call["span_id"]]


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_http_protobuf_exporter_round_trip(service: ServiceHandle, compression: Compression) -> None:
    base = f"http://127.0.0.1:{service.http_port}"
    trace_id = _emit(HttpExporter(endpoint=f"{base}/v1/traces", compression=compression))
    _check_stored(base, trace_id)


def test_grpc_exporter_round_trip(service: ServiceHandle) -> None:
    base = f"http://127.0.0.1:{service.http_port}"
    trace_id = _emit(GrpcExporter(endpoint=f"127.0.0.1:{service.grpc_port}", insecure=True))
    _check_stored(base, trace_id)
