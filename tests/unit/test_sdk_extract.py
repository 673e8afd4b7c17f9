"""monitor.sdk.extract: LLM responses, streams and call arguments → GenAI fields, for every shape it claims."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
from openai.types import Completion, CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.responses import Response, ResponseCompletedEvent, ResponseTextDeltaEvent

from monitor.sdk.extract import (
    Extracted,
    StreamAccumulator,
    extract_response,
    input_messages,
    system_instructions,
)

USAGE = {"prompt_tokens": 42, "completion_tokens": 17, "total_tokens": 59,
         "prompt_tokens_details": {"cached_tokens": 32}, "completion_tokens_details": {"reasoning_tokens": 5}}


def text_message(text: str, reason: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "parts": [{"type": "text", "content": text}]}
    if reason is not None:
        message["finish_reason"] = reason
    return message


def chat_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": "chatcmpl-abc", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": "Paris is the capital."}}],
        "usage": USAGE,
    }
    payload.update(overrides)
    return payload


# --- OpenAI-compatible chat completions ---------------------------------------------------------


@pytest.mark.parametrize("make", [ChatCompletion.model_validate, dict], ids=["openai-object", "dict"])
def test_chat_completion(make: Any) -> None:
    found = extract_response(make(chat_payload()))
    assert found == Extracted(
        model="gpt-4o-2024-08-06", response_id="chatcmpl-abc", input_tokens=42, output_tokens=17,
        cached_input_tokens=32, reasoning_tokens=5, finish_reasons=["stop"], output_text="Paris is the capital.",
        output_messages=[text_message("Paris is the capital.", "stop")])


@pytest.mark.parametrize("make", [ChatCompletion.model_validate, dict], ids=["openai-object", "dict"])
def test_chat_completion_tool_call_and_several_choices(make: Any) -> None:
    tool_call = {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    payload = chat_payload(
        usage={"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
        choices=[{"index": 0, "finish_reason": "tool_calls",
                  "message": {"role": "assistant", "content": None, "tool_calls": [tool_call]}},
                 {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "It is"}}])
    found = extract_response(make(payload))
    assert found is not None
    assert (found.input_tokens, found.output_tokens) == (10, 20)
    assert found.cached_input_tokens is None and found.reasoning_tokens is None
    assert found.finish_reasons == ["tool_calls", "length"]
    assert found.output_text == "It is"
    assert found.output_messages == [
        {"role": "assistant", "finish_reason": "tool_calls",
         "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}]},
        text_message("It is", "length"),
    ]


@pytest.mark.parametrize("make", [ChatCompletion.model_validate, dict], ids=["openai-object", "dict"])
def test_vllm_chat_completion_with_reasoning_content(make: Any) -> None:
    """vLLM/SGLang return ``reasoning_content``: an extra field the openai models keep in ``__pydantic_extra__``."""
    usage = {"prompt_tokens": 9, "completion_tokens": 30, "total_tokens": 39}
    payload = chat_payload(model="Qwen/Qwen3-8B", id="chatcmpl-vllm", usage=usage,
                           choices=[{"index": 0, "finish_reason": "stop", "stop_reason": None,
                                     "message": {"role": "assistant", "content": "4", "reasoning_content": "2+2=4"}}])
    found = extract_response(make(payload))
    assert found is not None
    assert (found.model, found.response_id, found.input_tokens, found.output_tokens) == ("Qwen/Qwen3-8B",
                                                                                         "chatcmpl-vllm", 9, 30)
    assert found.output_text == "4"
    assert found.output_messages == [{"role": "assistant", "finish_reason": "stop",
                                      "parts": [{"type": "reasoning", "content": "2+2=4"},
                                                {"type": "text", "content": "4"}]}]


def test_refusal_is_the_output_when_there_is_no_content() -> None:
    payload = chat_payload(choices=[{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": None, "refusal": "I can't."}}])
    found = extract_response(ChatCompletion.model_validate(payload))
    assert found is not None and found.output_text == "I can't."


@pytest.mark.parametrize("make", [Completion.model_validate, dict], ids=["openai-object", "dict"])
def test_legacy_completion(make: Any) -> None:
    payload = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "gpt-3.5-turbo-instruct",
               "choices": [{"index": 0, "text": " world", "finish_reason": "length", "logprobs": None}],
               "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
    found = extract_response(make(payload))
    assert found == Extracted(model="gpt-3.5-turbo-instruct", response_id="cmpl-1", input_tokens=3, output_tokens=1,
                              finish_reasons=["length"], output_text=" world",
                              output_messages=[text_message(" world", "length")])


@pytest.mark.parametrize("make", [CreateEmbeddingResponse.model_validate, dict], ids=["openai-object", "dict"])
def test_embeddings(make: Any) -> None:
    payload = {"object": "list", "model": "text-embedding-3-small",
               "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
               "usage": {"prompt_tokens": 8, "total_tokens": 8}}
    assert extract_response(make(payload)) == Extracted(model="text-embedding-3-small", input_tokens=8)


# --- OpenAI Responses API -----------------------------------------------------------------------


def responses_payload() -> dict[str, Any]:
    return {
        "id": "resp_1", "object": "response", "created_at": 1.0, "model": "gpt-4.1-2025-04-14", "status": "completed",
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Think."}]},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "Hello!", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_9", "name": "lookup", "arguments": "{}",
             "status": "completed"},
        ],
        "usage": {"input_tokens": 20, "output_tokens": 7, "total_tokens": 27,
                  "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": 2}},
    }


@pytest.mark.parametrize("make", [Response.model_validate, dict], ids=["openai-object", "dict"])
def test_responses_api(make: Any) -> None:
    found = extract_response(make(responses_payload()))
    assert found == Extracted(
        model="gpt-4.1-2025-04-14", response_id="resp_1", input_tokens=20, output_tokens=7, cached_input_tokens=4,
        reasoning_tokens=2, finish_reasons=["stop"], output_text="Hello!",
        output_messages=[{"role": "assistant", "finish_reason": "stop", "parts": [
            {"type": "reasoning", "content": "Think."}, {"type": "text", "content": "Hello!"},
            {"type": "tool_call", "id": "call_9", "name": "lookup", "arguments": "{}"}]}])


def test_incomplete_responses_api_reports_the_reason() -> None:
    payload = responses_payload() | {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    found = extract_response(payload)
    assert found is not None and found.finish_reasons == ["max_output_tokens"]


# --- TGI, Ollama, vLLM --------------------------------------------------------------------------


def test_tgi_generate_with_prefill() -> None:
    payload = {"generated_text": " a test", "details": {
        "finish_reason": "length", "generated_tokens": 20, "seed": None,
        "prefill": [{"id": 1, "text": "<s>", "logprob": None}, {"id": 2, "text": "This", "logprob": -1.0}],
        "tokens": []}}
    assert extract_response(payload) == Extracted(input_tokens=2, output_tokens=20, finish_reasons=["length"],
                                                  output_text=" a test",
                                                  output_messages=[text_message(" a test", "length")])


@dataclass
class TGIDetails:  # huggingface_hub's TextGenerationOutputDetails, as attributes
    finish_reason: str
    generated_tokens: int
    prefill: list[Any] = field(default_factory=list)


@dataclass
class TGIOutput:
    generated_text: str
    details: TGIDetails | None = None


def test_tgi_list_response_with_details() -> None:
    """The HF Inference API answers ``/generate`` with a list."""
    found = extract_response([{"generated_text": "ok", "details": {"finish_reason": "stop_sequence",
                                                                   "generated_tokens": 4, "prefill": []}}])
    assert found == Extracted(output_tokens=4, finish_reasons=["stop_sequence"], output_text="ok",
                              output_messages=[text_message("ok", "stop_sequence")])


def test_tgi_generate_object_without_prefill_has_no_input_count() -> None:
    found = extract_response(TGIOutput("Hi", TGIDetails("eos_token", 3)))
    assert found == Extracted(output_tokens=3, finish_reasons=["eos_token"], output_text="Hi",
                              output_messages=[text_message("Hi", "eos_token")])


def test_ollama_chat() -> None:
    payload = {"model": "llama3.2", "created_at": "2024-01-01T00:00:00Z", "done": True, "done_reason": "stop",
               "message": {"role": "assistant", "content": "Hello", "thinking": "hmm",
                           "tool_calls": [{"function": {"name": "add", "arguments": {"a": 1}}}]},
               "total_duration": 1, "prompt_eval_count": 26, "eval_count": 12}
    assert extract_response(payload) == Extracted(
        model="llama3.2", input_tokens=26, output_tokens=12, finish_reasons=["stop"], output_text="Hello",
        output_messages=[{"role": "assistant", "finish_reason": "stop", "parts": [
            {"type": "reasoning", "content": "hmm"}, {"type": "text", "content": "Hello"},
            {"type": "tool_call", "name": "add", "arguments": {"a": 1}}]}])


def test_ollama_generate_and_embed() -> None:
    generate = {"model": "llama3.2", "response": "Blue.", "done": True, "done_reason": "length", "context": [1, 2],
                "prompt_eval_count": 5, "eval_count": 2}
    assert extract_response(generate) == Extracted(model="llama3.2", input_tokens=5, output_tokens=2,
                                                   finish_reasons=["length"], output_text="Blue.",
                                                   output_messages=[text_message("Blue.", "length")])
    embed = {"model": "all-minilm", "embeddings": [[0.1, 0.2]], "total_duration": 1, "prompt_eval_count": 4}
    assert extract_response(embed) == Extracted(model="all-minilm", input_tokens=4)


class CompletionOutput:  # vLLM's classes are plain objects with attributes
    def __init__(self, index: int, text: str, token_ids: list[int], finish_reason: str | None) -> None:
        self.index, self.text, self.token_ids, self.finish_reason = index, text, token_ids, finish_reason
        self.cumulative_logprob = None
        self.stop_reason = None


class RequestOutput:
    def __init__(self, request_id: str, prompt_ids: list[int], outputs: list[CompletionOutput],
                 cached: int | None = None) -> None:
        self.request_id, self.prompt, self.prompt_token_ids, self.outputs = request_id, "p", prompt_ids, outputs
        self.finished = True
        self.num_cached_tokens = cached


def test_vllm_request_output() -> None:
    request = RequestOutput("0", [1, 2, 3, 4], [CompletionOutput(0, " yes", [7, 8, 2], "stop")], cached=2)
    assert extract_response(request) == Extracted(
        response_id="0", input_tokens=4, output_tokens=3, cached_input_tokens=2, finish_reasons=["stop"],
        output_text=" yes", output_messages=[text_message(" yes", "stop")])


def test_vllm_generate_list_sums_requests() -> None:
    requests = [RequestOutput("0", [1, 2], [CompletionOutput(0, "a", [5], "length"),
                                            CompletionOutput(1, "b", [6, 7], "stop")]),
                RequestOutput("1", [1, 2, 3], [CompletionOutput(0, "c", [9, 9, 9], "stop")])]
    found = extract_response(requests)
    assert found is not None
    assert (found.input_tokens, found.output_tokens, found.response_id) == (5, 6, None)
    assert found.finish_reasons == ["length", "stop", "stop"]
    assert found.output_text == "a\nb\nc"
    assert [m["parts"][0]["content"] for m in found.output_messages or []] == ["a", "b", "c"]


# --- transformers ------------------------------------------------------------------------------


def test_pipeline_output() -> None:
    found = extract_response([{"generated_text": "Once upon a time"}])
    assert found == Extracted(output_text="Once upon a time", output_messages=[text_message("Once upon a time", None)])
    batched = extract_response([[{"generated_text": "a"}], [{"generated_text": "b"}]])
    assert batched is not None and batched.output_text == "a\nb"


def test_chat_pipeline_output_takes_the_new_turn() -> None:
    conversation = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    found = extract_response([{"generated_text": conversation}])
    assert found is not None and found.output_text == "Hello!"


class FakeTokenizer:
    """Enough of a transformers tokenizer: ids 0 pad, 1 eos, 2 bos; word i is ``w{i}``."""

    name_or_path = "org/tiny-model"
    pad_token_id = 0
    eos_token_id = 1

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return " ".join(f"w{i}" for i in ids if not (skip_special_tokens and i < 3))


def test_generate_token_ids_with_tokenizer_decoder_only() -> None:
    """A batch: left-padded prompts; row 0 stops at eos then pads, row 1 runs to the length limit."""
    prompts = [[0, 2, 10, 11], [2, 12, 13, 14]]
    sequences = [[0, 2, 10, 11, 20, 21, 1, 0], [2, 12, 13, 14, 30, 31, 32, 33]]
    found = extract_response(sequences, FakeTokenizer(), prompts)
    assert found == Extracted(
        model="org/tiny-model", input_tokens=7, output_tokens=7, finish_reasons=["stop", "length"],
        output_text="w20 w21\nw30 w31 w32 w33",
        output_messages=[text_message("w20 w21", "stop"), text_message("w30 w31 w32 w33", "length")])


def test_generate_token_ids_encoder_decoder() -> None:
    """Encoder-decoder output does not repeat the prompt; it starts with the decoder start token."""
    found = extract_response([[0, 40, 41, 1, 0]], FakeTokenizer(), [[50, 51, 52, 1]])
    assert found is not None
    assert (found.input_tokens, found.output_tokens, found.output_text) == (4, 3, "w40 w41")


def test_generate_token_ids_batch_encoding_input_ids() -> None:
    found = extract_response([[2, 10, 20, 1]], FakeTokenizer(), {"input_ids": [[2, 10]], "attention_mask": [[1, 1]]})
    assert found is not None and (found.input_tokens, found.output_tokens, found.output_text) == (2, 2, "w20")


def test_generate_token_ids_without_tokenizer_counts_only() -> None:
    found = extract_response([[2, 10, 11, 20, 21, 22]], None, [[2, 10, 11]])
    assert found == Extracted(input_tokens=3, output_tokens=3)


def test_generate_pad_id_inside_the_text_is_a_token() -> None:
    """Only trailing pads are padding; with pad == eos, the first of them is the eos that ended the row."""

    class PadIsEos(FakeTokenizer):
        eos_token_id = 0

    found = extract_response([[2, 10, 20, 21, 0, 0, 0]], PadIsEos(), [[2, 10]])
    assert found is not None
    assert (found.output_tokens, found.finish_reasons, found.output_text) == (3, ["stop"], "w20 w21")
    found = extract_response([[2, 10, 20, 0, 21, 1, 0, 0]], FakeTokenizer(), [[2, 10]])
    assert found is not None and (found.output_tokens, found.finish_reasons) == (4, ["stop"])


class FakeTensor:
    """Duck-typed tensor (``tolist``, ``shape``, ``dtype``), as torch and numpy arrays are."""

    def __init__(self, rows: list[list[Any]], dtype: str = "torch.int64") -> None:
        self.rows, self.dtype, self.shape = rows, dtype, (len(rows), len(rows[0]))

    def tolist(self) -> list[list[Any]]:
        return self.rows


def test_generate_output_with_scores_and_no_input_ids() -> None:
    """``GenerateOutput`` is a dict subclass; without input_ids the prompt is unknown, but ``scores`` counts steps."""
    output = OrderedDict(sequences=FakeTensor([[2, 10, 20, 21, 1]]), scores=("s1", "s2", "s3"))
    found = extract_response(output, FakeTokenizer())
    assert found is not None
    assert (found.input_tokens, found.output_tokens, found.finish_reasons) == (None, 3, ["stop"])
    assert found.output_text == "w10 w20 w21"  # the whole sequence, prompt included: nothing tells them apart


def test_float_tensors_are_not_token_ids() -> None:
    assert extract_response(FakeTensor([[0.5, 0.25]], dtype="torch.float32"), FakeTokenizer(), [[1]]) is None


def test_torch_generate_output() -> None:
    torch = pytest.importorskip("torch")
    prompts = torch.tensor([[0, 2, 10, 11], [2, 12, 13, 14]])
    sequences = torch.tensor([[0, 2, 10, 11, 20, 21, 1, 0], [2, 12, 13, 14, 30, 31, 32, 33]])
    found = extract_response(sequences, FakeTokenizer(), prompts)
    assert found is not None
    assert (found.input_tokens, found.output_tokens) == (7, 7)
    assert found.output_text == "w20 w21\nw30 w31 w32 w33"
    assert found.finish_reasons == ["stop", "length"]
    counts = extract_response(sequences, None, prompts)
    assert counts is not None and (counts.input_tokens, counts.output_tokens) == (8, 8)  # no pad id: counts padding
    assert extract_response(torch.rand(2, 3), FakeTokenizer(), prompts) is None


def test_transformers_generate_output() -> None:
    """A real ``GenerateDecoderOnlyOutput`` from a tiny random GPT-2 and a real fast tokenizer, batched and padded."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"<pad>": 0, "</s>": 1, "<s>": 2, **{f"w{i}": i for i in range(3, 40)}}
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<pad>"))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>",
                                                     bos_token="<s>", padding_side="left")
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=40, eos_token_id=1, pad_token_id=0)
    model = transformers.GPT2LMHeadModel(config).eval()
    inputs = tokenizer(["w5 w6 w7", "w8"], return_tensors="pt", padding=True)
    output = model.generate(**inputs, max_new_tokens=4, do_sample=False, return_dict_in_generate=True,
                            bad_words_ids=[[0], [1], [2]])  # no specials: both rows run to the limit
    found = extract_response(output, tokenizer, inputs)
    assert found is not None
    assert (found.input_tokens, found.output_tokens, found.finish_reasons) == (4, 8, ["length", "length"])
    expected = tokenizer.batch_decode(output.sequences[:, 3:], skip_special_tokens=True)
    assert found.output_text == "\n".join(expected)


