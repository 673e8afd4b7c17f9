"""Per-request and per-span limits applied on the ingest path (``[server]`` settings).

What is over a limit is cut down, never refused whole: a value longer than
``max_attribute_value_chars`` is truncated with a marker; attributes beyond
``max_attributes_per_span`` are dropped and their number recorded in
``llm_monitor.dropped_attributes`` (OTLP's ``dropped_attributes_count``, kept where queries see
it); spans beyond ``max_spans_per_request`` are rejected with an OTLP partial success that says
why. Partial success rather than 413: OTLP exporters treat 413 as permanent and drop the whole
batch (the OTel SDKs and the Collector do not split it), while partial success stores the
spans within the limit and puts the reason in the exporter's log.

The body size limit (before and after decompression) is enforced earlier, in
``collectors.otlp.body``; the decoders cut values at ``MAX_VALUE_CHARS``, the ceiling of
``max_attribute_value_chars``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collectors.otlp.values import MAX_VALUE_CHARS, TRUNCATION_MARK
from monitor.domain import LogEvent, Rejected, Span

DROPPED_KEY = "llm_monitor.dropped_attributes"


@dataclass(frozen=True)
class Limits:
    max_value_chars: int = MAX_VALUE_CHARS
    max_attributes: int = 1024
    max_items: int = 100_000  # spans (or log records) per request

    @property
    def cuts_values(self) -> bool:
        """The decoders already cut at ``MAX_VALUE_CHARS``; only a lower limit needs another pass."""
        return self.max_value_chars < MAX_VALUE_CHARS


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + TRUNCATION_MARK


def _cut_value(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return cut(value, limit)
    if isinstance(value, list):
        return [_cut_value(v, limit) for v in value]
    if isinstance(value, dict):
        return {k: _cut_value(v, limit) for k, v in value.items()}
    return value


def limit_attributes(attrs: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """Values cut to length, and the attributes beyond the count dropped (first ones kept, as the
    OTel SDKs do); the number dropped is recorded under ``llm_monitor.dropped_attributes``."""
    if limits.cuts_values:
        attrs = {k: _cut_value(v, limits.max_value_chars) for k, v in attrs.items()}
    if len(attrs) <= limits.max_attributes:
        return attrs
    kept = dict(list(attrs.items())[:limits.max_attributes])
    previous = attrs.get(DROPPED_KEY)
    already = previous if isinstance(previous, int) and not isinstance(previous, bool) else 0
    kept[DROPPED_KEY] = len(attrs) - limits.max_attributes + already
    return kept


def limit_span(span: Span, limits: Limits) -> None:
    """Apply the value and count limits to a normalised span, in place (its LLM columns included)."""
    span.attributes = limit_attributes(span.attributes, limits)
    for event in span.events:
        if event.get("attributes"):
            event["attributes"] = limit_attributes(event["attributes"], limits)
    if not limits.cuts_values:
        return
    n = limits.max_value_chars
    span.name = cut(span.name, n)
    span.status_message = cut(span.status_message, n) if span.status_message else span.status_message
    call = span.llm
    if call is not None:
        call.input_text = cut(call.input_text, n) if call.input_text else call.input_text
        call.output_text = cut(call.output_text, n) if call.output_text else call.output_text
        if call.system_instructions:
            call.system_instructions = cut(call.system_instructions, n)
        if call.retrieval_context:
            call.retrieval_context = [cut(t, n) for t in call.retrieval_context]


def limit_log(record: LogEvent, limits: Limits) -> None:
    record.attributes = limit_attributes(record.attributes, limits)
    if limits.cuts_values:
        record.body = _cut_value(record.body, limits.max_value_chars)


def over_count(items: list[Any], limits: Limits, what: str) -> tuple[list[Any], list[Rejected]]:
    """The items within ``max_items``, and one rejection per item beyond it (partial success)."""
    if len(items) <= limits.max_items:
        return items, []
    reason = (f"request has {len(items)} {what}, over the limit of {limits.max_items} per request "
              f"([server] max_spans_per_request); the first {limits.max_items} were stored, lower the "
              f"exporter's batch size (e.g. OTEL_BSP_MAX_EXPORT_BATCH_SIZE)")
    return items[:limits.max_items], [Rejected(i, reason) for i in range(limits.max_items, len(items))]
