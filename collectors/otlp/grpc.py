"""OTLP/gRPC receiver (port 4317): vLLM, TGI, SGLang and Python's auto-configured exporters default to it.

Same decoding and ingest service as the HTTP receiver; errors map to the gRPC codes the OTLP
spec names (INVALID_ARGUMENT not retried; UNAVAILABLE / RESOURCE_EXHAUSTED retried).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from collectors.otlp.logs import logs_from_proto
from collectors.otlp.metrics import points_from_proto
from collectors.otlp.traces import spans_from_proto
from monitor.auth import Authenticator
from monitor.domain import Principal
from monitor.errors import AuthError, Overloaded, PayloadError
from monitor.ingest import IngestResult, IngestService, MetricIngest, WriteGate

log = logging.getLogger(__name__)


def _retry_status(code: grpc.StatusCode, message: str, retry_after_s: float) -> bytes:
    """A ``google.rpc.Status`` carrying ``RetryInfo``: the OTLP exporters (the Collector's included) retry
    RESOURCE_EXHAUSTED only when the server says when to, and honour the delay for UNAVAILABLE too."""
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=int(retry_after_s),
                                                                             nanos=int(retry_after_s % 1 * 1e9))))
    return status_pb2.Status(code=code.value[0], message=message, details=[detail]).SerializeToString()


class _Base:
    def __init__(self, ingest: IngestService, auth: Authenticator, gate: WriteGate) -> None:
        self.ingest, self.auth, self.gate = ingest, auth, gate

    def _handle(self, request: Any, context: grpc.ServicerContext,
                convert: Callable[[Any], Any],
                store: Callable[[int, Any], IngestResult]) -> IngestResult | None:
        metadata = dict(context.invocation_metadata() or ())
        try:
            principal: Principal = self.auth.principal(metadata.get("authorization"), "ingest")
            with self.gate:
                return store(principal.project.rowid, convert(request))
        except AuthError as exc:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except PayloadError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Overloaded as exc:
            code = grpc.StatusCode.UNAVAILABLE if exc.status == 503 else grpc.StatusCode.RESOURCE_EXHAUSTED
            context.set_trailing_metadata((("retry-after", str(exc.retry_after_s)),
                                           ("grpc-status-details-bin", _retry_status(code, str(exc),
                                                                                    exc.retry_after_s))))
            context.abort(code, str(exc))
        return None


class TraceService(_Base, trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        result = self._handle(request, context, spans_from_proto, self.ingest.ingest_traces)
        response = trace_service_pb2.ExportTraceServiceResponse()
        if result is not None and result.rejected:
            response.partial_success.rejected_spans = len(result.rejected)
            response.partial_success.error_message = result.error_message
        return response


class LogsService(_Base, logs_service_pb2_grpc.LogsServiceServicer):
    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        result = self._handle(request, context, logs_from_proto, self.ingest.ingest_logs)
        response = logs_service_pb2.ExportLogsServiceResponse()
        if result is not None and result.rejected:
            response.partial_success.rejected_log_records = len(result.rejected)
            response.partial_success.error_message = result.error_message
        return response


class MetricsService(_Base, metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, metrics: MetricIngest, auth: Authenticator, gate: WriteGate) -> None:
        self.metrics, self.auth, self.gate = metrics, auth, gate

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        result = self._handle(request, context, points_from_proto, self.metrics.ingest_metrics)
        response = metrics_service_pb2.ExportMetricsServiceResponse()
        if result is not None and result.rejected:
            response.partial_success.rejected_data_points = len(result.rejected)
            response.partial_success.error_message = result.error_message
        return response


def start_grpc_server(ingest: IngestService, auth: Authenticator, gate: WriteGate, host: str, port: int,
                      max_message_bytes: int, workers: int = 4,
                      metrics: MetricIngest | None = None, share_port: bool = False,
                      max_connection_age_s: float = 30.0) -> tuple[grpc.Server, int]:
    """Start serving; returns the server and the port actually bound (``port=0`` picks a free one).

    ``share_port``: bind with ``SO_REUSEPORT`` so that every ``serve`` worker process listens on
    the same port (the kernel spreads connections); otherwise a port already in use is an error.
    The kernel places a connection once, and gRPC clients keep one for hours, so with a shared port
    connections older than ``max_connection_age_s`` are sent a GOAWAY (in-flight calls finish): the
    client opens a new one, placed afresh, and its load spreads over the workers (0: never).
    """
    options: list[tuple[str, int]] = [("grpc.max_receive_message_length", max_message_bytes),
                                      ("grpc.so_reuseport", int(share_port))]
    if share_port and max_connection_age_s > 0:
        options += [("grpc.max_connection_age_ms", int(max_connection_age_s * 1000)),
                    ("grpc.max_connection_age_grace_ms", 30_000)]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
        options=options,
        maximum_concurrent_rpcs=workers * 4,
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(ingest, auth, gate), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(LogsService(ingest, auth, gate), server)
    if metrics is not None:
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsService(metrics, auth, gate), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind OTLP/gRPC on {host}:{port}")
    server.start()
    log.info("OTLP/gRPC listening on %s:%d", host, bound)
    return server, bound
