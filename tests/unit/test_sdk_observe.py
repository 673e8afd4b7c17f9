"""``@observe`` on every kind of callable, nesting across tasks and threads, streaming, errors,
redaction, sampling and context stamping, recorded by a real OpenTelemetry SDK pipeline."""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import StatusCode

from monitor import sdk


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    sdk.configure(tracer_provider=provider)
    yield memory
    sdk.shutdown()


def by_name(memory: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.name: s for s in memory.get_finished_spans()}


def chat_response(text: str = "Paris.") -> dict:
    return {"id": "chatcmpl-1", "model": "gpt-4o-mini-2024-07-18", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}


def test_function_llm_span_records_genai_attributes(spans: InMemorySpanExporter) -> None:
    @sdk.observe(kind="llm", model="gpt-4o-mini", provider="openai")
    def ask(messages: list[dict], temperature: float = 0.0) -> dict:
        return chat_response()

    result = ask([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}])
    assert result["id"] == "chatcmpl-1"
    (span,) = spans.get_finished_spans()
    a = span.attributes or {}
    assert span.name == "chat gpt-4o-mini"
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini" and a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (12, 3)
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    inputs = json.loads(str(a["gen_ai.input.messages"]))
    assert inputs[-1]["role"] == "user" and inputs[-1]["parts"][0]["content"] == "Capital of France?"
    outputs = json.loads(str(a["gen_ai.output.messages"]))
    assert outputs[0]["parts"][0]["content"] == "Paris."


def test_methods_and_plain_spans(spans: InMemorySpanExporter) -> None:
    class Bot:
        @sdk.observe(kind="tool")
        def lookup(self, city: str) -> str:
            return f"sunny in {city}"

    assert Bot().lookup("Oslo") == "sunny in Oslo"
    (span,) = spans.get_finished_spans()
    a = span.attributes or {}
    assert span.name.endswith("Bot.lookup") and a["gen_ai.operation.name"] == "execute_tool"
    assert json.loads(str(a["gen_ai.tool.call.arguments"])) == {"city": "Oslo"}
    assert a["gen_ai.tool.call.result"] == "sunny in Oslo"


def test_nesting_async_tasks_and_threads(spans: InMemorySpanExporter) -> None:
    @sdk.observe(kind="llm")
    async def leaf(i: int) -> str:
        await asyncio.sleep(0.001)
        return f"answer {i}"

    @sdk.observe(kind="chain", name="pipeline")
    async def pipeline() -> list[str]:
        return list(await asyncio.gather(*(asyncio.create_task(leaf(i)) for i in range(3))))

    @sdk.observe(name="worker")
    def worker() -> None:
        pass

    @sdk.observe(name="threaded")
    def threaded() -> None:
        ctx = contextvars.copy_context()
        t = threading.Thread(target=ctx.run, args=(worker,))
        t.start()
        t.join()

    assert asyncio.run(pipeline()) == ["answer 0", "answer 1", "answer 2"]
    threaded()
    finished = spans.get_finished_spans()
    root = next(s for s in finished if s.name == "pipeline")
    leaves = [s for s in finished if s.name.endswith("leaf")]
    assert len(leaves) == 3
    assert all(s.parent is not None and s.parent.span_id == root.context.span_id for s in leaves)
    assert {s.context.trace_id for s in leaves} == {root.context.trace_id}
    names = by_name(spans)
    assert names["worker"].parent is not None
    assert names["worker"].parent.span_id == names["threaded"].context.span_id


def test_generator_streams_ttft_and_assembles_output(spans: InMemorySpanExporter) -> None:
    @sdk.observe(kind="llm", model="m")
    def stream(prompt: str) -> Iterator[str]:
        yield from ("Hel", "lo", "!")

    assert "".join(stream("hi")) == "Hello!"
    (span,) = spans.get_finished_spans()
    a = span.attributes or {}
    assert a["gen_ai.response.time_to_first_chunk"] >= 0
    assert json.loads(str(a["gen_ai.output.messages"]))[0]["parts"][0]["content"] == "Hello!"
    assert "llm_monitor.stream.closed_early" not in a


