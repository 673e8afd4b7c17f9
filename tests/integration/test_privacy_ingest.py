"""Privacy and limits through a real server: OTLP requests in, raw database rows out.

Every sensitive value is sent in each place content can live (typed columns via the three
conventions, content attributes, span events, log-record bodies), and the raw rows of ``spans``
and ``log_records`` are searched for it afterwards, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from sqlalchemy import Engine, text

from monitor.config import Settings
from monitor.server import ServiceHandle, start_in_thread
from tests.otlp_builders import any_value, chat_attrs, kvs, make_span, request

PB = {"Content-Type": "application/x-protobuf"}
EMAIL, PHONE, CARD = "bob.jones@example.org", "+1 (415) 555-0100", "4111 1111 1111 1111"
SECRET, ORDER = "sk-proj-Abcdefghijklmnopqrstuvwx12", "ORD-734512"
NOT_A_CARD = "4111111111111112"  # card-shaped but fails Luhn: an order id that must survive
SENSITIVE = (EMAIL, PHONE, CARD, SECRET, ORDER, "bob.jones", "555-0100", "Abcdefghijklmnop", "734512")
CONTENT_WORDS = ("refund", "Paris", "handbook")  # ordinary prompt/answer/document text


def _said(i: int) -> str:
    return (f"My refund {i}: mail {EMAIL}, phone {PHONE}, card {CARD}, key {SECRET}, ticket {ORDER}, "
            f"order number {NOT_A_CARD}")


def _spans() -> list[PbSpan]:
    """One span per convention, plus content in events; every one carries every kind of secret."""
    genai = make_span(chat_attrs(**{
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": _said(1)}]}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
            {"type": "text", "content": f"Paris. {_said(2)}"}], "finish_reason": "stop"}]),
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": f"Never leak {SECRET}"}]),
    }))
    openllmetry = make_span({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
                             "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": _said(3),
                             "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": _said(4),
                             "gen_ai.completion.0.finish_reason": "stop"})
    openinference = make_span({"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
                               "llm.input_messages.0.message.role": "user",
                               "llm.input_messages.0.message.content": _said(5),
                               "llm.output_messages.0.message.role": "assistant",
                               "llm.output_messages.0.message.content": _said(6),
                               "input.value": _said(7), "output.value": _said(8), "input.mime_type": "text/plain",
                               "output.mime_type": "text/plain"})
    retriever = make_span({"openinference.span.kind": "RETRIEVER", "input.value": _said(9),
                           "retrieval.documents.0.document.id": "doc-1",
                           "retrieval.documents.0.document.content": f"handbook: {_said(10)}"})
    events = make_span({"gen_ai.operation.name": "chat", "gen_ai.request.model": "llama"})
    for name, attrs in (("gen_ai.user.message", {"content": _said(11)}),
                        ("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": _said(12)})):
        event = events.events.add(name=name, time_unix_nano=events.start_time_unix_nano)
        event.attributes.extend(kvs(attrs))
    return [genai, openllmetry, openinference, retriever, events]


def _logs(trace_id: bytes, span_id: bytes) -> bytes:
    """openai-v2 style: the content of a chat span as log records that point at it."""
    records = []
    for name, body in (("gen_ai.user.message", {"content": _said(13)}),
                       ("gen_ai.choice", {"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": f"refund {_said(14)}"}})):
        record = LogRecord(time_unix_nano=1_764_000_000_000_000_000, trace_id=trace_id, span_id=span_id,
                           event_name=name)
        record.body.CopyFrom(_any(body))
        record.attributes.extend(kvs({"gen_ai.system": "openai"}))
        records.append(record)
    plain = LogRecord(time_unix_nano=1_764_000_000_000_000_000, severity_text="INFO")
    plain.body.string_value = f"user {EMAIL} asked for a refund"
    records.append(plain)
    req = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])])
    return req.SerializeToString()


def _any(value: Any) -> Any:
    """An AnyValue, kvlists included (the shared builder covers scalars and arrays)."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList

    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=_any(v)) for k, v in value.items()]))
    return any_value(value)