# --- streams ------------------------------------------------------------------------------------


def chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini-2024-07-18",
            "choices": choices, "usage": usage}


def delta(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"index": 0, "delta": {"content": content, **extra}, "finish_reason": finish, "logprobs": None}


def stream_chunks() -> list[dict[str, Any]]:
    return [
        chunk([delta("", role="assistant")]),
        chunk([delta("Let me ")]),
        chunk([delta("check.")]),
        chunk([delta(tool_calls=[{"index": 0, "id": "call_7", "type": "function",
                                  "function": {"name": "get_weather", "arguments": ""}}])]),
        chunk([delta(tool_calls=[{"index": 0, "function": {"arguments": '{"city": '}}])]),
        chunk([delta(tool_calls=[{"index": 0, "function": {"arguments": '"Paris"}'}}])]),
        chunk([delta(finish="tool_calls")]),
        chunk([], usage={"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62,
                         "prompt_tokens_details": {"cached_tokens": 0}}),
    ]


@pytest.mark.parametrize("make", [ChatCompletionChunk.model_validate, dict], ids=["openai-object", "dict"])
def test_chat_completion_stream(make: Any) -> None:
    acc = StreamAccumulator()
    for item in stream_chunks():
        acc.add(make(item))
    assert acc.result() == Extracted(
        model="gpt-4o-mini-2024-07-18", response_id="chatcmpl-s", input_tokens=50, output_tokens=12,
        cached_input_tokens=0, finish_reasons=["tool_calls"], output_text="Let me check.",
        output_messages=[{"role": "assistant", "finish_reason": "tool_calls", "parts": [
            {"type": "text", "content": "Let me check."},
            {"type": "tool_call", "id": "call_7", "name": "get_weather", "arguments": '{"city": "Paris"}'}]}])


