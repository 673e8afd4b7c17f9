"""Domain spans -> database rows, the one place the column order of the ingest path lives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from collectors.semconv import is_model_call
from monitor.domain import LLMCall, Span

SPAN_COLUMNS = (
    "project_rowid", "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time",
    "duration_ms", "status_code", "status_message", "service_name", "scope_name", "attributes", "resource",
    "events", "links", "tags", "segment", "is_llm", "operation", "provider", "request_model",
    "response_model", "input_tokens", "output_tokens", "total_tokens", "cached_input_tokens",
    "reasoning_tokens", "finish_reasons", "error_type", "ttft_ms", "server_address", "user_id",
    "session_id", "response_id", "input_text", "output_text", "system_instructions",
    "retrieval_context", "cost_usd", "cost_source", "received_at",
)
JSON_COLUMNS = frozenset({"attributes", "resource", "events", "links", "tags", "segment", "finish_reasons",
                          "retrieval_context"})
_EMPTY_CALL = LLMCall()
_OPTS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str | None:
    """JSON text for a JSON column (``None`` stays SQL NULL)."""
    if value is None:
        return None
    return orjson.dumps(value, option=_OPTS, default=str).decode()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns_to_datetime(ns: int) -> datetime:
    """UTC datetime of an OTLP timestamp (microsecond precision, what both databases keep)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def cut(value: str | None, size: int) -> str | None:
    """Fit a value into a bounded column (PostgreSQL refuses longer strings, SQLite does not)."""
    return value if value is None or len(value) <= size else value[:size]


def span_row(project_rowid: int, span: Span, received_at: datetime) -> tuple[Any, ...]:
    """A tuple in ``SPAN_COLUMNS`` order; JSON columns already serialised."""
    call = span.llm or _EMPTY_CALL
    return (
        project_rowid, span.trace_id, span.span_id, span.parent_span_id, span.name, span.kind,
        ns_to_datetime(span.start_ns), ns_to_datetime(span.end_ns), span.duration_ms, span.status_code,
        span.status_message, cut(span.service_name, 200), cut(span.scope_name, 200), dumps(span.attributes),
        dumps(span.resource),
        dumps(span.events or None), dumps(span.links or None), dumps(span.tags), dumps(span.segment),
        is_model_call(span.llm), cut(call.operation, 64), cut(call.provider, 64), cut(call.request_model, 200),
        cut(call.response_model, 200),
        call.input_tokens, call.output_tokens, call.total_tokens, call.cached_input_tokens,
        call.reasoning_tokens, dumps(call.finish_reasons), cut(call.error_type, 200), call.ttft_ms,
        cut(call.server_address, 200), cut(call.user_id, 200), cut(call.session_id, 200),
        cut(call.response_id, 200), call.input_text,
        call.output_text, call.system_instructions, dumps(call.retrieval_context), call.cost_usd,
        call.cost_source, received_at,
    )
