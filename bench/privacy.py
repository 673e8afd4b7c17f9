"""Cost of privacy and limits on the ingest path, per span, in process (no database).

Why in process: the question is what redaction adds to the CPU work the server does per span
(decode → normalise → privacy/limits → write), and a database in the loop would bury a few
microseconds in commit noise. The spans are the ingest benchmark's realistic chat spans
(``bench.payloads``: 16 GenAI attributes, ~1 KB of prompt and answer JSON); the "with PII"
variant appends an email, a phone number, a card number and an API key to every prompt, so
every detector has something to replace.

    python -m bench.privacy [--requests 8] [--repeat 5]

Prints CPU µs per span (best of N) for the stage itself (``IngestService._finish``) and for normalise + stage,
for privacy off (the default), redaction of every kind, redaction plus a user pattern, and
``store_content = false``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.payloads import PayloadFactory
from collectors.otlp.traces import decode_traces_proto
from collectors.semconv import NormalizeOptions
from monitor.domain import Span
from monitor.gpu_cost import DeploymentAwareCost
from monitor.ingest import IngestService
from monitor.limits import Limits
from monitor.privacy import BUILTIN_KINDS, build_content_filter

PII = (" Reach me at jane.doe@example.com or +1 (415) 555-0100; card 4111 1111 1111 1111;"
       " key sk-proj-Abcdefgh12345678ijklmnop.")
CONFIGS: dict[str, tuple[Sequence[str], dict[str, str], bool]] = {
    "off (default)": ((), {}, True),
    "redact all kinds": (BUILTIN_KINDS, {}, True),
    "redact all + 1 user pattern": (BUILTIN_KINDS, {"ticket": r"ORD-\d{6}"}, True),
    "store_content = false": ((), {}, False),
}


def with_pii(payload: bytes) -> bytes:
    """The same request with sensitive text appended to every span's input messages."""
    req = ExportTraceServiceRequest.FromString(payload)
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                for kv in span.attributes:
                    if kv.key == "gen_ai.input.messages":
                        kv.value.string_value = kv.value.string_value.replace('"}]}]', PII + '"}]}]')
    return req.SerializeToString()


def service(kinds: Sequence[str], patterns: dict[str, str], store_content: bool) -> IngestService:
    return IngestService(writer=None, options=NormalizeOptions({}),  # type: ignore[arg-type]
                         cost=DeploymentAwareCost({}, []), limits=Limits(),
                         content=build_content_filter(kinds, patterns, store_content))


def run_once(svc: IngestService, payloads: Sequence[bytes]) -> tuple[float, float, int]:
    """CPU seconds of this thread spent normalising and in the privacy/limits stage, and the span
    count. Thread CPU time, not wall time: other processes on a shared machine do not count."""
    spans: list[Span] = [s for p in payloads for s in decode_traces_proto(p).spans]
    t0 = time.thread_time()
    for span in spans:
        svc._normalise(span)
    t1 = time.thread_time()
    for span in spans:
        svc._finish(span)
    t2 = time.thread_time()
    return t1 - t0, t2 - t1, len(spans)


def measure(payloads: Sequence[bytes], repeat: int) -> dict[str, tuple[float, float]]:
    """Best-of-N µs/span (stage, normalise + stage) per configuration; the configurations take
    turns within each round, so a disturbance hits them alike."""
    services = {name: service(*config) for name, config in CONFIGS.items()}
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in CONFIGS}
    for _ in range(repeat):
        for name, svc in services.items():
            runs[name].append(run_once(svc, payloads))
    return {name: (min(r[1] / r[2] for r in rs) * 1e6, min((r[0] + r[1]) / r[2] for r in rs) * 1e6)
            for name, rs in runs.items()}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.privacy", description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=8, help="512-span requests per run")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    payloads = PayloadFactory(args.seed).take(args.requests)
    print(f"{args.requests} requests x 512 spans, best of {args.repeat} runs, CPU µs per span")
    print("| spans | configuration | privacy + limits stage | normalise + stage | vs off |")
    print("|---|---|---:|---:|---:|")
    for label, batch in (("typical", payloads), ("with PII", [with_pii(x) for x in payloads])):
        results = measure(batch, args.repeat)
        base = results["off (default)"][1]
        for name, (stage, total) in results.items():
            print(f"| {label} | {name} | {stage:.1f} | {total:.1f} | {total / base - 1:+.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
