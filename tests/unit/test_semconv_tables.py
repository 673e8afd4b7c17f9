"""One group of tests per convention table, with attribute dicts written from ../shared/TELEMETRY.md.

GenAI current (§1.2–1.4), GenAI pre-1.37 (§1.5), vLLM ``llm_request`` (§4.1), OpenLLMetry ≤0.47
(§5.1), OpenInference (§2); then segment labels and tags, non-LLM spans, precedence between
conventions, and bad values.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest

from collectors.semconv import NormalizeOptions, genai, is_model_call, normalize_span, openinference, openllmetry, vllm
from collectors.semconv.messages import messages_from_events, render, split_system
from collectors.semconv.normalize import CONVENTIONS
from monitor.domain import STATUS_ERROR, LLMCall, Span

START_NS = 1_700_000_000_000_000_000


def make_span(attrs: dict[str, Any], *, resource: dict[str, Any] | None = None,
              events: list[dict[str, Any]] | None = None, name: str = "span", kind: int = 3,
              status_code: int = 0, status_message: str | None = None) -> Span:
    return Span(trace_id="1" * 32, span_id="2" * 16, parent_span_id=None, name=name, kind=kind,
                start_ns=START_NS, end_ns=START_NS + 500_000_000, status_code=status_code,
                status_message=status_message, attributes=attrs, resource=resource or {"service.name": "svc"},
                events=events or [])


def normalized(attrs: dict[str, Any], options: NormalizeOptions | None = None, **kwargs: Any) -> Span:
    return normalize_span(make_span(attrs, **kwargs), options or NormalizeOptions({}))


def llm(attrs: dict[str, Any], **kwargs: Any) -> LLMCall:
    call = normalized(attrs, **kwargs).llm
    assert call is not None
    return call


def parts(role: str, *texts: str, **extra: Any) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": t} for t in texts], **extra}


def event(name: str, offset_ms: float, **attrs: Any) -> dict[str, Any]:
    return {"name": name, "time_ns": START_NS + int(offset_ms * 1e6), "attributes": attrs}


# =========================================================================== every row of every table

# A value for each canonical field and what it becomes on LLMCall (attribute name, expected value).
FIELD_CASES: dict[str, tuple[Any, str, Any]] = {
    "provider": ("openai", "provider", "openai"),
    "request_model": ("m-1", "request_model", "m-1"),
    "response_model": ("m-1", "response_model", "m-1"),
    "input_tokens": (7, "input_tokens", 7),
    "output_tokens": (7, "output_tokens", 7),
    "total_tokens": (7, "total_tokens", 7),
    "cached_input_tokens": (7, "cached_input_tokens", 7),
    "reasoning_tokens": (7, "reasoning_tokens", 7),
    "finish_reasons": ("stop", "finish_reasons", ["stop"]),
    "error_type": ("timeout", "error_type", "timeout"),
    "ttft_s": (0.5, "ttft_ms", 500.0),
    "server_address": ("api.example.com", "server_address", "api.example.com"),
    "user_id": ("u-1", "user_id", "u-1"),
    "session_id": ("s-1", "session_id", "s-1"),
    "response_id": ("r-1", "response_id", "r-1"),
    "reported_cost": (0.5, "cost_usd", 0.5),
}
ROWS = [(conv.name, field, key) for conv in CONVENTIONS for field, keys in conv.fields.items() for key in keys
        if field != "operation"]


@pytest.mark.parametrize(("convention", "field", "key"), ROWS, ids=[f"{c}:{k}" for c, _, k in ROWS])
def test_every_table_row_is_read(convention: str, field: str, key: str) -> None:
    """Each attribute key of each table fills its field when it is the only source of that field."""
    value, attribute, expected = FIELD_CASES[field]
    # Keys such as user.id do not make a span an LLM span on their own; a marker of another field does.
    marker = {"gen_ai.request.model": "marker"} if field != "request_model" else {"gen_ai.usage.input_tokens": 1}
    call = llm({**marker, key: value})
    assert getattr(call, attribute) == expected


OPERATION_ROWS = [(conv.name, key, source, target) for conv in CONVENTIONS
                  for key in conv.fields.get("operation", ())
                  for source, target in (conv.value_maps.get("operation") or {"chat": "chat"}).items()]


@pytest.mark.parametrize(("convention", "key", "value", "expected"), OPERATION_ROWS,
                         ids=[f"{c}:{k}={v}" for c, k, v, _ in OPERATION_ROWS])
def test_every_operation_value_is_mapped(convention: str, key: str, value: str, expected: str | None) -> None:
    call = llm({key: value})
    # A value mapped to None (OpenInference UNKNOWN) is not an operation; nothing else says what it is either.
    assert call.operation == expected


@pytest.mark.parametrize(("old", "new"), sorted(genai.PROVIDER_ALIASES.items()))
def test_every_provider_alias_is_mapped(old: str, new: str) -> None:
    assert llm({"gen_ai.system": old}).provider == new
    assert llm({"gen_ai.system": old.upper()}).provider == new


# =========================================================================== GenAI current (v1.37+)

GENAI_CURRENT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.request.temperature": 0.2,
    "gen_ai.request.stream": True,
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.usage.cache_read.input_tokens": 200,
    "gen_ai.usage.reasoning.output_tokens": 50,
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.response.id": "chatcmpl-123",
    "gen_ai.response.time_to_first_chunk": 0.25,
    "gen_ai.conversation.id": "conv-7",
    "server.address": "api.openai.com",
    "server.port": 443,
    "user.id": "u-42",
    "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Answer in French."}]),
    "gen_ai.input.messages": json.dumps([parts("user", "Weather in Paris?")]),
    "gen_ai.output.messages": json.dumps([parts("assistant", "Il fait beau.", finish_reason="stop")]),
}


class TestGenAICurrent:
    def test_all_fields(self) -> None:
        call = llm(GENAI_CURRENT)
        assert (call.operation, call.provider) == ("chat", "openai")
        assert (call.request_model, call.response_model) == ("gpt-4o", "gpt-4o-2024-08-06")
        assert (call.input_tokens, call.output_tokens, call.total_tokens) == (1200, 300, 1500)
        assert (call.cached_input_tokens, call.reasoning_tokens) == (200, 50)
        assert call.finish_reasons == ["stop"]
        assert call.ttft_ms == pytest.approx(250.0)  # seconds -> milliseconds
        assert call.session_id == "conv-7" and call.user_id == "u-42"
        assert call.server_address == "api.openai.com" and call.response_id == "chatcmpl-123"
        assert call.system_instructions == "Answer in French."
        assert call.input_text == "Weather in Paris?"
        assert call.output_text == "Il fait beau."
        assert call.error_type is None and call.cost_usd is None and call.retrieval_context is None
        assert is_model_call(call)

    def test_structured_messages(self) -> None:
        """On log events (and from SDKs that support it) the messages are AnyValue arrays, not JSON strings."""
        call = llm({
            "gen_ai.operation.name": "chat",
            "gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}],
            "gen_ai.input.messages": [parts("user", "Hi"), parts("assistant", "Hello!"), parts("user", "Bye")],
            "gen_ai.output.messages": [parts("assistant", "Goodbye.", finish_reason="stop")],
        })
        assert call.system_instructions == "Be brief."
        assert call.input_text == "user: Hi\nassistant: Hello!\nuser: Bye"
        assert call.output_text == "Goodbye."
        assert call.finish_reasons == ["stop"]

    def test_system_instructions_as_plain_string_and_system_messages(self) -> None:
        call = llm({"gen_ai.operation.name": "chat", "gen_ai.system_instructions": "Be brief.",
                    "gen_ai.input.messages": json.dumps([parts("system", "ignored"), parts("user", "Hi")])})
        assert call.system_instructions == "Be brief."  # the dedicated attribute wins
        assert call.input_text == "Hi"
        call = llm({"gen_ai.operation.name": "chat",
                    "gen_ai.input.messages": json.dumps([parts("system", "Be kind."), parts("user", "Hi")])})
        assert call.system_instructions == "Be kind."

    def test_tool_calls_and_media_parts(self) -> None:
        messages = [
            {"role": "user", "parts": [{"type": "text", "content": "Weather?"},
                                       {"type": "blob", "modality": "image", "mime_type": "image/png",
                                        "content": "iVBORw0KGgo" * 1000}]},
            {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "get_weather",
                                             "arguments": {"city": "Paris"}}]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "sunny"}]},
        ]
        call = llm({"gen_ai.operation.name": "chat", "gen_ai.input.messages": json.dumps(messages)})
        assert call.input_text == ('user: Weather?\n[image/png]\nassistant: [tool_call get_weather({"city":"Paris"})]'
                                   "\ntool: sunny")

    def test_json_text_is_text(self) -> None:
        """A JSON-mode answer or a JSON tool result is the message's text, not something to take apart."""
        answer = '{"type": "person", "name": "Ada"}'
        call = llm({"gen_ai.operation.name": "chat",
                    "gen_ai.input.messages": json.dumps([
                        {"role": "tool", "parts": [{"type": "tool_call_response", "response": {"temp": 21}}]}]),
                    "gen_ai.output.messages": json.dumps([parts("assistant", answer)])})
        assert call.input_text == '{"temp":21}'
        assert call.output_text == answer
        call = llm({"openinference.span.kind": "LLM", "llm.output_messages.0.message.role": "assistant",
                    "llm.output_messages.0.message.content": '{"answer": 42}',
                    "llm.input_messages.0.message.content": "[1, 2, 3]"})
        assert (call.input_text, call.output_text) == ("[1, 2, 3]", '{"answer": 42}')

    def test_finish_reason_from_output_messages(self) -> None:
        """openai-v2 (latest) streams leave gen_ai.response.finish_reasons unset; the output messages have it."""
        out = [parts("assistant", "a", finish_reason="stop"), parts("assistant", "b", finish_reason="length")]
        call = llm({"gen_ai.operation.name": "chat", "gen_ai.output.messages": json.dumps(out)})
        assert call.finish_reasons == ["stop", "length"]
        assert call.output_text == "assistant: a\nassistant: b"

    def test_error_type_attribute_and_status(self) -> None:
        assert llm({**GENAI_CURRENT, "error.type": "timeout"}).error_type == "timeout"
        exception = event("exception", 10, **{"exception.type": "openai.RateLimitError", "exception.message": "429"})
        call = llm(GENAI_CURRENT, status_code=STATUS_ERROR, status_message="Error code: 429", events=[exception])
        assert call.error_type == "openai.RateLimitError"
        assert llm(GENAI_CURRENT, status_code=STATUS_ERROR, status_message="boom").error_type == "boom"
        assert llm(GENAI_CURRENT, status_code=STATUS_ERROR).error_type == "_OTHER"

    def test_embeddings_total_is_the_input(self) -> None:
        call = llm({"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "text-embedding-3-small",
                    "gen_ai.usage.input_tokens": 5})
        assert (call.operation, call.input_tokens, call.output_tokens, call.total_tokens) == ("embeddings", 5, None, 5)
        assert is_model_call(call)

    def test_chat_without_output_tokens_has_no_total(self) -> None:
        assert llm({"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 5}).total_tokens is None

    def test_agent_and_tool_spans_are_not_model_calls(self) -> None:
        for operation in ("execute_tool", "invoke_agent", "create_agent", "retrieval"):
            call = llm({"gen_ai.operation.name": operation, "gen_ai.tool.name": "search"})
            assert call.operation == operation and not is_model_call(call)

    def test_operation_defaults_to_chat_when_a_model_is_named(self) -> None:
        assert llm({"gen_ai.request.model": "gpt-4o"}).operation == "chat"

    def test_only_message_content_marks_a_genai_span(self) -> None:
        call = llm({"gen_ai.input.messages": json.dumps([parts("user", "Hi")])})
        assert call.input_text == "Hi" and call.operation is None


# =========================================================================== GenAI pre-1.37

class TestGenAILegacy:
    def test_usage_and_system(self) -> None:
        call = llm({"gen_ai.system": "az.ai.openai", "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4", "gen_ai.usage.prompt_tokens": 30,
                    "gen_ai.usage.completion_tokens": 12, "gen_ai.usage.cache_read_input_tokens": 8,
                    "gen_ai.response.id": "chatcmpl-9"})
        assert call.provider == "azure.ai.openai"
        assert (call.input_tokens, call.output_tokens, call.total_tokens, call.cached_input_tokens) == (30, 12, 42, 8)
        assert call.response_id == "chatcmpl-9"

    @pytest.mark.parametrize(("old", "new"), [("az.ai.inference", "azure.ai.inference"), ("vertex_ai", "gcp.vertex_ai"),
                                              ("gemini", "gcp.gemini"), ("xai", "x_ai"), ("openai", "openai"),
                                              ("mistral_ai", "mistral_ai"), ("deepseek", "deepseek")])
    def test_old_system_values(self, old: str, new: str) -> None:
        assert llm({"gen_ai.system": old}).provider == new

    def test_prompt_and_completion_attributes(self) -> None:
        """gen_ai.prompt / gen_ai.completion (deprecated v1.28): OpenAI-style message lists as JSON."""
        prompt = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "2+2?"}]
        completion = [{"role": "assistant", "content": "4"}]
        call = llm({"gen_ai.system": "openai", "gen_ai.prompt": json.dumps(prompt),
                    "gen_ai.completion": json.dumps(completion)})
        assert (call.system_instructions, call.input_text, call.output_text) == ("Be terse.", "2+2?", "4")

    def test_content_span_events(self) -> None:
        """v1.27-style span events gen_ai.content.prompt / gen_ai.content.completion."""
        prompt = json.dumps([{"role": "user", "content": "Hi"}])
        events = [event("gen_ai.content.prompt", 1, **{"gen_ai.prompt": prompt}),
                  event("gen_ai.content.completion", 90,
                        **{"gen_ai.completion": json.dumps([{"role": "assistant", "content": "Hello"}])})]
        call = llm({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4"}, events=events)
        assert (call.input_text, call.output_text) == ("Hi", "Hello")

    def test_per_message_span_events(self) -> None:
        """gen_ai.user.message / gen_ai.choice as span events, body in gen_ai.event.content (Azure SDKs)."""
        events = [
            event("gen_ai.system.message", 1, **{"gen_ai.system": "az.ai.inference",
                                                 "gen_ai.event.content": json.dumps({"content": "Be terse."})}),
            event("gen_ai.user.message", 1, **{"gen_ai.system": "az.ai.inference",
                                               "gen_ai.event.content": json.dumps({"content": "2+2?"})}),
            event("gen_ai.choice", 80, **{"gen_ai.system": "az.ai.inference", "gen_ai.event.content": json.dumps(
                {"index": 0, "finish_reason": "stop", "message": {"content": "4"}})}),
        ]
        call = llm({"gen_ai.system": "az.ai.inference", "gen_ai.request.model": "gpt-4"}, events=events)
        assert call.provider == "azure.ai.inference"
        assert (call.system_instructions, call.input_text, call.output_text) == ("Be terse.", "2+2?", "4")
        assert call.finish_reasons == ["stop"]

    def test_per_message_span_events_with_plain_attributes(self) -> None:
        events = [event("gen_ai.user.message", 1, content="2+2?"),
                  event("gen_ai.choice", 80, index=0, finish_reason="stop")]
        call = llm({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4"}, events=events)
        assert (call.input_text, call.output_text) == ("2+2?", None)

    def test_per_message_log_records(self) -> None:
        """The same events as log records (body = AnyValue kvlist), as messages_from_events gets them."""
        events: list[tuple[str | None, dict[str, Any], Any]] = [
            ("gen_ai.system.message", {"gen_ai.system": "openai"}, {"content": "Be terse."}),
            ("gen_ai.user.message", {"gen_ai.system": "openai"}, {"content": "Weather in Paris?"}),
            ("gen_ai.assistant.message", {"gen_ai.system": "openai"},
             {"tool_calls": [{"id": "c1", "type": "function",
                              "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}),
            ("gen_ai.tool.message", {"gen_ai.system": "openai"}, {"id": "c1", "content": "sunny"}),
            ("gen_ai.choice", {"gen_ai.system": "openai"},
             {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Sunny."}}),
            ("unrelated.event", {}, {"content": "ignored"}),
        ]
        inputs, outputs, system = messages_from_events(events)
        inputs, in_system = split_system(inputs)
        assert system is None and in_system == "Be terse."
        assert render(inputs) == ('user: Weather in Paris?\nassistant: [tool_call get_weather({"city": "Paris"})]\n'
                                  "tool: sunny")
        assert render(outputs) == "Sunny." and outputs[0].finish_reason == "stop"

    def test_log_record_with_string_body(self) -> None:
        inputs, outputs, _ = messages_from_events([("gen_ai.user.message", {}, "plain body")])
        assert render(inputs) == "plain body" and outputs == []

    def test_details_log_record(self) -> None:
        attrs = {"gen_ai.system_instructions": [{"type": "text", "content": "Be terse."}],
                 "gen_ai.input.messages": [parts("user", "Hi")],
                 "gen_ai.output.messages": [parts("assistant", "Hello", finish_reason="stop")]}
        inputs, outputs, system = messages_from_events([("gen_ai.client.inference.operation.details", attrs, None)])
        assert (render(inputs), render(outputs), system) == ("Hi", "Hello", "Be terse.")


# =========================================================================== vLLM llm_request

VLLM_REQUEST = {
    "gen_ai.usage.prompt_tokens": 512,
    "gen_ai.usage.completion_tokens": 128,
    "gen_ai.request.max_tokens": 256,
    "gen_ai.request.top_p": 0.95,
    "gen_ai.request.temperature": 0.7,
    "gen_ai.response.model": "meta-llama/Llama-3.1-8B-Instruct",
    "gen_ai.request.id": "cmpl-4f2a",
    "gen_ai.request.n": 1,
    "gen_ai.usage.num_sequences": 1,
    "gen_ai.latency.time_in_queue": 0.012,
    "gen_ai.latency.time_to_first_token": 0.0423,
    "gen_ai.latency.e2e": 1.25,
    "gen_ai.latency.time_in_scheduler": 0.004,
    "gen_ai.latency.time_in_model_forward": 0.9,
    "gen_ai.latency.time_in_model_execute": 1.0,
    "gen_ai.latency.time_in_model_prefill": 0.03,
    "gen_ai.latency.time_in_model_decode": 1.19,
    "gen_ai.latency.time_in_model_inference": 1.22,
}


class TestVLLM:
    def test_llm_request_span(self) -> None:
        span = normalized(VLLM_REQUEST, name=vllm.SPAN_NAME, kind=2)
        call = span.llm
        assert call is not None
        assert (call.input_tokens, call.output_tokens, call.total_tokens) == (512, 128, 640)
        assert call.ttft_ms == pytest.approx(42.3)
        assert call.response_id == "cmpl-4f2a"
        # vLLM serves one model and only names the response model.
        assert call.response_model == call.request_model == "meta-llama/Llama-3.1-8B-Instruct"
        assert call.operation == "chat" and is_model_call(call)
        assert call.provider is None  # vLLM sends no provider attribute
        assert span.attributes["gen_ai.latency.e2e"] == 1.25  # the other latencies stay in the attributes

    def test_genai_ttft_wins_over_vllm_latency(self) -> None:
        call = llm({**VLLM_REQUEST, "gen_ai.response.time_to_first_chunk": 0.1})
        assert call.ttft_ms == pytest.approx(100.0)

    def test_genai_response_id_wins_over_request_id(self) -> None:
        assert llm({**VLLM_REQUEST, "gen_ai.response.id": "chatcmpl-1"}).response_id == "chatcmpl-1"


# =========================================================================== OpenLLMetry ≤0.47

OPENLLMETRY_047 = {
    "gen_ai.system": "OpenAI",
    "llm.request.type": "chat",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.request.max_tokens": 64,
    "llm.is_streaming": False,
    "llm.user": "u-9",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.response.id": "chatcmpl-77",
    "gen_ai.openai.api_base": "https://api.openai.com/v1/",
    "gen_ai.usage.prompt_tokens": 30,
    "gen_ai.usage.completion_tokens": 15,
    "llm.usage.total_tokens": 45,
    "gen_ai.usage.cache_read_input_tokens": 10,
    "traceloop.association.properties.session_id": "sess-3",
    "gen_ai.prompt.0.role": "system",
    "gen_ai.prompt.0.content": "Be terse.",
    "gen_ai.prompt.1.role": "user",
    "gen_ai.prompt.1.content": "What is OTLP?",
    "gen_ai.completion.0.role": "assistant",
    "gen_ai.completion.0.content": "A protocol.",
    "gen_ai.completion.0.finish_reason": "stop",
}


class TestOpenLLMetry:
    def test_indexed_attributes(self) -> None:
        call = llm(OPENLLMETRY_047, name="openai.chat")
        assert (call.provider, call.operation) == ("openai", "chat")
        assert (call.request_model, call.response_model) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
        assert (call.input_tokens, call.output_tokens, call.total_tokens, call.cached_input_tokens) == (30, 15, 45, 10)
        assert (call.system_instructions, call.input_text, call.output_text) == ("Be terse.", "What is OTLP?",
                                                                               "A protocol.")
        assert call.finish_reasons == ["stop"]
        assert (call.user_id, call.session_id, call.response_id) == ("u-9", "sess-3", "chatcmpl-77")
        assert call.server_address == "api.openai.com"

    @pytest.mark.parametrize(("system", "provider"), [("OpenAI", "openai"), ("Anthropic", "anthropic"),
                                                       ("MistralAI", "mistral_ai"), ("Azure", "azure.ai.openai"),
                                                       ("AWS", "aws.bedrock"), ("Ollama", "ollama")])
    def test_capitalised_systems(self, system: str, provider: str) -> None:
        assert llm({**OPENLLMETRY_047, "gen_ai.system": system}).provider == provider

    @pytest.mark.parametrize(("request_type", "operation"), [("chat", "chat"), ("completion", "text_completion"),
                                                             ("embedding", "embeddings")])
    def test_request_types(self, request_type: str, operation: str) -> None:
        assert llm({**OPENLLMETRY_047, "llm.request.type": request_type}).operation == operation

    def test_reported_total_is_kept(self) -> None:
        """A reported total is taken as is, never recomputed from input + output + cached."""
        assert llm({**OPENLLMETRY_047, "llm.usage.total_tokens": 44}).total_tokens == 44

    def test_several_choices_and_tool_calls(self) -> None:
        call = llm({
            "gen_ai.system": "openai", "llm.request.type": "chat",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": json.dumps([{"type": "text", "text": "Describe"},
                                                   {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]),
            "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "A cat.",
            "gen_ai.completion.0.finish_reason": "stop",
            "gen_ai.completion.1.role": "assistant", "gen_ai.completion.1.finish_reason": "tool_calls",
            "gen_ai.completion.1.tool_calls.0.id": "c1", "gen_ai.completion.1.tool_calls.0.name": "lookup",
            "gen_ai.completion.1.tool_calls.0.arguments": '{"q": "cat"}',
        })
        assert call.input_text == "Describe\n[image_url]"
        assert call.output_text == 'assistant: A cat.\nassistant: [tool_call lookup({"q": "cat"})]'
        assert call.finish_reasons == ["stop", "tool_calls"]

    def test_indices_sort_numerically(self) -> None:
        attrs: dict[str, Any] = {"gen_ai.system": "openai"}
        for i in range(12):
            attrs[f"gen_ai.prompt.{i}.role"] = "user" if i % 2 == 0 else "assistant"
            attrs[f"gen_ai.prompt.{i}.content"] = f"m{i}"
        assert llm(attrs).input_text == "\n".join(f"{'user' if i % 2 == 0 else 'assistant'}: m{i}" for i in range(12))

    def test_055_single_finish_reason_and_usage_names(self) -> None:
        call = llm({"gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat",
                    "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5, "gen_ai.usage.total_tokens": 15,
                    "gen_ai.usage.reasoning_tokens": 2, "gen_ai.response.finish_reason": "length",
                    "gen_ai.user": "u-1"})
        assert (call.total_tokens, call.reasoning_tokens) == (15, 2)
        assert (call.finish_reasons, call.user_id) == (["length"], "u-1")

    def test_table_names_its_era(self) -> None:
        assert openllmetry.TABLE.indexed_prompt == "gen_ai.prompt."


# =========================================================================== OpenInference

OPENINFERENCE_LLM = {
    "openinference.span.kind": "LLM",
    "llm.system": "openai",
    "llm.provider": "openai",
    "llm.model_name": "gpt-4o-2024-08-06",
    "llm.invocation_parameters": json.dumps({"model": "gpt-4o", "temperature": 0}),
    "llm.token_count.prompt": 100,
    "llm.token_count.completion": 20,
    "llm.token_count.total": 120,
    "llm.token_count.prompt_details.cache_read": 40,
    "llm.token_count.completion_details.reasoning": 5,
    "llm.finish_reason": "stop",
    "llm.cost.total": 0.00123,
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "Be terse.",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.contents.0.message_content.type": "text",
    "llm.input_messages.1.message.contents.0.message_content.text": "What is in this image?",
    "llm.input_messages.1.message.contents.1.message_content.type": "image",
    "llm.input_messages.1.message.contents.1.message_content.image.image.url": "https://x/cat.png",
    "llm.input_messages.1.message.contents.2.message_content.type": "text",
    "llm.input_messages.1.message.contents.2.message_content.text": "Be precise.",
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "A cat.",
    "input.value": json.dumps({"messages": [{"role": "user", "content": "not used: indexed messages win"}]}),
    "input.mime_type": "application/json",
    "session.id": "sess-1",
    "user.id": "u-1",
    "tag.tags": ["beta", "eu"],
}


class TestOpenInference:
    def test_llm_span(self) -> None:
        span = normalized(OPENINFERENCE_LLM, name="ChatCompletion", kind=1)
        call = span.llm
        assert call is not None
        assert (call.operation, call.provider) == ("chat", "openai")
        assert (call.request_model, call.response_model) == ("gpt-4o", "gpt-4o-2024-08-06")
        assert (call.input_tokens, call.output_tokens, call.total_tokens) == (100, 20, 120)
        assert (call.cached_input_tokens, call.reasoning_tokens) == (40, 5)
        assert call.finish_reasons == ["stop"]
        assert (call.cost_usd, call.cost_source) == (pytest.approx(0.00123), "reported")
        assert call.system_instructions == "Be terse."
        assert call.input_text == "What is in this image?\nBe precise."
        assert call.output_text == "A cat."
        assert (call.session_id, call.user_id) == ("sess-1", "u-1")
        assert span.tags == ["beta", "eu"]

    def test_request_model_name_wins_over_invocation_parameters(self) -> None:
        call = llm({**OPENINFERENCE_LLM, "llm.request.model_name": "gpt-4o-req"})
        assert call.request_model == "gpt-4o-req"

    def test_provider_wins_over_system(self) -> None:
        assert llm({**OPENINFERENCE_LLM, "llm.provider": "azure"}).provider == "azure.ai.openai"

    def test_many_content_parts_keep_their_order(self) -> None:
        attrs: dict[str, Any] = {"openinference.span.kind": "LLM", "llm.input_messages.0.message.role": "user"}
        for j in range(11):
            attrs[f"llm.input_messages.0.message.contents.{j}.message_content.text"] = f"p{j}"
        assert llm(attrs).input_text == "\n".join(f"p{j}" for j in range(11))

    def test_output_tool_calls(self) -> None:
        call = llm({"openinference.span.kind": "LLM", "llm.output_messages.0.message.role": "assistant",
                    "llm.output_messages.0.message.tool_calls.0.tool_call.id": "c1",
                    "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_weather",
                    "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}'})
        assert call.output_text == '[tool_call get_weather({"city": "Paris"})]'

    def test_input_value_plain_text_and_json(self) -> None:
        call = llm({"openinference.span.kind": "LLM", "input.value": "Tell me a joke", "input.mime_type": "text/plain",
                    "output.value": "No.", "output.mime_type": "text/plain"})
        assert (call.input_text, call.output_text) == ("Tell me a joke", "No.")
        # text/plain is text even when it looks like JSON
        call = llm({"openinference.span.kind": "LLM", "input.value": '{"a": 1}', "input.mime_type": "text/plain"})
        assert call.input_text == '{"a": 1}'
        request = {"model": "gpt-4o", "messages": [{"role": "system", "content": "Be terse."},
                                                    {"role": "user", "content": "Hi"}]}
        response = {"choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "Hello"}}]}
        call = llm({"openinference.span.kind": "LLM", "input.value": json.dumps(request),
                    "input.mime_type": "application/json", "output.value": json.dumps(response),
                    "output.mime_type": "application/json"})
        assert (call.system_instructions, call.input_text, call.output_text) == ("Be terse.", "Hi", "Hello")
        assert call.finish_reasons == ["stop"]

    def test_input_value_of_unknown_shape(self) -> None:
        """A chain's JSON input is its only content and is kept; on a model call it is a raw body and is not."""
        chain = llm({"openinference.span.kind": "CHAIN", "input.value": '{"question": "why?"}',
                     "output.value": '{"answer": "because"}'})
        assert (chain.operation, chain.input_text, chain.output_text) == ("chain", '{"question": "why?"}',
                                                                          '{"answer": "because"}')
        assert not is_model_call(chain)
        embedding = llm({"openinference.span.kind": "EMBEDDING", "embedding.model_name": "text-embedding-3-small",
                         "output.value": '{"data": [{"embedding": [0.1, 0.2]}]}'})
        assert embedding.output_text is None

    def test_retriever_span(self) -> None:
        call = llm({"openinference.span.kind": "RETRIEVER", "input.value": "refund policy",
                    "retrieval.documents.0.document.id": "d1", "retrieval.documents.0.document.score": 0.9,
                    "retrieval.documents.0.document.content": "Refunds within 30 days.",
                    "retrieval.documents.1.document.id": "d2",
                    "retrieval.documents.1.document.content": "Contact support.",
                    "retrieval.documents.1.document.metadata": '{"source": "faq"}'}, kind=1)
        assert call.operation == "retrieval" and not is_model_call(call)
        assert call.input_text == "refund policy"
        assert call.retrieval_context == ["Refunds within 30 days.", "Contact support."]

    def test_legacy_completion_and_embeddings(self) -> None:
        completion = llm({"openinference.span.kind": "LLM", "llm.model_name": "gpt-3.5-turbo-instruct",
                          "llm.prompts.0.prompt.text": "Say hi", "llm.choices.0.completion.text": "hi"})
        assert (completion.operation, completion.input_text, completion.output_text) == ("text_completion",
                                                                                         "Say hi", "hi")
        embedding = llm({"openinference.span.kind": "EMBEDDING", "embedding.model_name": "text-embedding-3-small",
                         "embedding.embeddings.0.embedding.text": "first",
                         "embedding.embeddings.0.embedding.vector": [0.1, 0.2],
                         "embedding.embeddings.1.embedding.text": "second",
                         "llm.token_count.prompt": 4})
        assert (embedding.operation, embedding.request_model, embedding.total_tokens) == (
            "embeddings", "text-embedding-3-small", 4)
        assert embedding.input_text == "user: first\nuser: second"

    def test_tags_as_json_string_and_merged_with_llm_monitor_tags(self) -> None:
        attrs = {"openinference.span.kind": "CHAIN", "tag.tags": '["a", "b"]', "llm_monitor.tags": ["b", "c"]}
        span = normalized(attrs, resource={"llm_monitor.tags": "r"})
        assert span.tags == ["r", "b", "c", "a"]

    def test_tag_that_only_looks_like_json(self) -> None:
        assert normalized({"tag.tags": "[draft"}).tags == ["[draft"]

    def test_table_keeps_cost_and_tags(self) -> None:
        assert openinference.TABLE.fields["reported_cost"] == ("llm.cost.total",)
        assert openinference.TABLE.tags == "tag.tags"


# =========================================================================== segments, tags, non-LLM spans

class TestSegmentsAndTags:
    def test_segment_from_resource_and_span(self) -> None:
        span = normalized({"gen_ai.request.model": "m", "llm_monitor.segment.tier": "pro",
                           "llm_monitor.segment.region": "us"},
                          resource={"llm_monitor.segment.region": "eu", "llm_monitor.segment.team": "search"})
        assert span.segment == {"region": "us", "tier": "pro", "team": "search"}  # span wins over resource

    def test_segment_from_options(self) -> None:
        options = NormalizeOptions({"region": ["cloud.region"], "plan": ["app.plan", "customer.plan"]})
        span = normalized({"customer.plan": "gold"}, options, resource={"cloud.region": "eu-west-1"})
        assert span.segment == {"region": "eu-west-1", "plan": "gold"}
        span = normalized({"cloud.region": "us-east-1"}, options, resource={"cloud.region": "eu-west-1"})
        assert span.segment == {"region": "us-east-1"}  # span attribute first, then resource
        span = normalized({"llm_monitor.segment.region": "explicit"}, options, resource={"cloud.region": "eu-west-1"})
        assert span.segment == {"region": "explicit"}  # an explicit label wins over the configured attribute

    def test_non_llm_spans(self) -> None:
        for attrs in ({"http.request.method": "GET", "url.path": "/"}, {"db.system": "postgresql"},
                      {"user.id": "u", "session.id": "s", "server.address": "x", "error.type": "500"}, {}):
            span = normalized({**attrs, "llm_monitor.segment.region": "eu", "llm_monitor.tags": ["t"]})
            assert span.llm is None
            assert span.segment == {"region": "eu"} and span.tags == ["t"]
        assert normalized({"http.request.method": "GET"}).segment is None
        assert not is_model_call(None)


# =========================================================================== precedence

class TestPrecedence:
    def test_current_beats_legacy_openllmetry_and_openinference(self) -> None:
        attrs = {
            **OPENINFERENCE_LLM, **OPENLLMETRY_047, **GENAI_CURRENT,
            "gen_ai.system": "Anthropic", "gen_ai.usage.total_tokens": 1501,
        }
        call = llm(attrs)
        assert call.provider == "openai"  # gen_ai.provider.name over gen_ai.system over llm.provider
        assert (call.input_tokens, call.output_tokens) == (1200, 300)  # not prompt_tokens, not token_count
        assert call.total_tokens == 1501  # OpenLLMetry's reported total over OpenInference's
        assert call.cached_input_tokens == 200 and call.reasoning_tokens == 50
        assert call.request_model == "gpt-4o" and call.response_model == "gpt-4o-2024-08-06"
        assert call.input_text == "Weather in Paris?"  # gen_ai.input.messages over indexed attributes
        assert call.output_text == "Il fait beau."
        assert call.session_id == "conv-7"  # gen_ai.conversation.id over traceloop / session.id
        assert call.cost_usd == pytest.approx(0.00123)  # only OpenInference reports a cost

    def test_legacy_beats_openinference(self) -> None:
        call = llm({**OPENINFERENCE_LLM, "gen_ai.system": "cohere", "gen_ai.usage.prompt_tokens": 7})
        assert (call.provider, call.input_tokens) == ("cohere", 7)

    def test_empty_values_fall_through(self) -> None:
        call = llm({"gen_ai.provider.name": "", "gen_ai.system": "openai", "gen_ai.usage.input_tokens": None,
                    "gen_ai.usage.prompt_tokens": 3, "openinference.span.kind": "UNKNOWN", "llm.request.type": "chat"})
        assert (call.provider, call.input_tokens, call.operation) == ("openai", 3, "chat")

    def test_empty_message_attribute_does_not_hide_other_content(self) -> None:
        call = llm({"gen_ai.input.messages": "", "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "Hi"})
        assert call.input_text == "Hi"

    def test_legacy_prompt_beats_indexed_attributes(self) -> None:
        call = llm({"gen_ai.prompt": json.dumps([{"role": "user", "content": "legacy"}]),
                    "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "indexed"})
        assert call.input_text == "legacy"

    def test_openllmetry_indexed_content_beats_openinference(self) -> None:
        call = llm({**OPENINFERENCE_LLM, "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "from OpenLLMetry"})
        assert call.input_text == "from OpenLLMetry"


# =========================================================================== bad values

class TestBadValues:
    @pytest.mark.parametrize(("value", "expected"), [
        ("26", 26), (" 26 ", 26), (26.0, 26), (2**31 - 1, 2**31 - 1), (0, 0),
        ("abc", None), ("", None), ("12.5", None), ("1e3", None), ("-5", None), (26.5, None),
        (-1, None), (2**31, None), (2**63, None), (True, None), ([26], None), ({"n": 1}, None),
        (math.nan, None), (math.inf, None), ("٣", None),
    ])
    def test_token_counts(self, value: Any, expected: int | None) -> None:
        call = llm({"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": value,
                    "gen_ai.usage.output_tokens": 1})
        assert call.input_tokens == expected
        assert call.total_tokens == (None if expected is None or expected + 1 >= 2**31 else expected + 1)

    def test_sum_beyond_the_column_range_is_dropped(self) -> None:
        call = llm({"gen_ai.usage.input_tokens": 2**31 - 1, "gen_ai.usage.output_tokens": 10})
        assert (call.input_tokens, call.output_tokens, call.total_tokens) == (2**31 - 1, 10, None)

    @pytest.mark.parametrize("value", ["-0.1", -1.0, math.nan, math.inf, "soon", [0.1], True])
    def test_ttft_and_cost(self, value: Any) -> None:
        call = llm({"gen_ai.operation.name": "chat", "gen_ai.response.time_to_first_chunk": value,
                    "llm.cost.total": value})
        assert call.ttft_ms is None and call.cost_usd is None and call.cost_source is None

    def test_numeric_strings_for_ttft_and_cost(self) -> None:
        call = llm({"gen_ai.operation.name": "chat", "gen_ai.response.time_to_first_chunk": "0.5",
                    "llm.cost.total": "0.25"})
        assert (call.ttft_ms, call.cost_usd) == (500.0, 0.25)

    @pytest.mark.parametrize("raw", ['[{"role": "user", "parts": [', "{not json", "[", '{"role": "user"', "[1, 2"])
    def test_malformed_json_messages_are_kept_as_text(self, raw: str) -> None:
        call = llm({"gen_ai.operation.name": "chat", "gen_ai.input.messages": raw, "gen_ai.output.messages": raw,
                    "gen_ai.system_instructions": raw})
        assert (call.input_text, call.output_text, call.system_instructions) == (raw, raw, raw)

    @pytest.mark.parametrize("value", [42, 4.2, True, [1, None, "text", {"role": 5, "parts": "x"}],
                                       {"role": "user"}, [{"parts": [None, 3, {"type": "blob"}]}],
                                       json.dumps([{"role": None, "content": {"weird": ["shape"]}}]),
                                       "[" * 5000 + "]" * 5000, json.dumps({"parts": {"not": "a list"}})])
    def test_odd_message_shapes_do_not_raise(self, value: Any) -> None:
        call = llm({"gen_ai.operation.name": "chat", "gen_ai.input.messages": value, "gen_ai.output.messages": value})
        assert call.input_text is None or isinstance(call.input_text, str)

    def test_unhashable_and_wrongly_typed_values_do_not_raise(self) -> None:
        call = llm({"openinference.span.kind": ["LLM"], "llm.request.type": {"a": 1}, "gen_ai.system": ["openai"],
                    "gen_ai.request.model": ["gpt-4o"], "gen_ai.response.finish_reasons": 3,
                    "tag.tags": 5, "llm.invocation_parameters": "{broken", "gen_ai.openai.api_base": "http://[::1"})
        assert call.operation is None and call.provider is None and call.request_model is None
        assert call.finish_reasons is None and call.server_address is None

    def test_odd_indexed_keys_do_not_raise(self) -> None:
        call = llm({"gen_ai.prompt.².content": "superscript", "gen_ai.prompt.x.content": "letter",
                    "gen_ai.prompt.0": "no rest", "llm.input_messages.0.message.contents.².message_content.text": "t",
                    "gen_ai.prompt.1.content": "kept"})
        assert call.input_text == "kept"

    def test_finish_reasons_as_json_string(self) -> None:
        assert llm({"gen_ai.response.finish_reasons": '["stop", "length"]'}).finish_reasons == ["stop", "length"]

    def test_server_address_from_urls(self) -> None:
        assert llm({"gen_ai.openai.api_base": "https://user:pw@API.example.com:8443/v1"}).server_address == (
            "api.example.com")
        assert llm({"gen_ai.openai.api_base": "http://[::1]:8000/v1/"}).server_address == "::1"
        assert llm({"gen_ai.request.model": "m", "server.address": "10.0.0.5"}).server_address == "10.0.0.5"

    def test_huge_content(self) -> None:
        text = "x" * 2_000_000
        started = time.perf_counter()
        call = llm({"gen_ai.operation.name": "chat", "gen_ai.input.messages": json.dumps([parts("user", text)]),
                    "gen_ai.output.messages": text})
        assert call.input_text == text and call.output_text == text
        assert time.perf_counter() - started < 2.0

    def test_events_without_times_or_names(self) -> None:
        call = llm({"gen_ai.operation.name": "chat"}, events=[{"name": None}, {"attributes": None},
                                                              {"name": "gen_ai.content.completion.chunk"}])
        assert call.ttft_ms == 0.0  # an event without a time cannot be before the span start

    def test_table_module_for_vllm_is_wired(self) -> None:
        assert vllm.TABLE in CONVENTIONS and genai.LEGACY in CONVENTIONS