def test_generator_closed_early_ends_the_span(spans: InMemorySpanExporter) -> None:
    closed = []

    @sdk.observe(kind="llm")
    def stream() -> Iterator[str]:
        try:
            yield from ("a", "b", "c")
        finally:
            closed.append(True)

    for chunk in stream():
        if chunk == "a":
            break
    (span,) = spans.get_finished_spans()
    assert closed == [True] and (span.attributes or {})["llm_monitor.stream.closed_early"] is True


def test_async_generator_and_failure_mid_stream(spans: InMemorySpanExporter) -> None:
    @sdk.observe(kind="llm", name="astream")
    async def astream(fail: bool):
        yield "x"
        if fail:
            raise TimeoutError("judge timed out")
        yield "y"

    async def consume(fail: bool) -> list[str]:
        return [c async for c in astream(fail)]

    assert asyncio.run(consume(False)) == ["x", "y"]
    with pytest.raises(TimeoutError, match="judge timed out"):
        asyncio.run(consume(True))
    ok, failed = spans.get_finished_spans()
    assert ok.status.status_code != StatusCode.ERROR
    assert failed.status.status_code == StatusCode.ERROR
    assert (failed.attributes or {})["error.type"] == "TimeoutError"


def test_exception_is_recorded_and_reraised_unchanged(spans: InMemorySpanExporter) -> None:
    error = ValueError("bad input")

    @sdk.observe
    def boom() -> None:
        raise error

    with pytest.raises(ValueError) as caught:
        boom()
    assert caught.value is error
    (span,) = spans.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR and (span.attributes or {})["error.type"] == "ValueError"
    assert span.events[0].name == "exception"


def test_redaction_and_capture_off() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    sdk.configure(tracer_provider=provider, redact=lambda s: s.replace("4111-1111-1111-1111", "[card]"))

    @sdk.observe(kind="llm")
    def ask(prompt: str) -> str:
        return "card 4111-1111-1111-1111 noted"

    ask("my card is 4111-1111-1111-1111")
    sdk.configure(tracer_provider=provider, capture_content=False)
    ask("secret")
    sdk.shutdown()
    redacted, silent = memory.get_finished_spans()
    text = json.dumps(dict(redacted.attributes or {}))
    assert "4111" not in text and text.count("[card]") == 2
    assert not any("messages" in k for k in (silent.attributes or {}))


def test_sampling_rate_zero_records_nothing_but_runs_the_code() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.0)))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    sdk.configure(tracer_provider=provider)

    @sdk.observe(kind="llm")
    def ask(prompt: str) -> str:
        return prompt.upper()

    assert [ask("a") for _ in range(50)] == ["A"] * 50
    sdk.shutdown()
    assert memory.get_finished_spans() == ()


def test_context_stamps_every_span_inside(spans: InMemorySpanExporter) -> None:
    @sdk.observe(name="inner")
    def inner() -> None:
        pass

    with sdk.context(user_id="u1", session_id="s1", tags=["beta"], metadata={"plan": "pro"},
                     segment={"variant": "B"}), sdk.context(segment={"region": "eu"}, tags=["vip"]):
        inner()
    inner()
    stamped, plain = spans.get_finished_spans()
    a = stamped.attributes or {}
    assert a["user.id"] == "u1" and a["session.id"] == "s1" and a["gen_ai.conversation.id"] == "s1"
    assert tuple(a["llm_monitor.tags"]) == ("beta", "vip") and a["llm_monitor.metadata.plan"] == "pro"
    assert a["llm_monitor.segment.variant"] == "B" and a["llm_monitor.segment.region"] == "eu"
    assert "user.id" not in (plain.attributes or {})


def test_context_manager_form(spans: InMemorySpanExporter) -> None:
    with sdk.span("retrieve docs", kind="retrieval", input={"q": "refunds"}) as s:
        s.set_output(["doc1", "doc2"])
    (span,) = spans.get_finished_spans()
    a = span.attributes or {}
    assert a["gen_ai.operation.name"] == "retrieval"
    assert json.loads(str(a["output.value"])) == ["doc1", "doc2"]


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="valid: llm"):
        sdk.observe(kind="banana")(lambda: None)
