"""Turn what applications pass to and get back from LLM calls into OpenTelemetry GenAI fields.

Everything is duck-typed: plain dicts and SDK objects (the ``openai`` package's pydantic models, vLLM's
``RequestOutput``, ``huggingface_hub`` dataclasses, transformers tensors) are read the same way, and no
LLM library is imported. This runs inside the ``@observe`` decorator on every call, so the common paths
(an OpenAI-style chat completion, a short ``messages`` list) do a few dozen lookups and nothing else.

Recognised responses: OpenAI-compatible chat/legacy completions and embeddings (OpenAI, vLLM, TGI
Messages API, SGLang, Ollama /v1), OpenAI Responses API objects, streaming chunks of those, TGI
``/generate`` and ``/generate_stream``, vLLM offline ``RequestOutput``, Ollama native ``/api/chat``,
``/api/generate`` and ``/api/embed``, and transformers ``generate`` / pipeline outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_log = logging.getLogger(__name__)

Part = dict[str, Any]
# One generated choice before it becomes a GenAI output message: (parts, text, finish reason).
Output = tuple[list[Part], str | None, str | None]


@dataclass(slots=True)
class Extracted:
    """GenAI fields found in one LLM response (``None``: not reported by the response)."""

    model: str | None = None  # response model
    response_id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None  # subset of input_tokens
    reasoning_tokens: int | None = None  # subset of output_tokens
    finish_reasons: list[str] | None = None
    output_text: str | None = None
    output_messages: list[dict[str, Any]] | None = None


_SCALARS = frozenset({str, bytes, bytearray, int, float, bool, complex, type(None)})
_SEQUENCES = (list, tuple)
_CHAT_OBJECTS = frozenset({"chat.completion", "chat.completion.chunk", "text_completion"})
_PIPELINE_KEYS = ("generated_text", "summary_text", "translation_text")
_PROMPT_KEYS = ("prompt", "prompts", "inputs", "input", "text", "query", "question")
_SYSTEM_KEYS = ("system", "system_prompt", "instructions", "system_instruction")
_SYSTEM_ROLES = frozenset({"system", "developer"})
# Message objects without ``role`` (LangChain) say who spoke in ``type``.
_TYPE_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "developer": "developer",
               "user": "user", "assistant": "assistant", "function": "tool"}
_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
_RESPONSE_DONE = frozenset({"response.completed", "response.incomplete", "response.failed"})


# --- field access -------------------------------------------------------------------------------


class _Attrs:
    """``.get`` over an object's attributes, so every shape is read like a dict."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self._obj, name, default)


def _fields(obj: Any) -> Any:
    """Something with ``.get(name)`` over the value's fields: the dict itself, a pydantic model's field dict, or
    attribute access.

    Pydantic models are read through ``__dict__`` (plus ``__pydantic_extra__``, where OpenAI-compatible servers'
    extra fields land): a ``getattr`` miss on one goes through ``BaseModel.__getattr__`` and an exception, about
    3 µs, more than this module's whole budget.
    """
    if isinstance(obj, dict):
        return obj
    try:
        extra = obj.__pydantic_extra__
    except AttributeError:
        return obj if isinstance(obj, _Attrs | Mapping) else _Attrs(obj)
    fields = obj.__dict__
    return {**fields, **extra} if extra else fields


def _get(obj: Any, name: str) -> Any:
    """One field of a dict or object; ``None`` when absent."""
    return _fields(obj).get(name)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    """Token counts: ints only (a bool, or a Mock's attribute, is not a count)."""
    return value if type(value) is int else None


def _seq(value: Any) -> Sequence[Any] | None:
    return value if isinstance(value, _SEQUENCES) else None


def _text_part(text: str) -> Part:
    return {"type": "text", "content": text}


# --- public API ---------------------------------------------------------------------------------


def extract_response(value: Any, tokenizer: Any | None = None, input_ids: Any | None = None) -> Extracted | None:
    """None when the value is not a recognised LLM response (the decorator then records it as plain output).

    ``tokenizer`` and ``input_ids`` matter only for transformers token ids: they let the new tokens be
    told from the prompt, counted and decoded. Never raises: recording must not break the application.
    """
    if type(value) in _SCALARS:
        return None
    try:
        if isinstance(value, _SEQUENCES):
            return _from_sequence(value, tokenizer, input_ids)
        return _from_single(value, tokenizer, input_ids)
    except Exception as exc:  # a value that only looks like a response
        _log.debug("llm-monitor: unreadable response %s: %r", type(value).__name__, exc)
        return None


