"""A client that retries, run as its own process: the real OpenTelemetry SDK and OTLP/HTTP exporter.

Why a process of its own: the crash tests kill the server with SIGKILL while this keeps sending,
as an instrumented application would. Spans are made by a real ``TracerProvider`` (SDK ids,
timestamps and resource), collected in memory in batches, and each batch is handed to
``OTLPSpanExporter.export`` until it returns SUCCESS: the exporter itself retries 429/503 (with
``Retry-After``) and connection errors within its timeout, and this loop retries the FAILUREs it
gives up on, so every batch is eventually acknowledged.

    python -m tests.otel_retry_client ENDPOINT OUT.jsonl STOP_FILE [--batch 50] [--deadline-s 180]

One JSON line per acknowledged batch: ``{"ids": [[trace_hex, span_hex], ...], "attempts": n}``.
It stops after the batch in hand once ``STOP_FILE`` exists; exit code 1 if the deadline passed first.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("out", type=Path)
    parser.add_argument("stop", type=Path)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--deadline-s", type=float, default=180)
    args = parser.parse_args()

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "crash-test-client"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.otel_retry_client")
    exporter = OTLPSpanExporter(endpoint=args.endpoint, timeout=3)
    deadline = time.monotonic() + args.deadline_s
    with args.out.open("w") as out:
        while not args.stop.exists():
            for i in range(args.batch):
                span = tracer.start_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 100 + i,
                    "gen_ai.usage.output_tokens": 20})
                span.end()
            batch = memory.get_finished_spans()
            memory.clear()
            attempts = 0
            while True:
                attempts += 1
                if exporter.export(batch) is SpanExportResult.SUCCESS:
                    break
                if time.monotonic() > deadline:
                    return 1
                time.sleep(0.1)
            ids = [[f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}"] for s in batch]
            out.write(json.dumps({"ids": ids, "attempts": attempts}) + "\n")
            out.flush()
    exporter.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
