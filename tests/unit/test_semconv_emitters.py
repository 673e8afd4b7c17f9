"""Normalisation of what the real OpenAI instrumentations send (recorded in tests/fixtures/emitters).

The expected values are the stub server's answers in ``generate.py`` (the constants are imported
from it, so the fixtures, the generator and these tests cannot drift apart silently).
"""

from __future__ import annotations

import importlib.util
import sys
from collections import defaultdict
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from collectors.otlp.logs import decode_logs
from collectors.otlp.traces import PROTOBUF, decode_traces
from collectors.semconv import NormalizeOptions, is_model_call, normalize_span
from collectors.semconv.messages import finish_reasons, messages_from_events, render, split_system
from monitor.domain import LLMCall, LogEvent, Span

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "emitters"
EMITTERS = ("openai_v2", "openai_v2_latest", "openllmetry", "openinference")
SPAN_KIND_INTERNAL, SPAN_KIND_CLIENT = 1, 3


def load_generator() -> ModuleType:
    """``generate.py`` as a module (it is a script in a data folder, not a package)."""
    name = "emitter_fixture_generator"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FIXTURES / "generate.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


gen = load_generator()
STREAM_ANSWER = "".join(gen.STREAM_PIECES)
CHAT_RESPONSE_MODEL = gen.RESPONSE_MODELS[gen.CHAT_MODEL]
LEGACY_RESPONSE_MODEL = gen.RESPONSE_MODELS[gen.LEGACY_MODEL]


@cache
def _spans(name: str) -> tuple[Span, ...]:
    batch = decode_traces((FIXTURES / f"{name}.traces.pb").read_bytes(), PROTOBUF)
    assert not batch.rejected
    return tuple(normalize_span(span, NormalizeOptions({})) for span in batch.spans)


def _logs(name: str) -> list[LogEvent]:
    batch = decode_logs((FIXTURES / f"{name}.logs.pb").read_bytes(), PROTOBUF)
    assert not batch.rejected
    return batch.logs


def _calls(name: str) -> dict[str, LLMCall]:
    """The emitter's spans by role; the generator makes its calls one after the other, in this order."""
    spans = _spans(name)
    roles = ["chat", "stream", "completion", "embeddings"]
    if name.startswith("openai_v2"):  # openai-v2 does not instrument the legacy completions API
        roles.remove("completion")
    assert len(spans) == len(roles), [s.name for s in spans]
    calls = {}
    for role, span in zip(roles, spans, strict=True):
        assert span.llm is not None, span.name
        calls[role] = span.llm
    return calls


def _usage_tokens(usage: dict[str, Any]) -> tuple[int, int | None, int]:
    return usage["prompt_tokens"], usage.get("completion_tokens"), usage["total_tokens"]


def _tokens(call: LLMCall) -> tuple[int | None, int | None, int | None]:
    return call.input_tokens, call.output_tokens, call.total_tokens


# --------------------------------------------------------------------------- every emitter, every span


@pytest.mark.parametrize("name", EMITTERS)
def test_every_span_is_a_model_call_from_openai(name: str) -> None:
    for span in _spans(name):
        assert is_model_call(span.llm), span.name
        assert span.llm is not None
        assert span.llm.provider == "openai"
        assert span.llm.error_type is None
        assert span.resource["service.name"] == "fixture-app"
        assert span.segment is None and span.tags is None


@pytest.mark.parametrize("name", EMITTERS)
def test_tokens_are_never_double_counted(name: str) -> None:
    """Cached input is part of input, reasoning part of output: the total is input + output only."""
    for span in _spans(name):
        call = span.llm
        assert call is not None and call.input_tokens is not None and call.total_tokens is not None
        assert call.total_tokens == call.input_tokens + (call.output_tokens or 0)
        assert call.cached_input_tokens is None or call.cached_input_tokens <= call.input_tokens
        assert call.reasoning_tokens is None or call.reasoning_tokens <= (call.output_tokens or 0)


@pytest.mark.parametrize("name", EMITTERS)
def test_operation_and_models(name: str) -> None:
    calls = _calls(name)
    for role in ("chat", "stream"):
        assert calls[role].operation == "chat"
        assert (calls[role].request_model, calls[role].response_model) == (gen.CHAT_MODEL, CHAT_RESPONSE_MODEL)
    if "completion" in calls:
        assert calls["completion"].operation == "text_completion"
        assert (calls["completion"].request_model, calls["completion"].response_model) == (
            gen.LEGACY_MODEL, LEGACY_RESPONSE_MODEL)
    assert calls["embeddings"].operation == "embeddings"
    assert calls["embeddings"].request_model == gen.EMBEDDING_MODEL
    assert calls["embeddings"].response_model == gen.RESPONSE_MODELS[gen.EMBEDDING_MODEL]