def input_messages(arguments: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """GenAI input messages from a call's bound arguments.

    A ``messages`` list (OpenAI-style dicts or objects with role/content, content-part lists, tool calls;
    system messages stay, as they are part of the chat history), else the first ``prompt``/``prompts``/
    ``inputs``/``input``/``text``/``query``/``question`` argument that is a string (one user message), a
    list of strings (one user message each) or a list of messages. A ``kwargs`` mapping is searched too,
    for wrappers that take ``**kwargs``. None if nothing is recognisable.
    """
    try:
        found = _input_messages(arguments)
        if found is None and isinstance(arguments.get("kwargs"), Mapping):
            found = _input_messages(arguments["kwargs"])
        return found
    except Exception as exc:
        _log.debug("llm-monitor: unreadable input messages: %r", exc)
        return None


def system_instructions(arguments: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """GenAI system-instruction parts from a ``system``/``system_prompt``/``instructions`` argument, else
    from the system/developer messages of ``messages`` (which ``input_messages`` also keeps)."""
    try:
        found = _system_instructions(arguments)
        if found is None and isinstance(arguments.get("kwargs"), Mapping):
            found = _system_instructions(arguments["kwargs"])
        return found
    except Exception as exc:
        _log.debug("llm-monitor: unreadable system instructions: %r", exc)
        return None


# --- single responses ---------------------------------------------------------------------------


def _from_single(value: Any, tokenizer: Any, input_ids: Any) -> Extracted | None:
    """Try each known shape; the OpenAI one first, as it is both the most common and the cheapest to tell."""
    f = _fields(value)
    choices = f.get("choices")
    if isinstance(choices, _SEQUENCES):
        return _from_openai(f, choices) if _is_openai(f, choices) else None
    for reader in (_from_responses_api, _from_embeddings, _from_tgi, _from_ollama):
        found = reader(f)
        if found is not None:
            return found
    if _is_vllm(f):
        return _from_vllm([value])
    sequences = f.get("sequences")  # transformers GenerateOutput (a dict subclass)
    if sequences is not None:
        scores = f.get("scores")
        if scores is None:
            scores = f.get("logits")
        return _from_token_ids(sequences, tokenizer, input_ids, len(scores) if _seq(scores) else None)
    if (tokenizer is not None or input_ids is not None) and hasattr(value, "tolist"):
        return _from_token_ids(value, tokenizer, input_ids, None)
    return None


def _from_sequence(value: Sequence[Any], tokenizer: Any, input_ids: Any) -> Extracted | None:
    """Lists: pipeline outputs, vLLM ``LLM.generate`` results, or token ids when a tokenizer/input_ids says so."""
    if not value:
        return None
    first = value[0]
    if isinstance(first, _SEQUENCES) and first and isinstance(first[0], dict):  # batched pipeline
        value = [item for batch in value for item in batch]
        first = value[0]
    if type(first) in _SCALARS or isinstance(first, _SEQUENCES):
        if tokenizer is None and input_ids is None:
            return None  # a list of ints is only token ids when the caller says a model made it
        return _from_token_ids(value, tokenizer, input_ids, None)
    f = _fields(first)
    if _is_vllm(f):
        return _from_vllm(value)
    if any(isinstance(f.get(key), str | list) for key in _PIPELINE_KEYS):
        return _from_generated(value)
    return None


# --- OpenAI-compatible chat / legacy completions ------------------------------------------------


def _is_openai(f: Any, choices: Sequence[Any]) -> bool:
    """``choices`` alone is too common a key (quizzes, menus): without the ``object`` tag, also ask for a
    model or usage and a choice that looks like one."""
    if f.get("object") in _CHAT_OBJECTS:
        return True
    if not isinstance(f.get("model"), str) and f.get("usage") is None:
        return False
    if not choices:
        return True  # the usage-only final chunk of a stream
    first = _fields(choices[0])
    return first.get("message") is not None or first.get("delta") is not None \
        or isinstance(first.get("text"), str) or isinstance(first.get("finish_reason"), str)


def _from_openai(f: Any, choices: Sequence[Any]) -> Extracted:
    model, response_id, usage = f.get("model"), f.get("id"), f.get("usage")
    found = Extracted(model=model if isinstance(model, str) else None,
                      response_id=response_id if isinstance(response_id, str) else None)
    if usage is not None:
        _apply_usage(found, usage)
    _apply_outputs(found, [_openai_choice(choice) for choice in choices])
    return found


def _openai_choice(choice: Any) -> Output:
    f = _fields(choice)
    message = f.get("message")
    if message is None:
        message = f.get("delta")
    reason = f.get("finish_reason")
    reason = reason if isinstance(reason, str) else None
    if message is not None:
        parts, text = _assistant_parts(_fields(message))
        return parts, text, reason
    text = _str(f.get("text"))
    return ([_text_part(text)] if text is not None else []), text, reason


def _assistant_parts(m: Any) -> tuple[list[Part], str | None]:
    """Parts of an assistant message (given as fields): reasoning, text (or refusal), tool calls."""
    reasoning = _reasoning(m)
    parts: list[Part] = [{"type": "reasoning", "content": reasoning}] if reasoning else []
    text = m.get("content")
    if text is not None and not isinstance(text, str):
        text = _content_text(text)
    if text is None:
        text = _str(m.get("refusal"))
    if text is not None:
        parts.append({"type": "text", "content": text})
    calls = m.get("tool_calls")
    if calls:
        parts.extend(_tool_call_part(call) for call in calls)
    else:
        legacy = m.get("function_call")
        if legacy is not None:
            parts.append(_tool_call_part({"function": legacy}))
    return parts, text


def _reasoning(m: Any) -> str | None:
    """vLLM/SGLang/DeepSeek put it in ``reasoning_content`` (newer vLLM: ``reasoning``), Ollama in ``thinking``."""
    for key in ("reasoning_content", "reasoning", "thinking"):
        value = m.get(key)
        if value and isinstance(value, str):
            return value
    return None


def _content_text(content: Any) -> str | None:
    """Message content as text: a string, or the text parts of a content list."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, _SEQUENCES):
        texts = [t for t in (_str(_get(p, "text")) if not isinstance(p, str) else p for p in content) if t]
        return "\n".join(texts) if texts else None
    return None


def _tool_call_part(call: Any) -> Part:
    """OpenAI (``function.name``/``arguments``), Ollama (arguments as a dict) or LangChain (``args``) tool calls.

    Arguments are kept as given (OpenAI: a JSON string): parsing them costs time and they are stored as text.
    """
    f = _fields(call)
    function = f.get("function")
    source = _fields(function) if function is not None else f
    part: Part = {"type": "tool_call", "name": _str(source.get("name")) or ""}
    call_id = _str(f.get("id"))
    if call_id is not None:
        part["id"] = call_id
    arguments = source.get("arguments")
    part["arguments"] = arguments if arguments is not None else source.get("args")
    return part


def _apply_usage(found: Extracted, usage: Any) -> None:
    """Chat-completion naming (``prompt_tokens``…) or Responses naming (``input_tokens``…)."""
    get = _fields(usage).get
    prompt = get("prompt_tokens")
    if type(prompt) is int:
        found.input_tokens = prompt
        output = get("completion_tokens")
        input_details, output_details = get("prompt_tokens_details"), get("completion_tokens_details")
    else:
        found.input_tokens = _int(get("input_tokens"))
        output = get("output_tokens")
        input_details, output_details = get("input_tokens_details"), get("output_tokens_details")
    found.output_tokens = output if type(output) is int else None
    if input_details is not None:
        cached = _fields(input_details).get("cached_tokens")
        found.cached_input_tokens = cached if type(cached) is int else None
    if output_details is not None:
        reasoning = _fields(output_details).get("reasoning_tokens")
        found.reasoning_tokens = reasoning if type(reasoning) is int else None


def _apply_outputs(found: Extracted, outputs: list[Output]) -> None:
    """One GenAI output message per choice; texts joined with newlines when there are several."""
    if len(outputs) == 1:  # the usual case, without the lists
        parts, text, reason = outputs[0]
        message: dict[str, Any] = {"role": "assistant", "parts": parts}
        if reason:
            message["finish_reason"] = reason
            found.finish_reasons = [reason]
        found.output_messages = [message]
        found.output_text = text
        return
    if not outputs:
        return
    messages: list[dict[str, Any]] = []
    texts: list[str] = []
    reasons: list[str] = []
    for parts, text, reason in outputs:
        message = {"role": "assistant", "parts": parts}
        if reason:
            message["finish_reason"] = reason
            reasons.append(reason)
        messages.append(message)
        if text is not None:
            texts.append(text)
    found.output_messages = messages
    found.output_text = "\n".join(texts) if texts else None
    found.finish_reasons = reasons or None


# --- OpenAI Responses API and embeddings ---------------------------------------------------------


def _from_responses_api(f: Any) -> Extracted | None:
    output = f.get("output")
    if not isinstance(output, _SEQUENCES) or (f.get("object") != "response" and not (
            isinstance(f.get("status"), str) and isinstance(f.get("model"), str))):
        return None
    found = Extracted(model=_str(f.get("model")), response_id=_str(f.get("id")))
    usage = f.get("usage")
    if usage is not None:
        _apply_usage(found, usage)
    parts: list[Part] = []
    texts: list[str] = []
    for item in output:
        _response_item(item, parts, texts)
    reason = _responses_finish_reason(f)
    _apply_outputs(found, [(parts, "".join(texts) if texts else None, reason)])
    return found


def _response_item(item: Any, parts: list[Part], texts: list[str]) -> None:
    kind = _get(item, "type")
    if kind == "message":
        for block in _get(item, "content") or ():
            text = _str(_get(block, "text")) or _str(_get(block, "refusal"))
            if text is not None:
                parts.append(_text_part(text))
                texts.append(text)
    elif kind == "function_call":
        part: Part = {"type": "tool_call", "id": _str(_get(item, "call_id")), "name": _str(_get(item, "name")),
                      "arguments": _get(item, "arguments")}
        parts.append(part)
    elif kind == "reasoning":
        summary = "".join(_str(_get(s, "text")) or "" for s in _get(item, "summary") or ())
        if summary:
            parts.append({"type": "reasoning", "content": summary})


def _responses_finish_reason(f: Any) -> str | None:
    """The Responses API has a status, not a finish reason: ``completed`` → ``stop`` (as openai-v2 does)."""
    status = _str(f.get("status"))
    if status == "completed":
        return "stop"
    if status == "incomplete":
        details = f.get("incomplete_details")
        return _str(_get(details, "reason")) if details is not None else status
    return status if status in ("failed", "cancelled") else None


def _from_embeddings(f: Any) -> Extracted | None:
    data = f.get("data")
    if not isinstance(data, _SEQUENCES) or not data or _get(data[0], "embedding") is None:
        return None
    found = Extracted(model=_str(f.get("model")), response_id=_str(f.get("id")))
    usage = f.get("usage")
    if usage is not None:
        found.input_tokens = _int(_get(usage, "prompt_tokens"))
        if found.input_tokens is None:
            found.input_tokens = _int(_get(usage, "input_tokens"))
    return found


# --- TGI, Ollama, vLLM, pipelines ---------------------------------------------------------------


def _from_tgi(f: Any) -> Extracted | None:
    """TGI ``/generate`` (and the last ``/generate_stream`` chunk): ``generated_text`` plus ``details``."""
    return _from_generated([f]) if isinstance(f.get("generated_text"), str) else None


def _tgi_input_tokens(d: Any) -> int | None:
    """``prefill`` lists the prompt tokens when ``decoder_input_details`` was asked; streams send ``input_length``."""
    prefill = d.get("prefill")
    if isinstance(prefill, _SEQUENCES) and prefill:
        return len(prefill)
    return _int(d.get("input_length"))


def _from_ollama(f: Any) -> Extracted | None:
    """Ollama ``/api/chat`` (``message``), ``/api/generate`` (``response``) and ``/api/embed`` (``embeddings``)."""
    model = f.get("model")
    if not isinstance(model, str):
        return None
    message = f.get("message")
    response = f.get("response")
    if not isinstance(f.get("done"), bool) or (message is None and not isinstance(response, str)):
        if isinstance(f.get("embeddings"), _SEQUENCES):
            return Extracted(model=model, input_tokens=_int(f.get("prompt_eval_count")))
        return None
    found = Extracted(model=model, input_tokens=_int(f.get("prompt_eval_count")),
                      output_tokens=_int(f.get("eval_count")))
    reason = _str(f.get("done_reason"))
    if message is not None:
        parts, text = _assistant_parts(_fields(message))
    else:
        text, parts = response, []
        thinking = _str(f.get("thinking"))
        if thinking:
            parts.append({"type": "reasoning", "content": thinking})
        parts.append(_text_part(response))
    _apply_outputs(found, [(parts, text, reason)])
    return found


def _is_vllm(f: Any) -> bool:
    """A vLLM ``RequestOutput`` (given as fields): completions that carry their token ids."""
    outputs = f.get("outputs")
    return isinstance(outputs, _SEQUENCES) and bool(outputs) and _get(outputs[0], "token_ids") is not None


def _from_vllm(requests: Sequence[Any]) -> Extracted | None:
    """vLLM offline ``RequestOutput``s: counts from token ids, one output message per completion."""
    if not all(_is_vllm(_fields(request)) for request in requests):
        return None
    found = Extracted(output_tokens=0)
    outputs: list[Output] = []
    cached: int | None = None
    for request in requests:
        prompt = _get(request, "prompt_token_ids")
        if prompt is not None:
            found.input_tokens = (found.input_tokens or 0) + len(prompt)
        hits = _int(_get(request, "num_cached_tokens"))
        if hits is not None:
            cached = (cached or 0) + hits
        for output in _get(request, "outputs"):
            found.output_tokens += len(_get(output, "token_ids"))
            text = _str(_get(output, "text"))
            outputs.append(([_text_part(text)] if text is not None else [], text, _str(_get(output, "finish_reason"))))
    found.cached_input_tokens = cached
    if len(requests) == 1:
        found.response_id = _str(_get(requests[0], "request_id"))
    _apply_outputs(found, outputs)
    return found


def _from_generated(items: Sequence[Any]) -> Extracted | None:
    """transformers pipeline output ``[{"generated_text": ...}]`` (also the HF Inference API's) and TGI responses,
    whose ``details`` carry the finish reason and counts."""
    found = Extracted()
    outputs: list[Output] = []
    for item in items:
        f = _fields(item)
        text = _pipeline_text(f)
        if text is None:
            return None
        details = f.get("details")
        reason = None
        if details is not None:
            d = _fields(details)
            reason = _str(d.get("finish_reason"))
            found.output_tokens = _plus(found.output_tokens, _int(d.get("generated_tokens")))
            found.input_tokens = _plus(found.input_tokens, _tgi_input_tokens(d))
        outputs.append(([_text_part(text)], text, reason))
    _apply_outputs(found, outputs)
    return found


def _plus(total: int | None, count: int | None) -> int | None:
    return count if total is None else total if count is None else total + count


def _pipeline_text(f: Any) -> str | None:
    """The text of one pipeline result; chat pipelines return the whole conversation, whose last turn is new."""
    for key in _PIPELINE_KEYS:
        value = f.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value:
            return _content_text(_get(value[-1], "content"))
    return None


# --- transformers token ids ---------------------------------------------------------------------


def _from_token_ids(sequences: Any, tokenizer: Any, input_ids: Any, steps: int | None) -> Extracted | None:
    """``generate`` output: new tokens are those after the prompt (decoder-only models repeat it) or after the
    decoder start token (encoder-decoder models). With a tokenizer, counting stops at its eos (kept) or at the
    trailing padding, and the new tokens are decoded; without one, only counts."""
    rows = _token_rows(sequences)
    if rows is None:
        return None
    prompts = _token_rows(_unwrap_input_ids(input_ids)) if input_ids is not None else None
    pad, eos = _special_ids(tokenizer)
    found = Extracted(model=_tokenizer_model(tokenizer))
    if prompts:
        found.input_tokens = sum(len(p) if pad is None else sum(1 for t in p if t != pad) for p in prompts)
        start = len(prompts[0]) if rows[0][:len(prompts[0])] == prompts[0] else 1
    else:
        start = 0  # unknown prompt: the whole sequence, which for decoder-only models includes it
    if tokenizer is None:  # counts only: every position after the prompt, padding included
        found.output_tokens = sum(len(row) - start for row in rows) if prompts else steps if len(rows) == 1 else None
        return found
    outputs: list[Output] = []
    total = 0
    for row in rows:
        ids, reason = _trim(row[start:], pad, eos)
        total += len(ids)
        text = _decode(tokenizer, ids)
        outputs.append(([_text_part(text)] if text is not None else [], text, reason))
    if prompts:
        found.output_tokens = total
    elif steps is not None and len(rows) == 1:
        found.output_tokens = steps
    _apply_outputs(found, outputs)
    return found


def _tokenizer_model(tokenizer: Any) -> str | None:
    """The tokenizer's ``name_or_path`` is the checkpoint it was loaded with: normally the model's id."""
    name = getattr(tokenizer, "name_or_path", None) if tokenizer is not None else None
    return name if isinstance(name, str) and name else None


def _token_rows(value: Any) -> list[list[int]] | None:
    """Token ids as rows of ints, from a tensor/array (duck-typed ``tolist``) or nested lists."""
    if value is None:
        return None
    if not isinstance(value, _SEQUENCES):
        dtype = getattr(value, "dtype", None)
        if dtype is not None and "int" not in str(dtype):
            return None  # float tensors (embeddings, logits) are not token ids
        to_list = getattr(value, "tolist", None)
        if to_list is None:
            return None
        value = to_list()
        if not isinstance(value, list):
            return None
    if not value:
        return None
    first = value[0]
    if _int(first) is not None:
        return [list(value)]
    if isinstance(first, _SEQUENCES) and first and _int(first[0]) is not None:
        return [list(row) for row in value]
    return None


def _unwrap_input_ids(value: Any) -> Any:
    """``model.generate(**tokenizer(...))`` callers may pass the whole ``BatchEncoding``."""
    if isinstance(value, Mapping) or (hasattr(value, "keys") and hasattr(value, "__getitem__")):
        try:
            return value["input_ids"]
        except (KeyError, TypeError):
            return None
    return value


def _special_ids(tokenizer: Any) -> tuple[int | None, frozenset[int]]:
    if tokenizer is None:
        return None, frozenset()
    pad = _int(getattr(tokenizer, "pad_token_id", None))
    eos = getattr(tokenizer, "eos_token_id", None)
    if _int(eos) is not None:
        return pad, frozenset((eos,))
    return pad, frozenset(e for e in eos if _int(e) is not None) if isinstance(eos, _SEQUENCES) else frozenset()


def _trim(ids: list[int], pad: int | None, eos: frozenset[int]) -> tuple[list[int], str | None]:
    """Generated ids without the batch's trailing padding, up to the first eos (kept: the model produced it).

    Only trailing pads are padding: a pad id inside the text is a token the model chose. ``stop`` when the row
    ended early (eos or padding), ``length`` when it ran to the limit.
    """
    end = len(ids)
    if pad is not None:
        while end and ids[end - 1] == pad:
            end -= 1
        if end < len(ids) and pad in eos:
            end += 1  # pad doubles as eos: the first "pad" is the eos that ended the row
    stopped = end < len(ids)
    if eos:
        for n in range(end):
            if ids[n] in eos:
                return ids[:n + 1], "stop"
    return ids[:end], "stop" if stopped else "length"


def _decode(tokenizer: Any, ids: list[int]) -> str | None:
    decode = getattr(tokenizer, "decode", None) if tokenizer is not None else None
    if decode is None:
        return None
    text = decode(ids, skip_special_tokens=True)
    return text if isinstance(text, str) else None


# --- streams ------------------------------------------------------------------------------------


class _Choice:
    """What one streamed choice has said so far."""

    __slots__ = ("final", "reason", "reasoning", "text", "tools")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tools: dict[int, list[Any]] = {}  # index -> [id, name, argument pieces]
        self.reason: str | None = None
        self.final: str | None = None  # the whole text, when the stream sends it at the end (TGI)

    def add_tool_delta(self, delta: Any) -> None:
        """OpenAI streams a tool call as pieces: id and name first, then the arguments a few characters at a time."""
        d = _fields(delta)
        index = _int(d.get("index"))
        call_id = d.get("id")
        if index is None:  # servers that omit it: a new id starts a call, anything else continues the last
            index = len(self.tools) if call_id or not self.tools else max(self.tools)
        slot = self.tools.setdefault(index, [None, None, []])
        if call_id and isinstance(call_id, str):
            slot[0] = call_id
        function = d.get("function")
        if function is not None:
            fn = _fields(function)
            name = fn.get("name")
            if name and isinstance(name, str):
                slot[1] = name
            arguments = fn.get("arguments")
            if arguments:
                slot[2].append(arguments)

    def output(self) -> Output:
        parts: list[Part] = []
        if self.reasoning:
            parts.append({"type": "reasoning", "content": "".join(self.reasoning)})
        text = self.final if self.final is not None else ("".join(self.text) if self.text else None)
        if text is not None:
            parts.append(_text_part(text))
        for index in sorted(self.tools):
            parts.append(_streamed_tool_part(*self.tools[index]))
        return parts, text, self.reason


def _streamed_tool_part(call_id: str | None, name: str | None, pieces: list[Any]) -> Part:
    part: Part = {"type": "tool_call", "name": name or ""}
    if call_id:
        part["id"] = call_id
    arguments: Any = pieces[0] if len(pieces) == 1 else "".join(str(p) for p in pieces)
    part["arguments"] = arguments if pieces else None
    return part


class StreamAccumulator:
    """Feed every streamed chunk with add(chunk); result() assembles the Extracted (text concatenated per choice,
    usage from the final usage chunk, finish reasons, model, id).

    Understands OpenAI-compatible chunks, TGI ``/generate_stream`` chunks, Ollama native chunks, Responses API
    events, vLLM ``RequestOutput`` streams (cumulative, the default: the last one wins) and plain text pieces
    (transformers ``TextIteratorStreamer``). Unknown chunks are ignored; ``add`` never raises.
    """

    __slots__ = ("_choices", "_final", "_found")

    def __init__(self) -> None:
        self._choices: dict[int, _Choice] = {}
        self._found = Extracted()  # model, id and usage as the chunks report them
        self._final: Extracted | None = None  # a complete response some streams end with

    def add(self, chunk: Any) -> None:
        try:
            if isinstance(chunk, str):
                if chunk:
                    self._choice(0).text.append(chunk)
                return
            if type(chunk) in _SCALARS:
                return
            c = _fields(chunk)
            choices = c.get("choices")
            if isinstance(choices, _SEQUENCES):
                self._add_openai(c, choices)
            else:
                self._add_other(chunk, c)
        except Exception as exc:
            _log.debug("llm-monitor: unreadable stream chunk %s: %r", type(chunk).__name__, exc)

    def result(self) -> Extracted:
        if self._final is not None:
            return self._final
        found = self._found
        result = Extracted(model=found.model, response_id=found.response_id, input_tokens=found.input_tokens,
                           output_tokens=found.output_tokens, cached_input_tokens=found.cached_input_tokens,
                           reasoning_tokens=found.reasoning_tokens)
        _apply_outputs(result, [self._choices[i].output() for i in sorted(self._choices)])
        return result

    def _choice(self, index: Any) -> _Choice:
        key = index if type(index) is int else 0
        state = self._choices.get(key)
        if state is None:
            state = self._choices[key] = _Choice()
        return state

    def _identify(self, c: Any) -> None:
        found = self._found
        if found.model is None:
            found.model = _str(c.get("model"))
        if found.response_id is None:
            found.response_id = _str(c.get("id"))

    def _add_openai(self, c: Any, choices: Sequence[Any]) -> None:
        self._identify(c)
        usage = c.get("usage")
        if usage is not None:
            _apply_usage(self._found, usage)
        for choice in choices:
            f = _fields(choice)
            state = self._choice(f.get("index"))
            delta = f.get("delta")
            if delta is None:
                text = f.get("text")  # legacy completions stream
                if isinstance(text, str) and text:
                    state.text.append(text)
            else:
                _add_delta(state, _fields(delta))
            reason = f.get("finish_reason")
            if isinstance(reason, str):
                state.reason = reason

    def _add_other(self, chunk: Any, c: Any) -> None:
        token = c.get("token")
        if token is not None:
            self._add_tgi(c, _fields(token))
            return
        done = c.get("done")
        if isinstance(done, bool):
            self._add_ollama(c, done)
            return
        kind = c.get("type")
        if isinstance(kind, str) and kind.startswith("response."):
            self._add_responses_event(c, kind)
        elif _is_vllm(c):
            self._final = _from_vllm([chunk])

    def _add_tgi(self, c: Any, token: Any) -> None:
        text = token.get("text")
        if not isinstance(text, str):
            return
        state = self._choice(0)
        if not token.get("special"):
            state.text.append(text)
        final = c.get("generated_text")
        if isinstance(final, str):
            state.final = final
        details = c.get("details")
        if details is not None:
            d = _fields(details)
            state.reason = _str(d.get("finish_reason"))
            self._found.output_tokens = _int(d.get("generated_tokens"))
            self._found.input_tokens = _tgi_input_tokens(d)

    def _add_ollama(self, c: Any, done: bool) -> None:
        self._identify(c)
        state = self._choice(0)
        message = c.get("message")
        m = _fields(message) if message is not None else c
        text = m.get("content") if message is not None else c.get("response")
        if isinstance(text, str) and text:
            state.text.append(text)
        thinking = m.get("thinking")
        if thinking and isinstance(thinking, str):
            state.reasoning.append(thinking)
        for call in (m.get("tool_calls") or ()) if message is not None else ():
            part = _tool_call_part(call)  # Ollama sends each call whole, not in pieces
            state.tools[len(state.tools)] = [part.get("id"), part["name"], [part["arguments"]]]
        if done:
            state.reason = _str(c.get("done_reason"))
            self._found.input_tokens = _int(c.get("prompt_eval_count"))
            self._found.output_tokens = _int(c.get("eval_count"))

    def _add_responses_event(self, c: Any, kind: str) -> None:
        if kind == "response.output_text.delta":
            delta = c.get("delta")
            if isinstance(delta, str):
                self._choice(0).text.append(delta)
            return
        response = c.get("response")
        if response is None:
            return
        if kind == "response.created":
            self._identify(_fields(response))
        elif kind in _RESPONSE_DONE:
            self._final = _from_responses_api(_fields(response))


def _add_delta(state: _Choice, d: Any) -> None:
    """One OpenAI ``delta`` (given as fields): text, reasoning and tool-call pieces."""
    content = d.get("content")
    if content and isinstance(content, str):
        state.text.append(content)
    reasoning = d.get("reasoning_content") or d.get("reasoning")
    if reasoning and isinstance(reasoning, str):
        state.reasoning.append(reasoning)
    calls = d.get("tool_calls")
    if calls:
        for call in calls:
            state.add_tool_delta(call)


# --- inputs -------------------------------------------------------------------------------------


def _input_messages(arguments: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    messages = arguments.get("messages")
    if isinstance(messages, _SEQUENCES) and messages:
        found = _message_list(messages)
        if found:
            return found
    for key in _PROMPT_KEYS:
        value = arguments.get(key)
        if value is not None:
            found = _prompt_messages(value)
            if found:
                return found
    return None


def _prompt_messages(value: Any) -> list[dict[str, Any]] | None:
    """A prompt string is one user message; a batch of prompts, one each; a list of messages, itself."""
    if isinstance(value, str):
        return [{"role": "user", "parts": [_text_part(value)]}]
    if not isinstance(value, _SEQUENCES) or not value:
        return None
    if isinstance(value[0], str):
        return [{"role": "user", "parts": [_text_part(v)]} for v in value if isinstance(v, str)]
    if type(value[0]) in _SCALARS or isinstance(value[0], _SEQUENCES):
        return None  # token ids
    return _message_list(value) or None


def _message_list(messages: Sequence[Any]) -> list[dict[str, Any]]:
    found = []
    for message in messages:
        converted = _input_message(message)
        if converted is not None:
            found.append(converted)
    return found


def _input_message(message: Any) -> dict[str, Any] | None:
    """One OpenAI-style message (or Responses input item, or LangChain message) as a GenAI message."""
    if isinstance(message, str):
        return {"role": "user", "parts": [_text_part(message)]}
    m = _fields(message)
    role = m.get("role")
    if not isinstance(role, str):
        role = _typed_role(m)
        if not isinstance(role, str):
            return role
    content = m.get("content")
    if role == "tool":
        parts = [_tool_response(m.get("tool_call_id"), content)]
    else:
        parts = [{"type": "text", "content": content}] if isinstance(content, str) else _content_parts(content)
        calls = m.get("tool_calls")
        if calls:
            parts.extend(_tool_call_part(call) for call in calls)
    found: dict[str, Any] = {"role": role, "parts": parts}
    name = m.get("name")
    if name and isinstance(name, str):
        found["name"] = name
    return found


def _typed_role(m: Any) -> str | dict[str, Any] | None:
    """Items without ``role``: a LangChain message's role (from ``type``), or a whole message for the Responses API's
    tool call / tool result items."""
    kind = m.get("type")
    if kind == "function_call_output":
        return {"role": "tool", "parts": [_tool_response(m.get("call_id"), m.get("output"))]}
    if kind == "function_call":
        part: Part = {"type": "tool_call", "id": _str(m.get("call_id")), "name": _str(m.get("name")),
                      "arguments": m.get("arguments")}
        return {"role": "assistant", "parts": [part]}
    return _TYPE_ROLES.get(kind) if isinstance(kind, str) else None


def _tool_response(call_id: Any, content: Any) -> Part:
    text = _content_text(content) if isinstance(content, _SEQUENCES) else content
    part: Part = {"type": "tool_call_response", "response": text}
    if isinstance(call_id, str):
        part["id"] = call_id
    return part


def _content_parts(content: Any) -> list[Part]:
    """GenAI parts of message content: a string, or OpenAI/Responses/Anthropic content-part lists."""
    if content is None:
        return []
    if isinstance(content, str):
        return [_text_part(content)]
    if isinstance(content, _SEQUENCES):
        return [part for part in (_content_part(p) for p in content) if part is not None]
    part = _content_part(content)
    return [part] if part is not None else []


def _content_part(part: Any) -> Part | None:
    if isinstance(part, str):
        return _text_part(part)
    p = _fields(part)
    kind = p.get("type")
    if kind in _TEXT_PARTS:
        text = p.get("text")
        return _text_part(text) if isinstance(text, str) else None
    if kind in ("image_url", "input_image", "image"):
        return _image_part(p, kind)
    if kind == "input_audio":
        audio = _fields(p.get("input_audio") or {})
        audio_format = _str(audio.get("format"))
        return {"type": "blob", "modality": "audio", "mime_type": f"audio/{audio_format}" if audio_format else None,
                "content": audio.get("data")}
    if kind in ("file", "input_file"):
        return _file_part(p)
    if isinstance(part, dict):
        return part  # a part type this module does not know: kept as it is (GenAI "generic" part)
    return {"type": kind} if isinstance(kind, str) else None


def _image_part(p: Any, kind: str) -> Part:
    """Image URLs (data: URLs too, kept whole rather than split and copied) or Anthropic-style base64 sources."""
    image = p.get("image_url") if kind != "image" else None
    url = image if isinstance(image, str) else _get(image, "url") if image is not None else None
    if isinstance(url, str):
        return {"type": "uri", "modality": "image", "uri": url}
    file_id = _str(p.get("file_id"))
    if file_id:
        return {"type": "file", "modality": "image", "file_id": file_id}
    source = _fields(p.get("source") or {})
    if source.get("type") == "url":
        return {"type": "uri", "modality": "image", "uri": source.get("url")}
    return {"type": "blob", "modality": "image", "mime_type": _str(source.get("media_type")),
            "content": source.get("data")}


def _file_part(p: Any) -> Part:
    file = p.get("file")
    source = _fields(file) if file is not None else p
    file_id = _str(source.get("file_id"))
    if file_id:
        return {"type": "file", "modality": "file", "file_id": file_id}
    return {"type": "blob", "modality": "file", "content": source.get("file_data"),
            "name": _str(source.get("filename"))}


def _system_instructions(arguments: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    for key in _SYSTEM_KEYS:
        value = arguments.get(key)
        if value is not None:
            parts = _content_parts(value)
            if parts:
                return parts
    messages = arguments.get("messages")
    if not isinstance(messages, _SEQUENCES):
        return None
    parts = []
    for message in messages:
        if _get(message, "role") in _SYSTEM_ROLES:
            parts.extend(_content_parts(_get(message, "content")))
    return parts or None
