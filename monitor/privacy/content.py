"""Where prompt and answer text lives in a span or log record, and the filter that redacts or drops it.

Content sits in four places once a span is normalised: the typed columns (``input_text``,
``output_text``, ``system_instructions``, ``retrieval_context``), whole-value attributes
(``gen_ai.input.messages``, ``input.value``, …), indexed attributes (``gen_ai.prompt.N.*``,
``llm.input_messages.N.*``, ``retrieval.documents.N.*``, …) and events (the deprecated
``gen_ai.*`` message events, on spans or as log records). ``ContentFilter`` visits all four, so
the ingest service can apply it at the one point where a span is final before the writer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from collectors.semconv.normalize import CONVENTIONS
from monitor.domain import LogEvent, Span
from monitor.privacy.text import redact_value

# Whole-value attributes that hold prompt, answer, tool or document text.
CONTENT_KEYS = frozenset({
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
    "gen_ai.prompt", "gen_ai.completion", "gen_ai.event.content",
    "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
    "input.value", "output.value", "llm.prompt_template.template", "llm.prompt_template.variables",
    "traceloop.entity.input", "traceloop.entity.output",
})
# ``prefix.N.…`` attributes of every convention (gen_ai.prompt., llm.input_messages., retrieval.documents., …).
CONTENT_PREFIXES = tuple(dict.fromkeys(p for conv in CONVENTIONS for p in conv.indexed_prefixes))
# Under those prefixes, these last key parts are metadata, not text, and survive ``store_content = false``.
_METADATA_TAILS = frozenset({"role", "finish_reason", "id", "score", "name", "type", "mime_type"})
# Event attributes that are never text a user wrote or a model answered.
_EVENT_METADATA = frozenset({"gen_ai.system", "gen_ai.provider.name", "index", "finish_reason", "event.name"})


def is_content_key(key: str) -> bool:
    return key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES)


def is_content_event(name: str | None) -> bool:
    """GenAI events (``gen_ai.user.message``, ``gen_ai.choice``, …) carry messages in full."""
    return bool(name) and name.startswith("gen_ai.")  # type: ignore[union-attr]


def _is_text_attribute(key: str) -> bool:
    return is_content_key(key) and key.rsplit(".", 1)[-1] not in _METADATA_TAILS


class ContentFilter:
    """Redacts (``redact``) and/or drops (``store_content=False``) prompt and answer text, in place.

    Built only when privacy is configured: with the defaults the ingest service holds ``None``
    and pays nothing.
    """

    def __init__(self, redact: Callable[[str], str] | None, store_content: bool = True) -> None:
        self.redact = redact
        self.store_content = store_content

    def span(self, span: Span) -> None:
        if not self.store_content:
            _drop_span_content(span)
        if self.redact is not None:
            self._redact_span(span)

    def log(self, record: LogEvent) -> None:
        content = is_content_event(record.event_name)
        if not self.store_content:
            if content:  # a GenAI event: its body and text attributes are the messages
                record.body = None
                record.attributes = _metadata_only(record.attributes)
            else:  # an application's own log line stays, minus any content attributes it carries
                record.attributes = {k: v for k, v in record.attributes.items() if not _is_text_attribute(k)}
        if self.redact is not None:
            record.body = redact_value(record.body, self.redact)
            record.attributes = self._redact_attributes(record.attributes, everything=content)

    def _redact_span(self, span: Span) -> None:
        redact = self.redact
        assert redact is not None
        call = span.llm
        if call is not None:
            call.input_text = redact(call.input_text) if call.input_text else call.input_text
            call.output_text = redact(call.output_text) if call.output_text else call.output_text
            if call.system_instructions:
                call.system_instructions = redact(call.system_instructions)
            if call.retrieval_context:
                call.retrieval_context = [redact(t) for t in call.retrieval_context]
        span.attributes = self._redact_attributes(span.attributes, everything=False)
        for event in span.events:
            if event.get("attributes"):
                event["attributes"] = self._redact_attributes(event["attributes"], everything=True)

    def _redact_attributes(self, attrs: dict[str, Any], everything: bool) -> dict[str, Any]:
        """Content attributes redacted (every string attribute when ``everything``: events are content)."""
        redact = self.redact
        assert redact is not None
        out = attrs
        for key, value in attrs.items():
            if value is None or isinstance(value, bool | int | float):
                continue
            if everything or is_content_key(key):
                if out is attrs:
                    out = dict(attrs)
                out[key] = redact_value(value, redact)
        return out


def _drop_span_content(span: Span) -> None:
    call = span.llm
    if call is not None:
        call.input_text = call.output_text = call.system_instructions = None
        call.retrieval_context = None
    span.attributes = {k: v for k, v in span.attributes.items() if not _is_text_attribute(k)}
    for event in span.events:
        if is_content_event(event.get("name")) and event.get("attributes"):
            event["attributes"] = _metadata_only(event["attributes"])


def _metadata_only(attrs: dict[str, Any]) -> dict[str, Any]:
    """An event's attributes without its text: numbers, flags and the known metadata keys stay."""
    return {k: v for k, v in attrs.items()
            if k in _EVENT_METADATA or isinstance(v, bool | int | float)}
