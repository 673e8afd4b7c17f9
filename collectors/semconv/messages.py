"""Turn the many shapes of chat messages into plain text for storage, search and evaluators.

Shapes handled: GenAI ``parts`` messages (JSON string or structured), OpenAI-style ``content``
strings or content-part lists, OpenLLMetry/OpenInference indexed attributes, and the deprecated
per-message events (``gen_ai.user.message``, ``gen_ai.choice``, …), whether they arrive as log
records (body) or as span events (attributes, or one ``gen_ai.event.content`` JSON string as the
Azure SDKs write it).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson


class Message(NamedTuple):
    """One message as text. A named tuple rather than a frozen dataclass: it is built for every
    message of every span on the ingest path, and a frozen dataclass costs several times more."""

    role: str
    text: str
    # GenAI output messages carry their own finish reason; sometimes it is the only place it appears
    # (openai-v2 streaming leaves ``gen_ai.response.finish_reasons`` unset).
    finish_reason: str | None = None


def load_json(value: Any) -> Any:
    """Attributes may carry JSON as a string; structured values pass through.

    Malformed JSON is not an error: the string is returned unchanged so it is kept as text.
    orjson is used because this runs per span on the ingest path, and because it refuses
    pathological nesting with an error instead of a ``RecursionError``.
    """
    if isinstance(value, str):
        stripped = value.lstrip()
        if stripped[:1] in ("[", "{"):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                return value
    return value


def content_text(content: Any) -> str:
    """Text of a message's content, whatever its shape (string, parts, OpenAI content list)."""
    if isinstance(content, str):
        parsed = load_json(content)
        if not _is_parts(parsed):
            return content
        content = parsed
    if content is None:
        return ""
    if isinstance(content, list):
        texts = [_part_text(p) for p in content]
        return texts[0] if len(texts) == 1 else "\n".join(t for t in texts if t)
    if isinstance(content, dict):
        return _part_text(content)
    return str(content)


# Parts whose ``content`` is not text (base64 payloads, file ids): stored as a short marker instead.
_MEDIA_PARTS = frozenset({"blob", "file", "uri", "image_url", "input_audio", "image", "audio"})
# ``type`` values of content parts: GenAI parts, OpenAI chat and Responses content parts.
_PART_TYPES = _MEDIA_PARTS | {"text", "reasoning", "tool_call", "tool_call_response", "server_tool_call",
                              "server_tool_call_response", "function", "input_text", "output_text", "refusal"}


def _is_parts(value: Any) -> bool:
    """Whether JSON found in a content string is a list of content parts.

    OpenLLMetry ≤0.47 stores list-shaped content as a JSON string, so such text is taken apart;
    any other JSON (a JSON-mode answer, a tool result) is the message's text and stays as it is.
    """
    if isinstance(value, dict):
        return value.get("type") in _PART_TYPES
    if isinstance(value, list) and value:
        return all(isinstance(p, dict) and p.get("type") in _PART_TYPES for p in value)
    return False


def _part_text(part: Any) -> str:
    if type(part) is dict and part.get("type") == "text":  # the common GenAI text part, first
        text = part.get("content")
        if type(text) is str:
            return text
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return "" if part is None else str(part)
    kind = part.get("type")
    if kind is not None and kind != "text":
        special = _special_part_text(part, kind)
        if special is not None:
            return special
    for key in ("content", "text", "message_content.text"):
        value = part.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list):  # nested parts, e.g. a tool result made of text blocks
            return content_text(value)
    text = part.get("text")
    if isinstance(text, dict) and isinstance(text.get("value"), str):  # Azure agents: {"text": {"value": ..}}
        return text["value"]
    message = part.get("message")
    if isinstance(message, dict):  # {"message": {"role":..,"content":..}}
        return content_text(message.get("content"))
    return ""


def _special_part_text(part: dict[str, Any], kind: Any) -> str | None:
    """Tool calls and responses, and media parts as a short marker (``None``: an ordinary part)."""
    if kind in ("tool_call", "function", "server_tool_call"):
        return _tool_call_text(part)
    if kind in ("tool_call_response", "server_tool_call_response"):
        response = part.get("response", part.get("result"))
        if isinstance(response, dict):  # a structured tool result: keep it readable as JSON
            return orjson.dumps(response, default=str).decode()
        return content_text(response)
    if kind in _MEDIA_PARTS:
        return f"[{part.get('mime_type') or part.get('modality') or kind}]"
    return None


