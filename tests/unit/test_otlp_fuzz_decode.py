"""Property-based fuzzing of the pure OTLP decoders (traces, logs, metrics; protobuf and JSON).

A decoder either returns a batch that accounts for every item of the request (decoded or
rejected on its own) and holds only values the store can write, or raises ``PayloadError``
(HTTP 400); no other exception escapes. The HTTP-level fuzzing is in
tests/integration/test_otlp_fuzz.py; the deep run (≥ 10,000 payloads) is marked slow there.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collectors.otlp.logs import decode_logs
from collectors.otlp.metrics import decode_metrics
from collectors.otlp.traces import decode_traces
from monitor.domain import DecodedBatch
from monitor.errors import PayloadError
from tests.otlp_strategies import (
    DEEP_TRACE_BODIES,
    JSON,
    NO_SHRINK,
    PROTOBUF,
    UNKNOWN_FIELDS,
    log_requests,
    metric_requests,
    mutated_bytes,
    mutated_json,
    to_json,
    trace_requests,
)

FUZZ = settings(max_examples=100, derandomize=True, deadline=None, database=None, phases=NO_SHRINK,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _span_count(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def _storable(value: Any) -> None:
    """What the writer does with JSON columns and text: orjson must take it and no text may hold NUL."""
    orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str)
    assert "\\u0000" not in json.dumps(value, default=str)


def _check_traces(batch: DecodedBatch, expected: int) -> None:
    assert len(batch.spans) + len(batch.rejected) == expected
    for span in batch.spans:
        assert len(span.trace_id) == 32 and len(span.span_id) == 16
        for text in (span.name, span.scope_name or "", span.status_message or ""):
            assert isinstance(text, str) and "\x00" not in text
        _storable([span.attributes, span.resource, span.events, span.links])


def _decode(decode: Any, body: bytes, ctype: str) -> Any:
    try:
        return decode(body, ctype)
    except PayloadError:
        return None


@FUZZ
@given(request=trace_requests(), extra=UNKNOWN_FIELDS, hex_ids=st.booleans())
def test_trace_decoders_account_for_every_span(request: ExportTraceServiceRequest, extra: bytes,
                                               hex_ids: bool) -> None:
    expected = _span_count(request)
    batch = _decode(decode_traces, request.SerializeToString() + extra, PROTOBUF)
    if batch is not None:  # None only for nesting beyond protobuf's recursion limit
        _check_traces(batch, expected)
    try:
        doc = to_json(request, hex_ids)
    except (RecursionError, ValueError):  # json_format itself gives up on the same depths
        return
    batch = _decode(decode_traces, json.dumps(doc).encode(), JSON)
    if batch is not None:
        _check_traces(batch, expected)


@FUZZ
@given(request=trace_requests(valid=True), hex_ids=st.booleans())
def test_valid_but_odd_spans_are_all_decoded(request: ExportTraceServiceRequest, hex_ids: bool) -> None:
    """Valid ids and timestamps, odd everything else: no span is rejected in either encoding."""
    expected = _span_count(request)
    for body, ctype in ((request.SerializeToString(), PROTOBUF),
                        (json.dumps(to_json(request, hex_ids)).encode(), JSON)):
        batch = decode_traces(body, ctype)
        assert batch.rejected == [] and len(batch.spans) == expected
        _check_traces(batch, expected)


@FUZZ
@given(data=st.data(), request=trace_requests())
def test_mutated_trace_bodies_decode_or_say_400(data: st.DataObject, request: ExportTraceServiceRequest) -> None:
    body = data.draw(mutated_bytes(request.SerializeToString()))
    batch = _decode(decode_traces, body, PROTOBUF)
    assert batch is None or isinstance(batch, DecodedBatch)
    try:
        doc = to_json(request, data.draw(st.booleans()))
    except (RecursionError, ValueError):
        return
    text = data.draw(st.one_of(mutated_json(doc), mutated_bytes(json.dumps(doc).encode())))
    batch = _decode(decode_traces, text, JSON)
    if batch is not None:
        for span in batch.spans:
            _storable([span.attributes, span.resource, span.events, span.links, span.scope_name])


@FUZZ
@given(data=st.data(), request=log_requests())
def test_log_decoders_decode_or_say_400(data: st.DataObject, request: Any) -> None:
    for body, ctype in ((request.SerializeToString(), PROTOBUF),
                        (data.draw(mutated_bytes(request.SerializeToString())), PROTOBUF)):
        batch = _decode(decode_logs, body, ctype)
        for log in batch.logs if batch is not None else []:
            _storable([log.body, log.attributes, log.event_name, log.severity])
    try:
        doc = to_json(request, True)
    except (RecursionError, ValueError):
        return
    batch = _decode(decode_logs, data.draw(mutated_json(doc)), JSON)
    for log in batch.logs if batch is not None else []:
        assert log.event_name is None or isinstance(log.event_name, str)
        _storable([log.body, log.attributes, log.event_name, log.severity])


@FUZZ
@given(data=st.data(), request=metric_requests())
def test_metric_decoders_decode_or_say_400(data: st.DataObject, request: Any) -> None:
    batch = _decode(decode_metrics, request.SerializeToString(), PROTOBUF)
    assert batch is not None  # a well-formed protobuf is never refused whole
    for point in batch.points:
        assert point.time_ns > 0
        _storable([point.labels, point.histogram.to_json() if point.histogram else None])
    _decode(decode_metrics, data.draw(mutated_bytes(request.SerializeToString())), PROTOBUF)
    try:
        doc = to_json(request, True)
    except (RecursionError, ValueError):
        return
    _decode(decode_metrics, json.dumps(doc).encode(), JSON)
    _decode(decode_metrics, data.draw(mutated_json(doc)), JSON)


@FUZZ
@given(case=DEEP_TRACE_BODIES)
def test_deep_nesting_is_cut_or_refused_never_crashes(case: tuple[bytes, str]) -> None:
    """Protobuf refuses bodies nested past its limit (400); JSON is cut at MAX_DEPTH with a marker."""
    body, ctype = case
    batch = _decode(decode_traces, body, ctype)
    if ctype == JSON:
        assert batch is not None and len(batch.spans) == 1
    if batch is not None:
        _check_traces(batch, 1)
