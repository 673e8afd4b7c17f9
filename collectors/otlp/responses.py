"""OTLP responses in the request's encoding: Export*ServiceResponse on success, google.rpc.Status on error."""

from __future__ import annotations

import json

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collectors.otlp.traces import PROTOBUF


def traces_response(content_type: str, rejected: int, message: str) -> bytes:
    if content_type == PROTOBUF:
        resp = ExportTraceServiceResponse()
        if rejected or message:
            resp.partial_success.rejected_spans = rejected
            resp.partial_success.error_message = message
        return resp.SerializeToString()
    doc: dict[str, object] = {}
    if rejected or message:
        doc["partialSuccess"] = {"rejectedSpans": str(rejected), "errorMessage": message}
    return json.dumps(doc).encode()


def logs_response(content_type: str, rejected: int, message: str) -> bytes:
    if content_type == PROTOBUF:
        resp = ExportLogsServiceResponse()
        if rejected or message:
            resp.partial_success.rejected_log_records = rejected
            resp.partial_success.error_message = message
        return resp.SerializeToString()
    doc: dict[str, object] = {}
    if rejected or message:
        doc["partialSuccess"] = {"rejectedLogRecords": str(rejected), "errorMessage": message}
    return json.dumps(doc).encode()


def status_body(content_type: str, code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` (code = gRPC code), hand-encoded to avoid a googleapis dependency."""
    if content_type != PROTOBUF:
        return json.dumps({"code": code, "message": message}).encode()
    msg = message.encode()
    out = bytearray()
    if code:
        out += b"\x08" + _varint(code)
    out += b"\x12" + _varint(len(msg)) + msg
    return bytes(out)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
