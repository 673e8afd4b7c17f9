"""Turn the many shapes of chat messages into plain text for storage, search and evaluators.

Shapes handled: GenAI ``parts`` messages (JSON string or structured), OpenAI-style ``content``
strings or content-part lists, OpenLLMetry/OpenInference indexed attributes, and the deprecated
per-message events (``gen_ai.user.message``, ``gen_ai.choice``, …).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    text: str


def load_json(value: Any) -> Any:
    """Attributes may carry JSON as a string; structured values pass through."""
    if isinstance(value, str):
        stripped = value.lstrip()
        if stripped[:1] in ("[", "{"):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
    return value


def content_text(content: Any) -> str:
    """Text of a message's content, whatever its shape (string, parts, OpenAI content list)."""
    content = load_json(content)
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return _part_text(content)
    if isinstance(content, list):
        return "\n".join(t for t in (_part_text(p) for p in content) if t)
    return str(content)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return str(part)
    kind = part.get("type")
    if kind in ("tool_call", "function", "server_tool_call"):
        name = part.get("name") or (part.get("function") or {}).get("name", "")
        args = part.get("arguments") or (part.get("function") or {}).get("arguments", "")
        if not isinstance(args, str):
            args = json.dumps(args, ensure_ascii=False)
        return f"[tool_call {name}({args})]"
    if kind in ("tool_call_response", "server_tool_call_response"):
        return content_text(part.get("response") or part.get("result"))
    for key in ("content", "text", "message_content.text"):
        if key in part and isinstance(part[key], str):
            return part[key]
    if "message" in part:  # {"message": {"role":..,"content":..}}
        return content_text((part["message"] or {}).get("content"))
    return ""


def parse_messages(value: Any, default_role: str = "user") -> list[Message]:
    """Messages from ``gen_ai.input.messages``/``output.messages`` or an OpenAI ``messages`` list."""
    value = load_json(value)
    if value is None:
        return []
    if isinstance(value, str):
        return [Message(default_role, value)]
    if isinstance(value, dict):
        value = [value]
    out = []
    for item in value:
        if not isinstance(item, dict):
            out.append(Message(default_role, content_text(item)))
            continue
        role = str(item.get("role") or default_role)
        if "parts" in item:
            text = content_text(item["parts"])
        elif "message" in item:  # gen_ai.choice bodies
            text = content_text((item["message"] or {}).get("content"))
        else:
            text = content_text(item.get("content"))
        if item.get("tool_calls"):
            calls = [content_text({"type": "tool_call", **c}) for c in item["tool_calls"] if isinstance(c, dict)]
            text = "\n".join(t for t in [text, *calls] if t)
        out.append(Message(role, text))
    return out


def render(messages: list[Message]) -> str | None:
    """One user message renders as its text; a conversation as ``role: text`` lines."""
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
            payload = body if isinstance(body, dict) else attrs
            role = MESSAGE_EVENTS[name]
            msgs = parse_messages({"role": payload.get("role") or role, **payload}, role)
            inputs.extend(msgs)
        elif name == CHOICE_EVENT:
            payload = body if isinstance(body, dict) else attrs
            message = payload.get("message") or {}
            if isinstance(message, dict):
                outputs.extend(parse_messages({"role": "assistant", **message}, "assistant"))
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
