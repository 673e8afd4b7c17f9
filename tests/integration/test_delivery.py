"""Delivery semantics of the OTLP/HTTP receiver: each bad-input case gets its documented status,
retries never duplicate, and nothing already accepted is lost."""

from __future__ import annotations

import gzip
import json
import os
import threading
import zlib
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlalchemy import Engine, func, select

from monitor.config import Settings
from monitor.server import ServiceHandle, start_in_thread
from monitor.store.models import SpanRow
from tests.otlp_builders import chat_attrs, make_span, request

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}


@pytest.fixture
def service(settings: Settings) -> Iterator[ServiceHandle]:
    handle = start_in_thread(settings, with_grpc=False)
    yield handle
    handle.stop()


def url(service: ServiceHandle, path: str = "/v1/traces") -> str:
    return f"http://127.0.0.1:{service.http_port}{path}"


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(SpanRow)) or 0)


def json_request(spans: list[dict]) -> dict:
    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
                                                            "value": {"stringValue": "json-svc"}}]},
                               "scopeSpans": [{"scope": {"name": "raw"}, "spans": spans}]}]}


def json_span(trace_id: str, span_id: str, **extra: object) -> dict:
    span = {"traceId": trace_id, "spanId": span_id, "name": "chat llama", "kind": 3,
            "startTimeUnixNano": "1764000000000000000", "endTimeUnixNano": "1764000000250000000",
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "llama-3-8b"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "17"}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 5}},
                {"key": "gen_ai.response.finish_reasons",
                 "value": {"arrayValue": {"values": [{"stringValue": "length"}]}}},
            ], "status": {"code": 2, "message": "boom"}}
    span.update(extra)
    return span


def test_json_with_hex_ids_and_string_int64(service: ServiceHandle, engine: Engine) -> None:
    trace_id = "5B8EFFF798038103D269B633813FC60C"
    body = json_request([json_span(trace_id, "EEE19B7EC3C1B174")])
    resp = httpx.post(url(service), content=json.dumps(body), headers=JS)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
    assert resp.json() == {}
    trace = httpx.get(url(service, f"/api/v1/traces/{trace_id.lower()}")).json()
    span = trace["roots"][0]
    assert span["span_id"] == "eee19b7ec3c1b174" and span["duration_ms"] == pytest.approx(250.0)
    assert (span["input_tokens"], span["output_tokens"], span["total_tokens"]) == (17, 5, 22)
    assert span["finish_reasons"] == ["length"] and span["error_type"] == "boom"
    assert span["service_name"] == "json-svc" and span["scope_name"] == "raw"


def test_gzip_json_body(service: ServiceHandle, engine: Engine) -> None:
    body = gzip.compress(json.dumps(json_request([json_span(os.urandom(16).hex(), os.urandom(8).hex())])).encode())
    resp = httpx.post(url(service), content=body, headers={**JS, "Content-Encoding": "gzip"})
    assert resp.status_code == 200
    assert stored(engine) == 1


def test_retried_request_leaves_no_duplicate(service: ServiceHandle, engine: Engine) -> None:
    body = request([make_span(chat_attrs()) for _ in range(20)]).SerializeToString()
    for _ in range(3):
        assert httpx.post(url(service), content=body, headers=PB).status_code == 200
    assert stored(engine) == 20
    calls = httpx.get(url(service, "/api/v1/calls"), params={"limit": 100}).json()["items"]
    assert len(calls) == 20


def test_partial_success_keeps_the_good_spans(service: ServiceHandle, engine: Engine) -> None:
    good = [json_span(os.urandom(16).hex(), os.urandom(8).hex()) for _ in range(3)]
    bad = [json_span("nothex", "00"), json_span("0" * 32, "1" * 16), "not a span"]
    resp = httpx.post(url(service), content=json.dumps(json_request(good + bad)), headers=JS)
    assert resp.status_code == 200
    partial = resp.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "3" and "span 3" in partial["errorMessage"]
    assert stored(engine) == 3


def test_partial_success_protobuf_response(service: ServiceHandle, engine: Engine) -> None:
    spans = [make_span(chat_attrs()), make_span(chat_attrs())]
    spans[1].trace_id = b"\x00" * 16
    resp = httpx.post(url(service), content=request(spans).SerializeToString(), headers=PB)
    assert resp.status_code == 200
    parsed = ExportTraceServiceResponse.FromString(resp.content)
    assert parsed.partial_success.rejected_spans == 1
    assert stored(engine) == 1