def _raw(engine: Engine, table: str, where: str = "1 = 1") -> str:
    """Every stored row of ``table``, every column, as one string to search."""
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT * FROM {table} WHERE {where}")).mappings().all()
    assert rows, f"nothing stored in {table}"
    return "\n".join(json.dumps(dict(r), default=str, ensure_ascii=False) for r in rows)


def _columns(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(
            "SELECT name, input_text, output_text, system_instructions, retrieval_context FROM spans ORDER BY name"
        )).mappings()]


@pytest.fixture
def start(db_url: str) -> Iterator[Any]:
    handles: list[ServiceHandle] = []

    def _start(with_grpc: bool = False, **overrides: Any) -> str:
        overrides.setdefault("server", {"key_cache_ttl_s": 0})
        settings = Settings(database_url=db_url, auth="disabled", **overrides)
        handles.append(start_in_thread(settings, with_grpc=with_grpc))
        if with_grpc:
            return f"127.0.0.1:{handles[-1].grpc_port}"
        return f"http://127.0.0.1:{handles[-1].http_port}"

    yield _start
    for handle in handles:
        handle.stop()


def _send_everything(base: str, logs_first: bool = False) -> None:
    spans = _spans()
    logged = make_span({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"})
    logs = _logs(logged.trace_id, logged.span_id)
    if logs_first:
        assert httpx.post(f"{base}/v1/logs", content=logs, headers=PB).status_code == 200
    resp = httpx.post(f"{base}/v1/traces", content=request([*spans, logged]).SerializeToString(), headers=PB)
    assert resp.status_code == 200 and resp.content == b""  # full success
    if not logs_first:
        assert httpx.post(f"{base}/v1/logs", content=logs, headers=PB).status_code == 200


@pytest.mark.parametrize("logs_first", [False, True], ids=["spans-then-logs", "logs-then-spans"])
def test_nothing_unredacted_reaches_the_database(start: Any, engine: Engine, logs_first: bool) -> None:
    base = start(privacy={"redact": True, "patterns": {"ticket": r"ORD-\d{6}"}})
    _send_everything(base, logs_first)
    spans, logs = _raw(engine, "spans"), _raw(engine, "log_records")
    for value in SENSITIVE:
        assert value not in spans, value
        assert value not in logs, value
    for kind in ("email", "phone", "card", "secret", "ticket"):
        assert f"[REDACTED:{kind}]" in spans and f"[REDACTED:{kind}]" in logs
    assert NOT_A_CARD in spans and NOT_A_CARD in logs  # Luhn-invalid: left as it was
    assert all(word in spans for word in CONTENT_WORDS)  # the text itself is still there
    columns = _columns(engine)
    filled = [c for c in columns if c["input_text"]]
    assert len(filled) >= 5  # genai, openllmetry, openinference, events, the span fed by the logs, …
    assert all("[REDACTED:email]" in c["input_text"] for c in filled)
    assert any("[REDACTED:secret]" in (c["system_instructions"] or "") for c in columns)
    assert any("[REDACTED:card]" in json.dumps(c["retrieval_context"] or "") for c in columns)


def test_redacted_content_reads_back_through_the_api(start: Any, engine: Engine) -> None:
    base = start(privacy={"redact": ["email", "card"]})
    _send_everything(base)
    calls = httpx.get(f"{base}/api/v1/calls", params={"limit": 50}).json()["items"]
    texts = " ".join(str(c.get("input_text")) + str(c.get("output_text")) for c in calls)
    assert "[REDACTED:email]" in texts and "[REDACTED:card]" in texts and EMAIL not in texts
    assert SECRET in texts and PHONE in texts  # kinds not configured are left alone


def test_store_content_false_stores_no_text_anywhere(start: Any, engine: Engine) -> None:
    base = start(privacy={"store_content": False})
    _send_everything(base)
    spans, logs = _raw(engine, "spans"), _raw(engine, "log_records", "event_name IS NOT NULL")
    for value in (*SENSITIVE, NOT_A_CARD, *CONTENT_WORDS, "My refund"):
        assert value not in spans, value
        assert value not in logs, value
    # An application's own log line is not prompt or answer text: it is kept (redact it with `redact`).
    assert EMAIL in _raw(engine, "log_records", "event_name IS NULL")
    columns = _columns(engine)
    assert all(c["input_text"] is None and c["output_text"] is None and c["system_instructions"] is None
               and c["retrieval_context"] is None for c in columns)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT input_tokens, request_model FROM spans WHERE is_llm")).all()
    assert (100, "gpt-4o-mini") in stored  # metadata is kept: tokens, models, ids
    assert "doc-1" in spans and "gen_ai.prompt.0.role" in spans  # document ids and roles are metadata


def test_default_stores_content_verbatim(start: Any, engine: Engine) -> None:
    base = start()
    _send_everything(base)
    spans = _raw(engine, "spans")
    assert EMAIL in spans and CARD in spans and "[REDACTED" not in spans


def _pb_spans(n: int, **extra: Any) -> list[PbSpan]:
    return [make_span(chat_attrs(**extra)) for _ in range(n)]


def test_limits_cut_values_drop_attributes_and_reject_spans_over_the_count(start: Any, engine: Engine) -> None:
    base = start(server={"key_cache_ttl_s": 0, "max_attribute_value_chars": 1000, "max_attributes_per_span": 40,
                         "max_spans_per_request": 5})
    many = make_span(chat_attrs(**{f"app.attr_{i:03}": i for i in range(100)}))
    long = make_span(chat_attrs(**{"app.note": "n" * 5000, "gen_ai.input.messages": "q" * 5000}))
    spans = [many, long, *_pb_spans(5)]
    resp = httpx.post(f"{base}/v1/traces", content=request(spans).SerializeToString(), headers=PB)
    assert resp.status_code == 200
    partial = ExportTraceServiceResponse.FromString(resp.content).partial_success
    assert partial.rejected_spans == 2
    assert partial.error_message.count("over the limit of 5") == 1 and "max_spans_per_request" in partial.error_message
    with engine.connect() as conn:
        rows = {r.span_id: r for r in conn.execute(text("SELECT span_id, attributes, input_text, input_tokens "
                                                        "FROM spans")).all()}
    assert len(rows) == 5
    attrs = {sid: (r.attributes if isinstance(r.attributes, dict) else json.loads(r.attributes))
             for sid, r in rows.items()}
    many_attrs = attrs[many.span_id.hex()]
    assert len(many_attrs) == 41 and many_attrs["llm_monitor.dropped_attributes"] == 9 + 60
    assert rows[many.span_id.hex()].input_tokens == 100  # typed columns come from the whole span
    long_attrs, long_row = attrs[long.span_id.hex()], rows[long.span_id.hex()]
    assert long_attrs["app.note"] == "n" * 1000 + "…[truncated by llm-monitor]"
    assert long_row.input_text == "q" * 1000 + "…[truncated by llm-monitor]"


def test_json_span_events_are_redacted(start: Any, engine: Engine) -> None:
    base = start(privacy={"redact": ["email"]})
    span = {"traceId": os.urandom(16).hex(), "spanId": os.urandom(8).hex(), "name": "chat", "kind": 3,
            "startTimeUnixNano": "1764000000000000000", "endTimeUnixNano": "1764000000250000000",
            "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}],
            "events": [{"name": "gen_ai.content.prompt", "timeUnixNano": "1764000000000000000",
                        "attributes": [{"key": "gen_ai.prompt", "value": {"stringValue": f"hi from {EMAIL}"}}]}]}
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    assert httpx.post(f"{base}/v1/traces", json=body).status_code == 200
    stored = _raw(engine, "spans")
    assert EMAIL not in stored and "hi from [REDACTED:email]" in stored


def test_real_grpc_exporter_is_redacted_too(start: Any, engine: Engine) -> None:
    """The OTel SDK's own gRPC exporter: the gRPC receiver shares the ingest path, privacy included."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    endpoint = start(with_grpc=True, privacy={"redact": True})
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    with provider.get_tracer("privacy-test").start_as_current_span("chat gpt-4o") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.request.model", "gpt-4o")
        span.set_attribute("gen_ai.input.messages", json.dumps([{"role": "user", "content": _said(20)}]))
        span.add_event("gen_ai.user.message", {"content": _said(21)})
    provider.shutdown()
    stored = _raw(engine, "spans")
    for value in (EMAIL, PHONE, CARD, SECRET):
        assert value not in stored, value
    assert "[REDACTED:email]" in stored and NOT_A_CARD in stored