@pytest.mark.parametrize("name", EMITTERS)
def test_token_counts_match_the_stub(name: str) -> None:
    calls = _calls(name)
    assert _tokens(calls["chat"]) == _usage_tokens(gen.CHAT_USAGE)
    assert _tokens(calls["stream"]) == _usage_tokens(gen.STREAM_USAGE)
    if "completion" in calls:
        assert _tokens(calls["completion"]) == _usage_tokens(gen.LEGACY_USAGE)
    # Embeddings have no output tokens; the total is the input (reported or, for openai-v2, derived).
    assert _tokens(calls["embeddings"]) == _usage_tokens(gen.EMBEDDING_USAGE)


@pytest.mark.parametrize("name", EMITTERS)
def test_content_of_chat_calls(name: str) -> None:
    calls = _calls(name)
    if name == "openai_v2":  # content only in log records, see test_openai_v2_log_records_carry_the_content
        assert all(c.input_text is None and c.output_text is None for c in calls.values())
        return
    assert calls["chat"].system_instructions == gen.SYSTEM_PROMPT
    assert calls["chat"].input_text == gen.USER_PROMPT
    assert calls["chat"].output_text == gen.CHAT_ANSWER
    assert calls["stream"].system_instructions is None
    assert calls["stream"].input_text == gen.USER_PROMPT
    assert calls["stream"].output_text == STREAM_ANSWER
    assert calls["chat"].retrieval_context is None


@pytest.mark.parametrize("name", EMITTERS)
def test_chat_response_details(name: str) -> None:
    calls = _calls(name)
    assert calls["chat"].finish_reasons == ["stop"]
    if name != "openinference":  # OpenInference has no response id attribute
        assert calls["chat"].response_id == "chatcmpl-fixture0001"
        assert calls["stream"].response_id == "chatcmpl-fixture0002"


# --------------------------------------------------------------------------- per emitter


def test_openai_v2_legacy_path() -> None:
    spans, calls = _spans("openai_v2"), _calls("openai_v2")
    assert [s.kind for s in spans] == [SPAN_KIND_CLIENT] * 3
    assert [s.name for s in spans] == ["chat gpt-4o-mini", "chat gpt-4o-mini", "embeddings text-embedding-3-small"]
    # Neither the span nor anything else carries cached/reasoning tokens, a TTFT, or the stream's finish reason.
    assert all(c.cached_input_tokens is None and c.reasoning_tokens is None for c in calls.values())
    assert all(c.ttft_ms is None for c in calls.values())
    assert calls["stream"].finish_reasons is None
    assert calls["embeddings"].output_tokens is None


def _log_events_by_span(name: str) -> dict[str, list[tuple[str | None, dict[str, Any], Any]]]:
    by_span: dict[str, list[tuple[str | None, dict[str, Any], Any]]] = defaultdict(list)
    for log in _logs(name):
        assert log.span_id is not None and log.trace_id is not None
        by_span[log.span_id].append((log.event_name, log.attributes, log.body))
    return by_span


def _content(events: list[tuple[str | None, dict[str, Any], Any]]) -> tuple[str | None, str | None, str | None,
                                                                             list[str] | None]:
    """What the store derives from a span's log events: input, output, system, finish reasons."""
    inputs, outputs, system = messages_from_events(events)
    inputs, in_system = split_system(inputs)
    return render(inputs), render(outputs), system or in_system, finish_reasons(outputs)


def test_openai_v2_log_records_carry_the_content() -> None:
    chat, stream = (s for s in _spans("openai_v2") if s.llm and s.llm.operation == "chat")
    by_span = _log_events_by_span("openai_v2")
    assert set(by_span) == {chat.span_id, stream.span_id}
    assert [name for name, _, _ in by_span[chat.span_id]] == [
        "gen_ai.system.message", "gen_ai.user.message", "gen_ai.choice"]
    assert _content(by_span[chat.span_id]) == (gen.USER_PROMPT, gen.CHAT_ANSWER, gen.SYSTEM_PROMPT, ["stop"])
    # For the stream, the gen_ai.choice record is the only place the finish reason appears.
    assert _content(by_span[stream.span_id]) == (gen.USER_PROMPT, STREAM_ANSWER, None, ["stop"])
    assert {log.trace_id for log in _logs("openai_v2")} == {chat.trace_id, stream.trace_id}


def test_openai_v2_latest_details_event_gives_the_same_content() -> None:
    chat, stream = (s for s in _spans("openai_v2_latest") if s.llm and s.llm.operation == "chat")
    by_span = _log_events_by_span("openai_v2_latest")
    assert [name for events in by_span.values() for name, _, _ in events] == [
        "gen_ai.client.inference.operation.details"] * 2
    # Here the messages are structured (kvlists), not JSON strings as on the span.
    assert isinstance(by_span[chat.span_id][0][1]["gen_ai.input.messages"], list)
    assert _content(by_span[chat.span_id]) == (gen.USER_PROMPT, gen.CHAT_ANSWER, gen.SYSTEM_PROMPT, ["stop"])
    assert _content(by_span[stream.span_id]) == (gen.USER_PROMPT, STREAM_ANSWER, None, ["stop"])


