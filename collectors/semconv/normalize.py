"""Normalisation: any span -> the same ``LLMCall`` fields, whichever convention produced it.

Conventions are tried in a fixed order (current GenAI, pre-1.37 GenAI, vLLM, OpenLLMetry,
OpenInference); the first one that has a value for a field wins. Token counts are taken as
reported and never added up twice: cached input is a subset of input, reasoning a subset of
output (OTel GenAI and OpenInference both say so), and a total is only computed when none was
reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from collectors.semconv import genai, openinference, openllmetry, vllm
from collectors.semconv.messages import (
    Message,
    content_text,
    load_json,
    messages_from_events,
    parse_messages,
    render,
    split_system,
)
from collectors.semconv.table import Convention
from monitor.domain import STATUS_ERROR, LLMCall, Span

CONVENTIONS: tuple[Convention, ...] = (
    genai.CURRENT,
    genai.LEGACY,
    vllm.TABLE,
    openllmetry.TABLE,
    openinference.TABLE,
)

# Operations that are a call to a model (the rows of /api/v1/calls); others are agent/tool/retrieval steps.
MODEL_OPERATIONS = frozenset(
    {"chat", "text_completion", "generate_content", "embeddings", "completion", "responses"}
)
# Any of these keys marks a span as GenAI-related, so it gets the LLM columns.
_MARKERS = frozenset(
    key for conv in CONVENTIONS for keys in conv.fields.values() for key in keys
    if key.startswith(("gen_ai.", "llm.", "openinference.", "embedding."))
)
_INDEXED_PREFIXES = tuple(
    p for conv in CONVENTIONS for p in (
        conv.indexed_prompt, conv.indexed_completion, conv.indexed_input, conv.indexed_output,
        conv.indexed_prompts, conv.indexed_choices, conv.retrieval_documents,
    ) if p
)
_INT_FIELDS = ("input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "reasoning_tokens")
SEGMENT_PREFIX = "llm_monitor.segment."
TAGS_KEY = "llm_monitor.tags"


@dataclass(frozen=True)
class NormalizeOptions:
    """segment label -> attribute keys (span first, then resource) it is read from."""

    segment_attributes: Mapping[str, list[str]] = field(default_factory=dict)


def normalize_span(span: Span, options: NormalizeOptions) -> Span:
    """Fill ``span.llm``, ``span.tags`` and ``span.segment`` in place; returns the span."""
    attrs = span.attributes
    span.segment = _segment(attrs, span.resource, options) or None
    span.tags = _tags(attrs, span.resource)
    if _is_genai(attrs, span):
        span.llm = _llm_call(span)
    return span


def is_model_call(call: LLMCall | None) -> bool:
    return call is not None and call.operation in MODEL_OPERATIONS


def _is_genai(attrs: dict[str, Any], span: Span) -> bool:
    if any(key in _MARKERS for key in attrs):
        return True
    return any(key.startswith(_INDEXED_PREFIXES) for key in attrs)


def _first(attrs: dict[str, Any], name: str) -> Any:
    for conv in CONVENTIONS:
        for key in conv.fields.get(name, ()):
            value = attrs.get(key)
            if value is not None and value != "":
                mapping = conv.value_maps.get(name)
                if mapping is not None and value in mapping:
                    value = mapping[value]
                    if value is None:
                        continue
                return value
    return None


def _as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 <= number < 2**31 else None


def _llm_call(span: Span) -> LLMCall:
    attrs = span.attributes
    call = LLMCall()
    for name in ("operation", "provider", "request_model", "response_model", "server_address",
                 "user_id", "session_id", "response_id"):
        value = _first(attrs, name)
        if value is not None:
            setattr(call, name, str(value))
    for name in _INT_FIELDS:
        setattr(call, name, _as_int(_first(attrs, name)))
    if call.total_tokens is None and call.input_tokens is not None and call.output_tokens is not None:
        call.total_tokens = call.input_tokens + call.output_tokens
    if call.provider:
        provider = call.provider.lower()
        call.provider = genai.PROVIDER_ALIASES.get(provider, provider)
    if call.operation is None and (call.request_model or call.input_tokens is not None):
        call.operation = "chat"
    call.finish_reasons = _finish_reasons(attrs)
    call.error_type = _error_type(attrs, span)
    call.ttft_ms = _ttft_ms(attrs, span)
    if call.server_address and "://" in call.server_address:
        call.server_address = call.server_address.split("://", 1)[1].split("/", 1)[0]
    reported = _first(attrs, "reported_cost")
    if reported is not None:
        call.cost_usd, call.cost_source = float(reported), "reported"
    _fill_content(call, span)
    return call


def _finish_reasons(attrs: dict[str, Any]) -> list[str] | None:
    value = _first(attrs, "finish_reasons")
    if value is None:
        indexed = _indexed(attrs, openllmetry.TABLE.indexed_completion or "")
        reasons = [str(v["finish_reason"]) for _, v in sorted(indexed.items()) if v.get("finish_reason")]
        return reasons or None
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in value] or None


def _error_type(attrs: dict[str, Any], span: Span) -> str | None:
    value = attrs.get("error.type")
    if value:
        return str(value)
    if span.status_code == STATUS_ERROR:
        return (span.status_message or "_OTHER")[:200]
    return None


def _ttft_ms(attrs: dict[str, Any], span: Span) -> float | None:
    seconds = _first(attrs, "ttft_s")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return float(seconds) * 1000.0
    # OpenInference marks the first streamed token with an event; OpenLLMetry one per chunk.
    for event in span.events:
        name = event.get("name", "")
        if name == "First Token Stream Event" or name.endswith("completion.chunk"):
            return max(event.get("time_ns", 0) - span.start_ns, 0) / 1e6
    return None


def _indexed(attrs: dict[str, Any], prefix: str) -> dict[int, dict[str, Any]]:
    """``prefix.N.rest = v`` attributes grouped as ``{N: {rest: v}}``."""
    out: dict[int, dict[str, Any]] = {}
    if not prefix:
        return out
    for key, value in attrs.items():
        if key.startswith(prefix):
            head, _, rest = key[len(prefix):].partition(".")
            if head.isdigit() and rest:
                out.setdefault(int(head), {})[rest] = value
    return out


def _indexed_messages(attrs: dict[str, Any], prefix: str | None, role_key: str, content_key: str,
                      default_role: str) -> list[Message]:
    if not prefix:
        return []
    out = []
    for _, fields in sorted(_indexed(attrs, prefix).items()):
        text = content_text(fields.get(content_key))
        if not text:  # OpenInference multi-part contents
            parts = [v for k, v in sorted(fields.items()) if k.endswith("message_content.text")]
            text = "\n".join(str(p) for p in parts)
        calls = sorted(k for k in fields if k.endswith("function.name") or k.endswith(".name"))
        if not text and calls:
            text = "\n".join(f"[tool_call {fields[k]}]" for k in calls if "tool_call" in k)
        out.append(Message(str(fields.get(role_key) or default_role), text))
    return out


def _fill_content(call: LLMCall, span: Span) -> None:
    attrs = span.attributes
    inputs, outputs, system = _content_from_attributes(attrs)
    if not inputs and not outputs:
        events = [(e.get("name"), e.get("attributes") or {}, None) for e in span.events]
        inputs, outputs, ev_system = messages_from_events(events)
        system = system or ev_system
    inputs, in_system = split_system(inputs)
    call.system_instructions = system or in_system
    call.input_text = render(inputs)
    call.output_text = render(outputs) if len(outputs) != 1 else (outputs[0].text or None)
    docs = _indexed(attrs, openinference.TABLE.retrieval_documents or "")
    texts = [str(d["document.content"]) for _, d in sorted(docs.items()) if d.get("document.content")]
    call.retrieval_context = texts or None


def _content_from_attributes(attrs: dict[str, Any]) -> tuple[list[Message], list[Message], str | None]:
    cur, leg, oll, oi = genai.CURRENT, genai.LEGACY, openllmetry.TABLE, openinference.TABLE
    system = None
    if attrs.get(cur.system_instructions or "") is not None:
        system = content_text(attrs[cur.system_instructions or ""]) or None
    inputs = parse_messages(attrs.get(cur.input_messages or ""))
    outputs = parse_messages(attrs.get(cur.output_messages or ""), "assistant")
    if not inputs:
        inputs = (
            _indexed_messages(attrs, oll.indexed_prompt, "role", "content", "user")
            or _indexed_messages(attrs, oi.indexed_input, "message.role", "message.content", "user")
            or _indexed_messages(attrs, oi.indexed_prompts, "role", "prompt.text", "user")
            or parse_messages(attrs.get(leg.legacy_prompt or ""))
            or _plain(attrs.get(oi.plain_input or ""), "user")
        )
    if not outputs:
        outputs = (
            _indexed_messages(attrs, oll.indexed_completion, "role", "content", "assistant")
            or _indexed_messages(attrs, oi.indexed_output, "message.role", "message.content", "assistant")
            or _indexed_messages(attrs, oi.indexed_choices, "role", "completion.text", "assistant")
            or parse_messages(attrs.get(leg.legacy_completion or ""), "assistant")
            or _plain(attrs.get(oi.plain_output or ""), "assistant")
        )
    return inputs, outputs, system


def _plain(value: Any, role: str) -> list[Message]:
    """OpenInference ``input.value``: plain text, or a JSON request/response body."""
    if value is None:
        return []
    doc = load_json(value)
    if isinstance(doc, dict):
        if isinstance(doc.get("messages"), list):
            return parse_messages(doc["messages"], role)
        if isinstance(doc.get("choices"), list):
            return [
                Message(role, content_text((c.get("message") or {}).get("content") or c.get("text")))
                for c in doc["choices"] if isinstance(c, dict)
            ]
        if "prompt" in doc:
            return [Message(role, content_text(doc["prompt"]))]
        return []
    return [Message(role, str(value))]


def _segment(attrs: dict[str, Any], resource: dict[str, Any], options: NormalizeOptions) -> dict[str, str]:
    segment: dict[str, str] = {}
    for source in (resource, attrs):
        for key, value in source.items():
            if key.startswith(SEGMENT_PREFIX) and value is not None:
                segment[key[len(SEGMENT_PREFIX):]] = str(value)
    for label, keys in options.segment_attributes.items():
        if label in segment:
            continue
        for key in keys:
            value = attrs.get(key, resource.get(key))
            if value is not None:
                segment[label] = str(value)
                break
    return segment


def _tags(attrs: dict[str, Any], resource: dict[str, Any]) -> list[str] | None:
    tags: list[str] = []
    for key in (TAGS_KEY, openinference.TABLE.tags or ""):
        for source in (resource, attrs):
            value = source.get(key)
            if isinstance(value, str):
                value = [value]
            if isinstance(value, list):
                tags.extend(str(v) for v in value if v is not None and str(v) not in tags)
    return tags or None
