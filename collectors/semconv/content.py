"""Message content of a span -> input text, output text, system instructions, retrieved context.

Each convention keeps content in its own place (see the ``Convention`` tables): whole-message
JSON attributes (GenAI), ``prefix.N.…`` indexed attributes (OpenLLMetry, OpenInference), a plain
request/response value (OpenInference ``input.value``) or span events (deprecated GenAI events).
The first place that has something wins, in the same convention order as the other fields
(span events, the oldest form, only when the attributes have nothing).
"""

from __future__ import annotations

from typing import Any

from collectors.semconv import genai, openinference, openllmetry
from collectors.semconv.messages import (
    Message,
    content_text,
    finish_reasons,
    load_json,
    messages_from_events,
    parse_messages,
    render,
    split_system,
)
from monitor.domain import LLMCall, Span

# ``{prefix: {N: {rest-of-key: value}}}`` for every ``prefix.N.rest`` attribute of a span.
Indexed = dict[str, dict[int, dict[str, Any]]]

_CUR, _LEG, _OLL, _OI = genai.CURRENT, genai.LEGACY, openllmetry.TABLE, openinference.TABLE
# Whole-value content attributes; a span with none of them, no indexed content and no events has no
# content, which is the common case (GenAI content capture is off by default) and is skipped early.
_CONTENT_KEYS = frozenset(k for k in (_CUR.input_messages, _CUR.output_messages, _CUR.system_instructions,
                                      _LEG.legacy_prompt, _LEG.legacy_completion, _OI.plain_input, _OI.plain_output)
                          if k)


def fill_content(call: LLMCall, span: Span, indexed: Indexed, keep_unknown_json: bool) -> None:
    """Set the content fields of ``call``; finish reasons too when only the output messages carry them.

    ``keep_unknown_json``: keep an ``input.value``/``output.value`` JSON of unknown shape as text.
    True for agent/chain/tool spans, where it is the only content; false for model calls, where
    such a value is a raw API body (an embeddings response is a vector dump, not an answer).
    """
    attrs = span.attributes
    if not indexed and not span.events and _CONTENT_KEYS.isdisjoint(attrs):
        return
    inputs = _inputs(attrs, indexed, keep_unknown_json)
    outputs = _outputs(attrs, indexed, keep_unknown_json)
    system = _system_instructions(attrs)
    if span.events and (not inputs or not outputs):
        ev_inputs, ev_outputs, ev_system = messages_from_events(
            [(e.get("name"), e.get("attributes") or {}, None) for e in span.events])
        inputs, outputs, system = inputs or ev_inputs, outputs or ev_outputs, system or ev_system
    inputs, in_system = split_system(inputs)
    call.system_instructions = system or in_system
    call.input_text = render(inputs)
    call.output_text = render(outputs)
    if call.finish_reasons is None:
        call.finish_reasons = finish_reasons(outputs)
    call.retrieval_context = _retrieval_context(indexed)


def _system_instructions(attrs: dict[str, Any]) -> str | None:
    value = attrs.get(_CUR.system_instructions or "")
    return (content_text(value) or None) if value is not None else None


def _inputs(attrs: dict[str, Any], indexed: Indexed, keep_unknown_json: bool) -> list[Message]:
    return (
        parse_messages(attrs.get(_CUR.input_messages or ""))
        or parse_messages(attrs.get(_LEG.legacy_prompt or ""))
        or _indexed_messages(indexed, _OLL.indexed_prompt, "role", "content", "user")
        or _indexed_messages(indexed, _OI.indexed_input, "message.role", "message.content", "user")
        or _indexed_messages(indexed, _OI.indexed_prompts, "role", "prompt.text", "user")
        or _indexed_messages(indexed, _OI.indexed_embeddings, "role", "embedding.text", "user")
        or _plain(attrs, _OI.plain_input, _OI.plain_input_mime, "user", keep_unknown_json)
    )


