"""Realistic OTLP trace payloads for the ingest benchmark.

Why this module exists: ingest cost is dominated by what real LLM spans carry (about fifteen
GenAI attributes, prompts and answers of a few hundred characters as JSON strings), not by span
count alone, so a benchmark with tiny synthetic spans would flatter the server. Every request is
pre-serialised before timing starts, so the load generator spends no CPU building protobufs while
it measures, and every request has fresh trace/span ids so the server's idempotent insert
(unique on project, trace_id, span_id) never silently drops a "duplicate".

Building 512 fully random spans costs tens of milliseconds, so a few distinct *templates* are
built with a seeded RNG and further requests are copies of them with new ids (parse, re-id,
serialise), which keeps content varied while payload generation stays cheap.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

SPANS_PER_REQUEST = 512
SPANS_PER_TRACE = 4  # an agent turn: a few model calls share a trace
SCOPE_NAME = "opentelemetry.instrumentation.openai_v2"
SCOPE_VERSION = "2.1b0"


@dataclass(frozen=True)
class Model:
    """One deployed model and where it is served, so the mix exercises pricing and provider paths."""

    provider: str
    request: str
    response: str
    server: str
    weight: float


# A mix of API models (priced from the genai-prices catalogue) and a self-hosted one (never priced).
MODELS: tuple[Model, ...] = (
    Model("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "api.openai.com", 0.40),
    Model("openai", "gpt-4.1", "gpt-4.1-2025-04-14", "api.openai.com", 0.15),
    Model("anthropic", "claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022", "api.anthropic.com", 0.20),
    Model("gcp.gemini", "gemini-2.0-flash", "gemini-2.0-flash", "generativelanguage.googleapis.com", 0.10),
    Model("vllm", "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "vllm.internal", 0.15),
)
_WEIGHTS = [m.weight for m in MODELS]

_WORD_TEXT = (
    "the a to of and in for is on that with as you it be this are your can by from or order refund account "
    "invoice shipping delivery password reset subscription plan upgrade cancel billing charge card payment "
    "support ticket issue error timeout latency request response model token context window summary report "
    "customer product warranty return policy address update email phone verify identity help question answer "
    "please thanks could would should need want check status tracking number package arrived damaged missing "
    "replacement credit balance statement monthly annual discount coupon code promotion eligible expired"
)
_WORDS = _WORD_TEXT.split()
_SYSTEM_PROMPTS = (
    "You are a helpful customer-support assistant for an online store. Answer briefly, cite the policy "
    "section when relevant, never invent order numbers, and escalate to a human when the user is upset.",
    "You are a careful assistant that summarises support tickets for the on-call engineer. Keep the summary "
    "under five sentences and list the concrete next actions at the end.",
    "You answer billing questions. Only use facts from the account context given below; if something is "
    "missing, ask one clarifying question instead of guessing.",
)
_FINISH = (("stop", 0.9), ("length", 0.07), ("tool_calls", 0.03))


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _paragraph(rng: random.Random, chars: int) -> str:
    parts: list[str] = []
    size = 0
    while size < chars:
        s = _sentence(rng, rng.randint(6, 18))
        parts.append(s)
        size += len(s) + 1
    return " ".join(parts)


def _kv(key: str, value: str | int | float | list[str]) -> KeyValue:
    if isinstance(value, bool):
        raise TypeError("no bool attributes in this payload")
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, list):
        return KeyValue(key=key, value=AnyValue(array_value=ArrayValue(
            values=[AnyValue(string_value=v) for v in value])))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def resource_attributes(rng: random.Random) -> list[KeyValue]:
    """What an OTel SDK in a containerised Python service reports about itself."""
    service = rng.choice(("support-bot", "ticket-summariser", "billing-assistant"))
    return [
        _kv("service.name", service),
        _kv("service.version", f"1.{rng.randint(0, 9)}.{rng.randint(0, 30)}"),
        _kv("service.instance.id", f"{service}-{rng.getrandbits(32):08x}"),
        _kv("deployment.environment.name", rng.choice(("production", "production", "staging"))),
        _kv("cloud.region", rng.choice(("eu-west-1", "us-east-1"))),
        _kv("host.name", f"ip-10-0-{rng.randint(0, 255)}-{rng.randint(0, 255)}"),
        _kv("process.runtime.name", "cpython"),
        _kv("process.runtime.version", "3.12.7"),
        _kv("telemetry.sdk.language", "python"),
        _kv("telemetry.sdk.name", "opentelemetry"),
        _kv("telemetry.sdk.version", "1.38.0"),
    ]


def chat_span(rng: random.Random, trace_id: bytes, span_id: bytes, parent: bytes, start_ns: int) -> Span:
    """One chat call with the attributes the OTel GenAI conventions (v1.37+) put on it (16 of them)."""
    model = rng.choices(MODELS, _WEIGHTS)[0]
    finish = rng.choices([f for f, _ in _FINISH], [w for _, w in _FINISH])[0]
    system = rng.choice(_SYSTEM_PROMPTS)
    question = _paragraph(rng, rng.randint(150, 400))
    answer = _paragraph(rng, rng.randint(200, 600))
    inputs = orjson.dumps([
        {"role": "system", "parts": [{"type": "text", "content": system}]},
        {"role": "user", "parts": [{"type": "text", "content": question}]},
    ]).decode()
    outputs = orjson.dumps([
        {"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": finish},
    ]).decode()
    input_tokens = (len(system) + len(question)) // 4
    output_tokens = len(answer) // 4
    duration_ns = int((0.25 + output_tokens * rng.uniform(0.01, 0.03)) * 1e9)
    attrs = [
        _kv("gen_ai.operation.name", "chat"),
        _kv("gen_ai.provider.name", model.provider),
        _kv("gen_ai.request.model", model.request),
        _kv("gen_ai.response.model", model.response),
        _kv("gen_ai.request.temperature", round(rng.choice((0.0, 0.2, 0.7, 1.0)), 2)),
        _kv("gen_ai.request.max_tokens", rng.choice((256, 512, 1024, 4096))),
        _kv("gen_ai.usage.input_tokens", input_tokens),
        _kv("gen_ai.usage.output_tokens", output_tokens),
        _kv("gen_ai.response.finish_reasons", [finish]),
        _kv("gen_ai.response.id", f"chatcmpl-{rng.getrandbits(96):024x}"),
        _kv("gen_ai.conversation.id", f"conv_{rng.getrandbits(48):012x}"),
        _kv("gen_ai.input.messages", inputs),
        _kv("gen_ai.output.messages", outputs),
        _kv("server.address", model.server),
        _kv("server.port", 443),
        _kv("user.id", f"user-{rng.randint(1, 5000):05d}"),
    ]
    span = Span(trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=f"chat {model.request}",
                kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=start_ns,
                end_time_unix_nano=start_ns + duration_ns, attributes=attrs)
    if rng.random() < 0.02:
        span.status.code = 2
        span.status.message = "RateLimitError: Error code: 429"
        span.attributes.append(_kv("error.type", "RateLimitError"))
    return span


def _ids(rng: random.Random) -> tuple[bytes, bytes]:
    # Never all-zero (OTLP calls that invalid); 1 is OR-ed into the low byte.
    return (rng.getrandbits(128) | 1).to_bytes(16, "big"), (rng.getrandbits(64) | 1).to_bytes(8, "big")


def build_request(rng: random.Random, spans: int = SPANS_PER_REQUEST,
                  now_ns: int | None = None) -> ExportTraceServiceRequest:
    """One export request: one resource, one instrumentation scope, ``spans`` chat spans in traces of 4."""
    now_ns = now_ns if now_ns is not None else time.time_ns()
    scope = ScopeSpans()
    scope.scope.name, scope.scope.version = SCOPE_NAME, SCOPE_VERSION
    trace_id, root = b"", b""
    for i in range(spans):
        new_trace = i % SPANS_PER_TRACE == 0
        tid, sid = _ids(rng)
        if new_trace:
            trace_id, root = tid, sid
        start = now_ns - rng.randint(1, 60_000) * 1_000_000
        scope.spans.append(chat_span(rng, trace_id, sid, b"" if new_trace else root, start))
    return ExportTraceServiceRequest(resource_spans=[
        ResourceSpans(resource={"attributes": resource_attributes(rng)}, scope_spans=[scope]),
    ])


def reid(template: bytes, rng: random.Random) -> bytes:
    """A copy of a serialised request with fresh trace and span ids (parents kept consistent)."""
    req = ExportTraceServiceRequest.FromString(template)
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            trace_id, root = b"", b""
            for i, span in enumerate(ss.spans):
                tid, sid = _ids(rng)
                if i % SPANS_PER_TRACE == 0:
                    trace_id, root = tid, sid
                    span.parent_span_id = b""
                else:
                    span.parent_span_id = root
                span.trace_id, span.span_id = trace_id, sid
    return req.SerializeToString()


class PayloadFactory:
    """Deterministic stream of unique serialised requests (seeded), built from a few templates."""

    def __init__(self, seed: int = 42, templates: int = 8, spans: int = SPANS_PER_REQUEST) -> None:
        self.spans = spans
        self._rng = random.Random(seed)
        now = time.time_ns()
        self.templates = [build_request(self._rng, spans, now).SerializeToString() for _ in range(templates)]
        self._next = 0

    def take(self, count: int) -> list[bytes]:
        """``count`` more requests, never repeating ids already handed out by this factory."""
        out = []
        for _ in range(count):
            i = self._next
            self._next += 1
            template = self.templates[i % len(self.templates)]
            out.append(template if i < len(self.templates) else reid(template, self._rng))
        return out

    def __iter__(self) -> Iterator[bytes]:
        while True:
            yield self.take(1)[0]


if __name__ == "__main__":
    factory = PayloadFactory()
    t0 = time.perf_counter()
    batch = factory.take(32)
    elapsed = time.perf_counter() - t0
    sizes = [len(b) for b in batch]
    req = ExportTraceServiceRequest.FromString(batch[0])
    span = req.resource_spans[0].scope_spans[0].spans[1]
    print(f"{len(batch)} requests x {factory.spans} spans in {elapsed:.2f}s; "
          f"{sum(sizes) / len(sizes) / 1024:.0f} KiB/request, {sizes[0] / factory.spans:.0f} B/span, "
          f"{len(span.attributes)} attributes/span")