def test_stream_with_several_choices_and_no_usage() -> None:
    acc = StreamAccumulator()
    for item in ([{"index": 1, "delta": {"content": "B"}, "finish_reason": None},
                  {"index": 0, "delta": {"content": "A"}, "finish_reason": None}],
                 [{"index": 0, "delta": {"reasoning_content": "r"}, "finish_reason": "stop"},
                  {"index": 1, "delta": {}, "finish_reason": "length"}]):
        acc.add(chunk(item))
    found = acc.result()
    assert (found.input_tokens, found.output_tokens) == (None, None)
    assert found.output_text == "A\nB" and found.finish_reasons == ["stop", "length"]
    assert found.output_messages is not None
    assert found.output_messages[0]["parts"] == [{"type": "reasoning", "content": "r"},
                                                 {"type": "text", "content": "A"}]


def test_stream_tool_calls_without_index() -> None:
    acc = StreamAccumulator()
    for call in ({"id": "a", "function": {"name": "f", "arguments": "{"}}, {"function": {"arguments": "}"}},
                 {"id": "b", "function": {"name": "g", "arguments": "[]"}}):
        acc.add(chunk([delta(tool_calls=[call])]))
    parts = (acc.result().output_messages or [{}])[0]["parts"]
    assert parts == [{"type": "tool_call", "id": "a", "name": "f", "arguments": "{}"},
                     {"type": "tool_call", "id": "b", "name": "g", "arguments": "[]"}]


