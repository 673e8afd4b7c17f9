"""The reference the ingest target is measured against: the simplest honest OTLP → PostgreSQL path.

Why: "fast enough" only means something relative to what this machine can do at all. The
reference decodes the very same payloads with ``opentelemetry-proto``
(``ExportTraceServiceRequest.FromString``), walks every span and attribute into plain Python,
picks out the LLM fields, and ``COPY``s the rows into PostgreSQL with psycopg 3, in one process,
one transaction per request (so every request is durable before the next, like an ack). It has
no HTTP, no normalisation across conventions, no pricing and no deduplication, so it is an
upper bound that a real service should come within a small factor of, measured in the same run
on the same machine.

The table has the shape of ``spans`` (timestamptz, a unique index on (trace_id, span_id), the
prompt and answer in their own columns besides the attributes) but, by default, keeps
attributes/resource/finish_reasons as JSON *text*, as the issue defines the reference: that spares
PostgreSQL the JSONB parse that llm-monitor's ``spans`` pays, so the reference is the stricter
yardstick. ``json_type="jsonb"`` gives the like-for-like variant.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from bench.cpu import proc_cpu_s

COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time", "status_code",
    "service_name", "attributes", "resource", "operation", "provider", "request_model", "response_model",
    "input_tokens", "output_tokens", "finish_reasons", "server_address", "user_id", "session_id",
    "response_id", "input_messages", "output_messages",
)
DDL_TEMPLATE = """
DROP TABLE IF EXISTS reference_spans;
CREATE TABLE reference_spans (
    id bigserial PRIMARY KEY,
    trace_id varchar(32) NOT NULL, span_id varchar(16) NOT NULL, parent_span_id varchar(16),
    name text NOT NULL, kind integer NOT NULL, start_time timestamptz NOT NULL, end_time timestamptz NOT NULL,
    status_code integer NOT NULL, service_name varchar(200), attributes {json} NOT NULL, resource {json} NOT NULL,
    operation varchar(64), provider varchar(64), request_model varchar(200), response_model varchar(200),
    input_tokens integer, output_tokens integer, finish_reasons {json}, server_address varchar(200),
    user_id varchar(200), session_id varchar(200), response_id varchar(200),
    input_messages text, output_messages text,
    UNIQUE (trace_id, span_id)
);
"""
_COPY = f"COPY reference_spans ({', '.join(COLUMNS)}) FROM STDIN"


def any_value(v: AnyValue) -> Any:
    """AnyValue → plain Python (what any consumer of OTLP has to do)."""
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which is None:
        return None
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return attributes(v.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return getattr(v, which)


def attributes(kvs: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def _ts(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def rows(body: bytes) -> list[tuple[Any, ...]]:
    """Decode one request and turn every span into a row in ``COLUMNS`` order."""
    req = ExportTraceServiceRequest.FromString(body)
    out: list[tuple[Any, ...]] = []
    dumps = orjson.dumps
    for rs in req.resource_spans:
        resource = attributes(rs.resource.attributes)
        resource_json = dumps(resource).decode()
        service = resource.get("service.name")
        for ss in rs.scope_spans:
            for s in ss.spans:
                a = attributes(s.attributes)
                finish = a.get("gen_ai.response.finish_reasons")
                out.append((
                    s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex() or None, s.name, s.kind,
                    _ts(s.start_time_unix_nano), _ts(s.end_time_unix_nano), s.status.code, service,
                    dumps(a).decode(), resource_json, a.get("gen_ai.operation.name"), a.get("gen_ai.provider.name"),
                    a.get("gen_ai.request.model"), a.get("gen_ai.response.model"),
                    a.get("gen_ai.usage.input_tokens"), a.get("gen_ai.usage.output_tokens"),
                    dumps(finish).decode() if finish is not None else None, a.get("server.address"),
                    a.get("user.id"), a.get("gen_ai.conversation.id"), a.get("gen_ai.response.id"),
                    a.get("gen_ai.input.messages"), a.get("gen_ai.output.messages"),
                ))
    return out


@dataclass(frozen=True)
class ReferenceResult:
    spans: int
    seconds: float
    stored: int
    json_type: str
    client_cpu_s: float  # this process: decode, walk, COPY formatting
    backend_cpu_s: float  # the PostgreSQL backend serving the COPY

    @property
    def cpu_us_per_span(self) -> float:
        return (self.client_cpu_s + self.backend_cpu_s) * 1e6 / self.spans if self.spans else 0.0

    @property
    def spans_per_s(self) -> float:
        return self.spans / self.seconds if self.seconds else 0.0


def run_reference(conninfo: str, payloads: Sequence[bytes], json_type: str = "text") -> ReferenceResult:
    """Decode + COPY every payload (one transaction each) into a fresh table; returns spans/s."""
    if json_type not in ("text", "jsonb"):
        raise ValueError("json_type is text or jsonb")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(DDL_TEMPLATE.format(json=json_type))
        # Warm up (first COPY plans, caches) on the first payload, then time a fresh table.
        with conn.transaction(), conn.cursor() as cur, cur.copy(_COPY) as copy:
            for row in rows(payloads[0]):
                copy.write_row(row)
        conn.execute("TRUNCATE reference_spans")
        spans = 0
        backend = conn.info.backend_pid
        cpu0, backend0 = time.process_time(), proc_cpu_s(backend)
        t0 = time.perf_counter()
        for body in payloads:
            batch = rows(body)
            with conn.transaction(), conn.cursor() as cur, cur.copy(_COPY) as copy:
                for row in batch:
                    copy.write_row(row)
            spans += len(batch)
        elapsed = time.perf_counter() - t0
        client_cpu, backend_cpu = time.process_time() - cpu0, proc_cpu_s(backend) - backend0
        stored = conn.execute("SELECT count(*) FROM reference_spans").fetchone()
        return ReferenceResult(spans, elapsed, int(stored[0]) if stored else 0, json_type, client_cpu, backend_cpu)
