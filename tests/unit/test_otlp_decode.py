"""Pure decoding: protobuf and OTLP/JSON give the same spans; quirks of the JSON mapping handled."""

from __future__ import annotations

import base64
import gzip
import json
import zlib

import pytest

from collectors.otlp.body import decompress
from collectors.otlp.traces import JSON, PROTOBUF, decode_traces
from collectors.otlp.values import MAX_VALUE_CHARS, TRUNCATION_MARK
from monitor.errors import PayloadError, PayloadTooLarge
from tests.otlp_builders import chat_attrs, make_span, request


def _as_json(req_bytes: bytes) -> bytes:
    """OTLP/JSON as the spec writes it: hex ids, int64 as strings, integer enums."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    doc = MessageToDict(ExportTraceServiceRequest.FromString(req_bytes), use_integers_for_enums=True)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex().upper()
    return json.dumps(doc).encode()


def test_protobuf_and_json_decode_to_the_same_spans() -> None:
    parent = make_span(chat_attrs(), name="root")
    child = make_span(chat_attrs(**{"flag": True, "ratio": 0.5, "ids": [1, 2]}), trace_id=parent.trace_id,
                      parent=parent.span_id)
    body = request([parent, child]).SerializeToString()
    from_pb = decode_traces(body, PROTOBUF)
    from_json = decode_traces(_as_json(body), JSON)
    assert not from_pb.rejected and not from_json.rejected
    for a, b in zip(from_pb.spans, from_json.spans, strict=True):
        assert (a.trace_id, a.span_id, a.parent_span_id, a.name, a.kind) == \
               (b.trace_id, b.span_id, b.parent_span_id, b.name, b.kind)
        assert (a.start_ns, a.end_ns, a.attributes, a.resource) == (b.start_ns, b.end_ns, b.attributes, b.resource)
    assert from_pb.spans[1].parent_span_id == parent.span_id.hex()
    assert from_pb.spans[1].attributes["ids"] == [1, 2] and from_pb.spans[1].attributes["flag"] is True
    assert from_pb.spans[0].service_name == "test-svc"


def test_json_accepts_numbers_for_int64_and_base64_ids() -> None:
    span = {"traceId": base64.b64encode(b"\x01" * 16).decode(), "spanId": base64.b64encode(b"\x02" * 8).decode(),
            "name": "x", "kind": 3, "startTimeUnixNano": 1764000000000000000, "endTimeUnixNano": "1764000000000000001",
            "attributes": [{"key": "n", "value": {"intValue": 5}}], "unknownField": {"ignored": True}}
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    batch = decode_traces(json.dumps(doc).encode(), JSON)
    assert batch.spans[0].trace_id == "01" * 16 and batch.spans[0].span_id == "02" * 8
    assert batch.spans[0].attributes == {"n": 5} and batch.spans[0].end_ns == 1764000000000000001


def test_unknown_enum_values_become_unspecified() -> None:
    span = make_span(chat_attrs())
    span.kind = 42
    assert decode_traces(request([span]).SerializeToString(), PROTOBUF).spans[0].kind == 0


def test_long_values_truncated_with_marker_and_nul_replaced() -> None:
    span = make_span({"big": "a" * (MAX_VALUE_CHARS + 10), "nul": "a\x00b"})
    attrs = decode_traces(request([span]).SerializeToString(), PROTOBUF).spans[0].attributes
    assert attrs["big"].endswith(TRUNCATION_MARK) and len(attrs["big"]) == MAX_VALUE_CHARS + len(TRUNCATION_MARK)
    assert attrs["nul"] == "a\ufffdb"


@pytest.mark.parametrize("body", [b"\x0a\xff\xff\xff\xff\x0f", b"\xff" * 10])
def test_broken_protobuf_raises_payload_error(body: bytes) -> None:
    with pytest.raises(PayloadError):
        decode_traces(body, PROTOBUF)


def test_decompress_limits() -> None:
    data = b"x" * 1000
    assert decompress(gzip.compress(data), "gzip", 1000) == data
    assert decompress(zlib.compress(data), "deflate", 1000) == data
    assert decompress(data, None, 1000) == data
    with pytest.raises(PayloadTooLarge):
        decompress(gzip.compress(data), "gzip", 999)
    with pytest.raises(PayloadError):
        decompress(gzip.compress(data)[:-8], "gzip", 10_000)
    with pytest.raises(PayloadError):
        decompress(b"zz", "gzip", 10)


def test_json_lone_surrogates_become_replacement_characters() -> None:
    """OTLP/JSON can carry lone UTF-16 surrogates as escapes; no database text can hold them, so
    they are replaced at decode time and the span is stored (found by the 10,000-payload fuzz run,
    where one reached PostgreSQL's COPY and answered 500)."""
    body = (
        b'{"resourceSpans": [{"resource": {"attributes": [{"key": "k\\udbb2", "value": {"stringValue": "r"}}]},'
        b' "scopeSpans": [{"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",'
        b' "name": "chat \\ud83d", "startTimeUnixNano": "1700000000000000000",'
        b' "endTimeUnixNano": "1700000001000000000",'
        b' "attributes": [{"key": "gen_ai.prompt", "value": {"stringValue": "hi \\ude00 there \\ud83d\\ude00"}}]}]}]}]}'
    )
    batch = decode_traces(body, "application/json")
    assert not batch.rejected and len(batch.spans) == 1
    span = batch.spans[0]
    for text in (span.name, span.attributes["gen_ai.prompt"], *span.resource):
        text.encode("utf-8")  # storable
    assert span.name.startswith("chat \ufffd")
    assert span.attributes["gen_ai.prompt"].endswith("there 😀")  # a proper pair stays the emoji
