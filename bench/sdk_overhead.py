"""Per-call cost of ``@observe`` (input/output capture on) against a bare OpenTelemetry span that
carries the same attributes through a ``BatchSpanProcessor``, in the same run; and memory over many
calls with the server unreachable.

    .venv/bin/python bench/sdk_overhead.py [--calls 200000] [--memory-calls 1000000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from monitor import sdk
from monitor.server import free_port

MESSAGES = [{"role": "system", "content": "You are a helpful support assistant. Answer briefly."},
            {"role": "user", "content": "How do I reset my password? I tried the link twice and it expired."}]
RESPONSE = {"id": "chatcmpl-123", "model": "gpt-4o-mini-2024-07-18", "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": "Open Settings > Security and choose 'Reset password'."}}],
            "usage": {"prompt_tokens": 41, "completion_tokens": 14, "total_tokens": 55}}


class DiscardExporter(SpanExporter):
    """Accepts and forgets: we time the application side, not the network."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def bare_call(tracer: object) -> Callable[[], object]:
    """What a careful hand-instrumented app does: one span, the same GenAI attributes."""
    def call() -> object:
        with tracer.start_as_current_span("chat gpt-4o-mini") as span:  # type: ignore[attr-defined]
            span.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.input.messages": json.dumps([{"role": m["role"], "parts": [
                    {"type": "text", "content": m["content"]}]} for m in MESSAGES[1:]]),
                "gen_ai.system_instructions": json.dumps([{"type": "text", "content": MESSAGES[0]["content"]}]),
            })
            result = RESPONSE
            choice = result["choices"][0]
            span.set_attributes({
                "gen_ai.response.model": result["model"], "gen_ai.response.id": result["id"],
                "gen_ai.usage.input_tokens": result["usage"]["prompt_tokens"],
                "gen_ai.usage.output_tokens": result["usage"]["completion_tokens"],
                "gen_ai.response.finish_reasons": [choice["finish_reason"]],
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "finish_reason": "stop", "parts": [
                    {"type": "text", "content": choice["message"]["content"]}]}]),
            })
            return result
    return call


def observed_call() -> Callable[[], object]:
    @sdk.observe(kind="llm", model="gpt-4o-mini", provider="openai")
    def ask(messages: list[dict]) -> dict:
        return RESPONSE

    return lambda: ask(MESSAGES)


def per_call_us(fn: Callable[[], object], calls: int, rounds: int = 5) -> float:
    """Median over rounds of the mean per-call time (µs)."""
    results = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        results.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(results)


def overhead(calls: int) -> dict[str, float]:
    bare_provider = TracerProvider()
    bare_provider.add_span_processor(BatchSpanProcessor(DiscardExporter()))
    bare = bare_call(bare_provider.get_tracer("bench"))
    obs_provider = TracerProvider()
    sdk.configure(tracer_provider=obs_provider)
    obs_provider.add_span_processor(BatchSpanProcessor(DiscardExporter()))
    observed = observed_call()
    for fn in (bare, observed):
        per_call_us(fn, calls // 10, rounds=1)  # warm up
    bare_us, observed_us = [], []
    for _ in range(3):  # interleave so drift hits both alike
        bare_us.append(per_call_us(bare, calls // 3, rounds=1))
        observed_us.append(per_call_us(observed, calls // 3, rounds=1))
    sdk.shutdown()
    bare_provider.shutdown()
    out = {"bare_us": statistics.median(bare_us), "observe_us": statistics.median(observed_us)}
    out["ratio"] = out["observe_us"] / out["bare_us"]
    return out


def rss_mib() -> float:
    """Resident memory of this process (Linux ``/proc``), what an operator would watch."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory(calls: int) -> list[tuple[int, float]]:
    """RSS (MiB) every 10% of the calls, exporting to a port nobody listens on."""
    sdk.configure(endpoint=f"http://127.0.0.1:{free_port()}", max_queue_size=2048, export_timeout_s=1.0)
    observed = observed_call()
    marks = [(0, rss_mib())]
    step = max(calls // 10, 1)
    for i in range(1, calls + 1):
        observed()
        if i % step == 0:
            gc.collect()
            marks.append((i, rss_mib()))
            print(f"  {i:>9} calls: RSS {marks[-1][1]:.1f} MiB, dropped {sdk.stats()['dropped']}", flush=True)
    sdk.shutdown()
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=150_000)
    parser.add_argument("--memory-calls", type=int, default=1_000_000)
    args = parser.parse_args()
    o = overhead(args.calls)
    print("| bare OTel span + BatchSpanProcessor | @observe (capture on) | ratio |")
    print("|---|---|---|")
    print(f"| {o['bare_us']:.1f} µs | {o['observe_us']:.1f} µs | {o['ratio']:.2f}× |")
    if args.memory_calls:
        marks = memory(args.memory_calls)
        print(f"RSS after {marks[1][0]} calls: {marks[1][1]:.1f} MiB; after {marks[-1][0]}: {marks[-1][1]:.1f} MiB")


if __name__ == "__main__":
    main()