def test_openai_v2_latest_stream_finish_reason_comes_from_the_output_messages() -> None:
    spans, calls = _spans("openai_v2_latest"), _calls("openai_v2_latest")
    assert "gen_ai.response.finish_reasons" not in spans[1].attributes
    assert calls["stream"].finish_reasons == ["stop"]
    assert all(c.ttft_ms is None for c in calls.values())  # no TTFT attribute or event in this variant


def test_openllmetry_specifics() -> None:
    spans, calls = _spans("openllmetry"), _calls("openllmetry")
    assert [s.name for s in spans] == ["openai.chat", "openai.chat", "openai.completion", "openai.embeddings"]
    chat_details = gen.CHAT_USAGE["prompt_tokens_details"], gen.CHAT_USAGE["completion_tokens_details"]
    assert calls["chat"].cached_input_tokens == chat_details[0]["cached_tokens"]
    assert calls["chat"].reasoning_tokens == chat_details[1]["reasoning_tokens"]
    assert calls["stream"].cached_input_tokens == gen.STREAM_USAGE["prompt_tokens_details"]["cached_tokens"]
    assert calls["stream"].reasoning_tokens is None  # OpenLLMetry drops it on streams
    assert calls["stream"].finish_reasons == ["stop"]
    # gen_ai.openai.api_base is a URL with the stub's random port; server.address is the host only.
    assert {c.server_address for c in calls.values()} == {"127.0.0.1"}
    assert calls["completion"].input_text == gen.LEGACY_PROMPT
    assert calls["completion"].output_text == gen.LEGACY_ANSWER
    assert calls["completion"].finish_reasons == ["stop"]
    assert calls["embeddings"].input_text == gen.EMBEDDING_INPUT
    assert calls["embeddings"].output_text is None
    assert calls["embeddings"].cached_input_tokens == 0


def _first_event_offset_ms(span: Span, event_name: str) -> float:
    times = [e["time_ns"] for e in span.events if e["name"] == event_name]
    assert times
    return (min(times) - span.start_ns) / 1e6


def test_openllmetry_ttft_is_the_first_chunk_event() -> None:
    stream = _spans("openllmetry")[1]
    assert len(stream.events) == len(gen._chat_chunks(gen.CHAT_MODEL, include_usage=True))
    assert stream.llm is not None and stream.llm.ttft_ms is not None
    assert stream.llm.ttft_ms == pytest.approx(_first_event_offset_ms(stream, "gen_ai.content.completion.chunk"))
    # The stub sleeps before every chunk, so the first one cannot arrive earlier than that.
    assert gen.STREAM_CHUNK_DELAY_S * 1000 <= stream.llm.ttft_ms < stream.duration_ms
    assert all(s.llm is not None and s.llm.ttft_ms is None for s in _spans("openllmetry") if s is not stream)


def test_openinference_specifics() -> None:
    spans, calls = _spans("openinference"), _calls("openinference")
    assert [s.name for s in spans] == ["ChatCompletion", "ChatCompletion", "Completion", "CreateEmbeddings"]
    assert {s.kind for s in spans} == {SPAN_KIND_INTERNAL}
    # llm.model_name is the response model; the requested one only exists inside llm.invocation_parameters.
    assert spans[0].attributes["llm.model_name"] == CHAT_RESPONSE_MODEL
    for usage, role in ((gen.CHAT_USAGE, "chat"), (gen.STREAM_USAGE, "stream")):
        assert calls[role].cached_input_tokens == usage["prompt_tokens_details"]["cached_tokens"]
        assert calls[role].reasoning_tokens == usage["completion_tokens_details"]["reasoning_tokens"]
    assert calls["stream"].finish_reasons == ["stop"]  # llm.finish_reason is a single string
    assert calls["completion"].input_text == gen.LEGACY_PROMPT
    assert calls["completion"].output_text == gen.LEGACY_ANSWER
    assert calls["embeddings"].input_text == gen.EMBEDDING_INPUT
    assert calls["embeddings"].output_text is None  # output.value is the vector dump, not text
    assert all(c.server_address is None and c.cost_usd is None for c in calls.values())


def test_openinference_ttft_is_the_first_token_event() -> None:
    stream = _spans("openinference")[1]
    assert stream.llm is not None and stream.llm.ttft_ms is not None
    assert stream.llm.ttft_ms == pytest.approx(_first_event_offset_ms(stream, "First Token Stream Event"))
    assert gen.STREAM_CHUNK_DELAY_S * 1000 <= stream.llm.ttft_ms < stream.duration_ms