def test_legacy_completion_stream() -> None:
    acc = StreamAccumulator()
    for text, finish in (("Hel", None), ("lo", "stop")):
        acc.add({"id": "cmpl-s", "object": "text_completion", "created": 1, "model": "m",
                 "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}]})
    found = acc.result()
    assert (found.output_text, found.finish_reasons, found.model) == ("Hello", ["stop"], "m")


def test_tgi_generate_stream() -> None:
    acc = StreamAccumulator()
    acc.add({"index": 1, "token": {"id": 5, "text": "Hel", "logprob": -0.1, "special": False},
             "generated_text": None, "details": None})
    acc.add({"index": 2, "token": {"id": 6, "text": "lo", "logprob": -0.1, "special": False},
             "generated_text": None, "details": None})
    acc.add({"index": 3, "token": {"id": 2, "text": "</s>", "logprob": -0.1, "special": True},
             "generated_text": "Hello", "details": {"finish_reason": "eos_token", "generated_tokens": 3, "seed": None,
                                                    "input_length": 7}})
    assert acc.result() == Extracted(input_tokens=7, output_tokens=3, finish_reasons=["eos_token"],
                                     output_text="Hello", output_messages=[text_message("Hello", "eos_token")])


def test_ollama_chat_stream() -> None:
    acc = StreamAccumulator()
    acc.add({"model": "llama3.2", "created_at": "t", "message": {"role": "assistant", "content": "Hi"}, "done": False})
    acc.add({"model": "llama3.2", "created_at": "t", "message": {"role": "assistant", "content": " there"},
             "done": False})
    acc.add({"model": "llama3.2", "created_at": "t", "message": {"role": "assistant", "content": ""}, "done": True,
             "done_reason": "stop", "prompt_eval_count": 8, "eval_count": 3})
    assert acc.result() == Extracted(model="llama3.2", input_tokens=8, output_tokens=3, finish_reasons=["stop"],
                                     output_text="Hi there", output_messages=[text_message("Hi there", "stop")])


def test_responses_api_stream() -> None:
    acc = StreamAccumulator()
    acc.add(ResponseTextDeltaEvent.model_validate({"type": "response.output_text.delta", "delta": "Hel",
                                                   "item_id": "msg_1", "output_index": 0, "content_index": 0,
                                                   "sequence_number": 1, "logprobs": []}))
    assert acc.result().output_text == "Hel"  # a stream cut short still has its text
    acc.add(ResponseCompletedEvent.model_validate({"type": "response.completed", "sequence_number": 2,
                                                   "response": responses_payload()}))
    found = acc.result()
    assert (found.response_id, found.input_tokens, found.output_text) == ("resp_1", 20, "Hello!")


def test_vllm_cumulative_stream_and_text_pieces() -> None:
    acc = StreamAccumulator()
    acc.add(RequestOutput("r", [1, 2], [CompletionOutput(0, "a", [5], None)]))
    acc.add(RequestOutput("r", [1, 2], [CompletionOutput(0, "ab", [5, 6], "stop")]))
    found = acc.result()
    assert (found.output_text, found.output_tokens, found.input_tokens) == ("ab", 2, 2)

    pieces = StreamAccumulator()  # transformers TextIteratorStreamer yields strings
    for piece in ("Once", " upon", "", " a time"):
        pieces.add(piece)
    assert pieces.result() == Extracted(output_text="Once upon a time",
                                        output_messages=[text_message("Once upon a time", None)])


def test_empty_and_junk_streams() -> None:
    assert StreamAccumulator().result() == Extracted()
    acc = StreamAccumulator()
    for junk in (None, 3, b"x", object(), {"foo": 1}, mock.MagicMock()):
        acc.add(junk)
    assert acc.result() == Extracted()


# --- not responses ------------------------------------------------------------------------------


class Exploding:
    @property
    def choices(self) -> Any:
        raise RuntimeError("boom")


@pytest.mark.parametrize("value", [
    None, 0, 3.5, True, "plain text", b"bytes", object(), Exploding(), mock.Mock(), mock.MagicMock(),
    {}, {"foo": 1}, {"question": "2+2?", "choices": ["3", "4"]}, {"choices": "x", "model": "m"},
    {"data": [1, 2]}, {"output": "x"}, {"status": "ok", "output": [1]},
    [], [1, 2, 3], [[1, 2], [3]], ["a", "b"], [{"a": 1}], (1, 2),
    {"model": "m", "done": "yes"}, {"sequences": [[0.5]]},
], ids=repr)
def test_unrecognised_values_give_none(value: Any) -> None:
    assert extract_response(value) is None


def test_chat_completion_objects_in_a_list_are_not_one_response() -> None:
    assert extract_response([ChatCompletion.model_validate(chat_payload())]) is None


# --- inputs -------------------------------------------------------------------------------------


def test_input_messages_openai_list() -> None:
    arguments = {"model": "gpt-4o", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
                                     {"type": "input_audio", "input_audio": {"data": "AAA=", "format": "wav"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "cat"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        {"role": "user", "content": "Thanks", "name": "bob"},
    ]}
    assert input_messages(arguments) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [
            {"type": "text", "content": "What is this?"},
            {"type": "uri", "modality": "image", "uri": "https://x/cat.png"},
            {"type": "blob", "modality": "audio", "mime_type": "audio/wav", "content": "AAA="}]},
        {"role": "assistant", "parts": [
            {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": '{"q": "cat"}'}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "a cat"}]},
        {"role": "user", "parts": [{"type": "text", "content": "Thanks"}], "name": "bob"},
    ]


def test_input_messages_objects() -> None:
    """A previous response's message object appended to the history, and LangChain-style ``type`` messages."""
    previous = ChatCompletionMessage.model_validate({"role": "assistant", "content": "Hi!"})

    @dataclass
    class HumanMessage:
        content: str
        type: str = "human"

    found = input_messages({"messages": [HumanMessage("Hello"), previous]})
    assert found == [{"role": "user", "parts": [{"type": "text", "content": "Hello"}]},
                     {"role": "assistant", "parts": [{"type": "text", "content": "Hi!"}]}]


def test_input_messages_responses_api_items() -> None:
    found = input_messages({"input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
        {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
    ]})
    assert found == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "weather", "arguments": "{}"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "sunny"}]},
    ]