@pytest.mark.parametrize(("body", "headers"), [
    (b"\xff\xff\xff garbage", PB),
    (b"{not json", JS),
    (b"[1, 2, 3]", JS),
    (json.dumps({"resourceSpans": "nope"}).encode(), JS),
    (b"[" * 100_000 + b"]" * 100_000, JS),
    (b"not gzip at all", {**PB, "Content-Encoding": "gzip"}),
    (b"abc", {**PB, "Content-Encoding": "br"}),
])
def test_undecodable_bodies_get_400_with_a_message(service: ServiceHandle, body: bytes,
                                                     headers: dict[str, str]) -> None:
    resp = httpx.post(url(service), content=body, headers=headers)
    assert resp.status_code == 400, resp.text
    assert resp.content  # a google.rpc.Status with the reason


def test_unsupported_content_type_gets_415(service: ServiceHandle) -> None:
    resp = httpx.post(url(service), content=b"hello", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415
    assert "application/x-protobuf" in resp.json()["message"]


def test_oversized_and_gzip_bomb_get_413(db_url: str, engine: Engine) -> None:
    settings = Settings(database_url=db_url, auth="disabled", server={"max_body_bytes": 100_000})
    handle = start_in_thread(settings, with_grpc=False)
    try:
        big = request([make_span(chat_attrs(**{"gen_ai.input.messages": "x" * 200_000}))]).SerializeToString()
        assert httpx.post(url(handle), content=big, headers=PB).status_code == 413
        bomb = zlib.compress(b"\x00" * 50_000_000, 9)
        gz = gzip.compress(b"\x00" * 50_000_000, 9)
        assert len(bomb) < 100_000 and len(gz) < 100_000
        assert httpx.post(url(handle), content=gz, headers={**PB, "Content-Encoding": "gzip"}).status_code == 413
        assert httpx.post(url(handle), content=bomb,
                          headers={**PB, "Content-Encoding": "deflate"}).status_code == 413
        small = request([make_span(chat_attrs())]).SerializeToString()
        assert httpx.post(url(handle), content=small, headers=PB).status_code == 200
    finally:
        handle.stop()
    assert stored(engine) == 1


def test_huge_attribute_values_are_truncated_not_rejected(service: ServiceHandle, engine: Engine) -> None:
    span = make_span(chat_attrs(**{"gen_ai.input.messages": "q" * 1_000_000, "null\x00key": "a\x00b"}))
    resp = httpx.post(url(service), content=request([span]).SerializeToString(), headers=PB)
    assert resp.status_code == 200
    call = httpx.get(url(service, "/api/v1/calls")).json()["items"][0]
    assert call["input_text"].endswith("[truncated by llm-monitor]")
    assert len(call["input_text"]) < 300_000


def test_out_of_range_values_are_rejected_per_span(service: ServiceHandle, engine: Engine) -> None:
    far_future = json_span(os.urandom(16).hex(), os.urandom(8).hex(), startTimeUnixNano="9" * 30)
    resp = httpx.post(url(service), content=json.dumps(json_request([far_future])), headers=JS)
    assert resp.json()["partialSuccess"]["rejectedSpans"] == "1"
    spans = [make_span(chat_attrs()), make_span(chat_attrs(**{"gen_ai.usage.input_tokens": 2**40}))]
    resp = httpx.post(url(service), content=request(spans).SerializeToString(), headers=PB)
    assert resp.status_code == 200 and resp.content == b""  # full success: partial_success unset
    assert stored(engine) == 2
    tokens = sorted(str(c["input_tokens"]) for c in httpx.get(url(service, "/api/v1/calls")).json()["items"])
    assert tokens == ["100", "None"]


def test_saturated_write_path_answers_429_with_retry_after(db_url: str, engine: Engine) -> None:
    settings = Settings(database_url=db_url, auth="disabled",
                        server={"max_pending_writes": 1, "retry_after_s": 3, "write_threads": 1})
    handle = start_in_thread(settings, with_grpc=False)
    body = request([make_span(chat_attrs()) for _ in range(512)]).SerializeToString()
    statuses: list[httpx.Response] = []

    def send() -> None:
        statuses.append(httpx.post(url(handle), content=body, headers=PB, timeout=60))

    try:
        gate = handle.app.state.gate
        with gate:  # hold the only slot, as a long write would
            threads = [threading.Thread(target=send) for _ in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert {r.status_code for r in statuses} == {429}
        assert all(r.headers["Retry-After"] == "3" for r in statuses)
        assert stored(engine) == 0
        send()  # once the slot is free, the same request is accepted
        assert statuses[-1].status_code == 200
    finally:
        handle.stop()
    assert stored(engine) == 512


def test_empty_request_is_a_success(service: ServiceHandle) -> None:
    assert httpx.post(url(service), content=b"", headers=PB).status_code == 200
    assert httpx.post(url(service), content=b"{}", headers=JS).json() == {}