def _tool_call_text(part: dict[str, Any]) -> str:
    function = part.get("function") if isinstance(part.get("function"), dict) else {}
    name = part.get("name") or function.get("name", "")
    args = part.get("arguments") or function.get("arguments", "")
    if not isinstance(args, str):
        args = orjson.dumps(args, default=str).decode()
    return f"[tool_call {name}({args})]"


def parse_messages(value: Any, default_role: str = "user") -> list[Message]:
    """Messages from ``gen_ai.input.messages``/``output.messages`` or an OpenAI ``messages`` list."""
    value = load_json(value)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [Message(default_role, value)]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return [Message(default_role, str(value))]
    return [_message(item, default_role) for item in value]


def _message(item: Any, default_role: str) -> Message:
    if not isinstance(item, dict):
        return Message(default_role, content_text(item))
    role = item.get("role") or default_role
    parts = item.get("parts")
    if parts is not None:
        text = content_text(parts)
    elif isinstance(item.get("message"), dict):  # gen_ai.choice bodies
        text = content_text(item["message"].get("content"))
    else:
        text = content_text(item.get("content"))
    calls = item.get("tool_calls")
    if calls and isinstance(calls, list):
        tool_texts = [_tool_call_text(c) for c in calls if isinstance(c, dict)]
        text = "\n".join(t for t in [text, *tool_texts] if t)
    reason = item.get("finish_reason")
    return Message(role if isinstance(role, str) else str(role), text, str(reason) if reason else None)


def render(messages: list[Message]) -> str | None:
    """One message renders as its text; a conversation as ``role: text`` lines."""
    kept = [m for m in messages if m.text]
    if not kept:
        return None
    if len(kept) == 1:
        return kept[0].text
    return "\n".join(f"{m.role}: {m.text}" for m in kept)


def split_system(messages: list[Message]) -> tuple[list[Message], str | None]:
    """System messages are stored apart from the input, as system instructions."""
    system = [m.text for m in messages if m.role in ("system", "developer") and m.text]
    rest = [m for m in messages if m.role not in ("system", "developer")]
    return rest, ("\n".join(system) if system else None)


def finish_reasons(messages: list[Message]) -> list[str] | None:
    """The finish reasons carried by output messages, in order (``None`` when none has one)."""
    reasons = [m.finish_reason for m in messages if m.finish_reason]
    return reasons or None


# Deprecated per-message events (v1.28–v1.36) and their roles.
MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = "gen_ai.choice"
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
PROMPT_EVENT = "gen_ai.content.prompt"
COMPLETION_EVENT = "gen_ai.content.completion"
# Span-event form of the deprecated events used by the Azure SDKs: the body as one JSON string.
EVENT_CONTENT = "gen_ai.event.content"


def _payload(attrs: dict[str, Any], body: Any) -> dict[str, Any]:
    """The fields of a deprecated message event: log body, ``gen_ai.event.content`` or attributes."""
    if isinstance(body, dict):
        return body
    if isinstance(body, str) and body:
        return {"content": body}
    embedded = load_json(attrs.get(EVENT_CONTENT))
    if isinstance(embedded, dict):
        return embedded
    return attrs


def messages_from_events(events: list[tuple[str | None, dict[str, Any], Any]]) -> tuple[
    list[Message], list[Message], str | None
]:
    """Input, output and system text carried by events (span events or log records).

    Each event is ``(name, attributes, body)``.
    """
    inputs: list[Message] = []
    outputs: list[Message] = []
    system: str | None = None
    for name, attrs, body in events:
        if name in MESSAGE_EVENTS:
            role = MESSAGE_EVENTS[name]
            payload = _payload(attrs, body)
            inputs.append(_message({**payload, "role": payload.get("role") or role}, role))
        elif name == CHOICE_EVENT:
            payload = _payload(attrs, body)
            message = payload.get("message")
            if isinstance(message, dict):
                reason = payload.get("finish_reason")
                outputs.append(_message({"role": "assistant", **message, "finish_reason": reason}, "assistant"))
        elif name == DETAILS_EVENT:
            inputs.extend(parse_messages(attrs.get("gen_ai.input.messages")))
            outputs.extend(parse_messages(attrs.get("gen_ai.output.messages"), "assistant"))
            if attrs.get("gen_ai.system_instructions") is not None:
                system = content_text(attrs.get("gen_ai.system_instructions")) or None
        elif name == PROMPT_EVENT:
            inputs.extend(parse_messages(attrs.get("gen_ai.prompt")))
        elif name == COMPLETION_EVENT:
            outputs.extend(parse_messages(attrs.get("gen_ai.completion"), "assistant"))
    return inputs, outputs, system