@pytest.mark.parametrize("key", ["prompt", "inputs", "input", "text", "query", "question"])
def test_input_messages_prompt_strings(key: str) -> None:
    assert input_messages({"temperature": 0.1, key: "Hi"}) == [{"role": "user", "parts": [{"type": "text",
                                                                                            "content": "Hi"}]}]


def test_input_messages_prompt_batch_and_kwargs() -> None:
    assert input_messages({"prompts": ["a", "b"]}) == [{"role": "user", "parts": [{"type": "text", "content": "a"}]},
                                                       {"role": "user", "parts": [{"type": "text", "content": "b"}]}]
    assert input_messages({"kwargs": {"messages": [{"role": "user", "content": "x"}]}}) == [
        {"role": "user", "parts": [{"type": "text", "content": "x"}]}]


@pytest.mark.parametrize("arguments", [
    {}, {"x": 1}, {"messages": []}, {"messages": "hello?"}, {"messages": [1, None]}, {"prompt": [1, 2, 3]},
    {"inputs": [[1, 2]]}, {"prompt": None},
], ids=repr)
def test_input_messages_none(arguments: dict[str, Any]) -> None:
    assert input_messages(arguments) is None


def test_system_instructions() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "developer", "content": [
        {"type": "text", "text": "Use JSON."}]}, {"role": "user", "content": "Hi"}]
    assert system_instructions({"messages": messages}) == [{"type": "text", "content": "Be brief."},
                                                           {"type": "text", "content": "Use JSON."}]
    assert system_instructions({"system": "You are terse.", "messages": messages}) == [
        {"type": "text", "content": "You are terse."}]
    assert system_instructions({"system": [{"type": "text", "text": "Anthropic style"}]}) == [
        {"type": "text", "content": "Anthropic style"}]
    assert system_instructions({"system_prompt": "sp"}) == [{"type": "text", "content": "sp"}]
    assert system_instructions({"instructions": "Responses API"}) == [{"type": "text", "content": "Responses API"}]
    assert system_instructions({"messages": [{"role": "user", "content": "Hi"}]}) is None
    assert system_instructions({}) is None