def _outputs(attrs: dict[str, Any], indexed: Indexed, keep_unknown_json: bool) -> list[Message]:
    return (
        parse_messages(attrs.get(_CUR.output_messages or ""), "assistant")
        or parse_messages(attrs.get(_LEG.legacy_completion or ""), "assistant")
        or _indexed_messages(indexed, _OLL.indexed_completion, "role", "content", "assistant")
        or _indexed_messages(indexed, _OI.indexed_output, "message.role", "message.content", "assistant")
        or _indexed_messages(indexed, _OI.indexed_choices, "role", "completion.text", "assistant")
        or _plain(attrs, _OI.plain_output, _OI.plain_output_mime, "assistant", keep_unknown_json)
    )


def _numeric_order(key: str) -> tuple[int, ...]:
    """``contents.10.x`` sorts after ``contents.2.x`` (plain string order would not)."""
    return tuple(int(part) for part in key.split(".") if part.isdecimal())


def _indexed_messages(indexed: Indexed, prefix: str | None, role_key: str, content_key: str,
                      default_role: str) -> list[Message]:
    """Messages from ``prefix.N.<role_key>`` / ``prefix.N.<content_key>`` attributes, in index order."""
    group = indexed.get(prefix or "")
    if not group:
        return []
    out = []
    for index in sorted(group):
        fields = group[index]
        text = content_text(fields.get(content_key))
        if not text:  # OpenInference multi-part contents: message.contents.M.message_content.text
            parts = sorted((k for k in fields if k.endswith("message_content.text")), key=_numeric_order)
            text = "\n".join(str(fields[k]) for k in parts if fields[k])
        calls = _indexed_tool_calls(fields)
        text = "\n".join(t for t in (text, calls) if t)
        reason = fields.get("finish_reason")
        out.append(Message(str(fields.get(role_key) or default_role), text, str(reason) if reason else None))
    return out


def _indexed_tool_calls(fields: dict[str, Any]) -> str:
    """``tool_calls.J.name`` (OpenLLMetry) / ``message.tool_calls.J.tool_call.function.name`` (OpenInference)."""
    names = sorted((k for k in fields if "tool_call" in k and k.endswith(".name")), key=_numeric_order)
    calls = []
    for key in names:
        args = fields.get(key[: -len("name")] + "arguments") or ""
        calls.append(f"[tool_call {fields[key]}({args})]")
    return "\n".join(calls)


def _plain(attrs: dict[str, Any], key: str | None, mime_key: str | None, role: str,
           keep_unknown_json: bool) -> list[Message]:
    """OpenInference ``input.value``/``output.value``: plain text, or a JSON request/response body."""
    value = attrs.get(key or "")
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        return [Message(role, content_text(value))]
    if attrs.get(mime_key or "") == "text/plain":
        return [Message(role, value)]
    doc = load_json(value)
    if isinstance(doc, str):
        return [Message(role, doc)]
    messages = _known_body(doc, role) if isinstance(doc, dict) else []
    if messages or not keep_unknown_json:
        return messages
    return [Message(role, value)]


def _known_body(doc: dict[str, Any], role: str) -> list[Message]:
    """Messages from an OpenAI-style request (``messages``/``prompt``/``input``) or response (``choices``)."""
    if isinstance(doc.get("messages"), list):
        return parse_messages(doc["messages"], role)
    if isinstance(doc.get("choices"), list):
        return [_choice(c, role) for c in doc["choices"] if isinstance(c, dict)]
    for key in ("prompt", "input"):
        if doc.get(key) is not None:
            return parse_messages(doc[key], role)
    return []


def _choice(choice: dict[str, Any], role: str) -> Message:
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    text = content_text(message.get("content") or choice.get("text"))
    reason = choice.get("finish_reason")
    return Message(str(message.get("role") or role), text, str(reason) if reason else None)


def _retrieval_context(indexed: Indexed) -> list[str] | None:
    docs = indexed.get(_OI.retrieval_documents or "")
    if not docs:
        return None
    texts = [content_text(docs[i].get("document.content")) for i in sorted(docs)]
    return [t for t in texts if t] or None
