"""OTLP/HTTP receiver: a thin shell over the pure decoders and the injected ingest service.

Status codes follow the OTLP spec (TELEMETRY.md §3.3): 200 (+partial success), 400 bad data
(never retried), 401, 413, 415, 429/503 + Retry-After for backpressure. Bad input never gives 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import anyio
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collectors.otlp.body import decompress, read_limited
from collectors.otlp.logs import decode_logs
from collectors.otlp.metrics import decode_metrics
from collectors.otlp.responses import logs_response, status_body, traces_response
from collectors.otlp.traces import JSON, PROTOBUF, decode_traces
from monitor.auth import Authenticator
from monitor.domain import DecodedBatch
from monitor.errors import AuthError, Overloaded, PayloadError, PayloadTooLarge
from monitor.ingest import IngestResult, IngestService, MetricIngest, WriteGate

log = logging.getLogger(__name__)
_GRPC_INVALID_ARGUMENT, _GRPC_UNAUTHENTICATED, _GRPC_RESOURCE_EXHAUSTED, _GRPC_UNAVAILABLE = 3, 16, 8, 14


def media_type(header: str | None) -> str | None:
    value = (header or "").split(";", 1)[0].strip().lower()
    return value if value in (PROTOBUF, JSON) else None


def safe_decode(decode: Callable[[bytes, str], DecodedBatch], body: bytes, ctype: str) -> DecodedBatch:
    """Any failure to decode is the client's bad data (400), never a 500 that clients would retry."""
    try:
        return decode(body, ctype)
    except PayloadError:
        raise
    except Exception as exc:  # RecursionError on absurd nesting, protobuf internals, …
        raise PayloadError(f"undecodable body: {exc.__class__.__name__}: {str(exc)[:200]}") from exc


def metrics_response(content_type: str, rejected: int, message: str) -> bytes:
    """ExportMetricsServiceResponse, with ``partial_success.rejected_data_points`` when some were refused."""
    if content_type == PROTOBUF:
        resp = ExportMetricsServiceResponse()
        if rejected or message:
            resp.partial_success.rejected_data_points = rejected
            resp.partial_success.error_message = message
        return resp.SerializeToString()
    doc: dict[str, object] = {}
    if rejected or message:
        doc["partialSuccess"] = {"rejectedDataPoints": str(rejected), "errorMessage": message}
    return json.dumps(doc).encode()


def otlp_routes(ingest: IngestService, auth: Authenticator, gate: WriteGate, max_body_bytes: int,
                limiter: anyio.CapacityLimiter, metrics: MetricIngest | None = None) -> list[Route]:
    def handler(decode: Callable[[bytes, str], Any],
                store: Callable[[int, Any], IngestResult],
                respond: Callable[[str, int, str], bytes]) -> Callable:
        async def endpoint(request: Request) -> Response:
            ctype = media_type(request.headers.get("content-type"))
            if ctype is None:
                return Response(status_body(JSON, _GRPC_INVALID_ARGUMENT,
                                            "Content-Type must be application/x-protobuf or application/json"),
                                415, media_type=JSON)
            try:
                # off the event loop: a key not in the cache is looked up in the database, which
                # may hang (a network partition) and must not stall every other request
                principal = await anyio.to_thread.run_sync(auth.principal, request.headers.get("authorization"),
                                                           "ingest")
                declared = request.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_body_bytes:
                    raise PayloadTooLarge(f"request body exceeds {max_body_bytes} bytes")
                gate.check()
                raw = await read_limited(request.stream(), max_body_bytes)
                body = decompress(raw, request.headers.get("content-encoding"), max_body_bytes)
                with gate:
                    result = await anyio.to_thread.run_sync(
                        lambda: store(principal.project.rowid, safe_decode(decode, body, ctype)), limiter=limiter)
            except AuthError as exc:
                return Response(status_body(ctype, _GRPC_UNAUTHENTICATED, str(exc)), 401, media_type=ctype,
                                headers={"WWW-Authenticate": "Bearer"})
            except PayloadTooLarge as exc:
                return Response(status_body(ctype, _GRPC_INVALID_ARGUMENT, str(exc)), 413, media_type=ctype)
            except PayloadError as exc:
                return Response(status_body(ctype, _GRPC_INVALID_ARGUMENT, str(exc)), 400, media_type=ctype)
            except Overloaded as exc:
                grpc_code = _GRPC_UNAVAILABLE if exc.status == 503 else _GRPC_RESOURCE_EXHAUSTED
                return Response(status_body(ctype, grpc_code, str(exc)), exc.status, media_type=ctype,
                                headers={"Retry-After": str(exc.retry_after_s)})
            return Response(respond(ctype, len(result.rejected), result.error_message), 200, media_type=ctype)

        return endpoint

    routes = [
        Route("/v1/traces", handler(decode_traces, ingest.ingest_traces, traces_response), methods=["POST"]),
        Route("/v1/logs", handler(decode_logs, ingest.ingest_logs, logs_response), methods=["POST"]),
    ]
    if metrics is not None:
        routes.append(Route("/v1/metrics", handler(decode_metrics, metrics.ingest_metrics, metrics_response),
                            methods=["POST"]))
    return routes
