"""Response models of the REST API (they shape /openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class Call(BaseModel):
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service_name: str | None
    start_time: datetime
    end_time: datetime
    duration_ms: float
    status_code: int
    status_message: str | None
    operation: str | None
    provider: str | None
    request_model: str | None
    response_model: str | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cached_input_tokens: int | None
    reasoning_tokens: int | None
    finish_reasons: list[str] | None
    error_type: str | None
    ttft_ms: float | None
    server_address: str | None
    user_id: str | None
    session_id: str | None
    response_id: str | None
    tags: list[str] | None
    segment: dict[str, str] | None
    input_text: str | None
    output_text: str | None
    system_instructions: str | None
    retrieval_context: list[str] | None
    cost_usd: float | None
    cost_source: str | None


class CallPage(BaseModel):
    items: list[Call]
    next_cursor: str | None


class TraceSpan(Call):
    kind: int
    scope_name: str | None
    is_llm: bool
    attributes: dict[str, Any]
    resource: dict[str, Any]
    events: list[dict[str, Any]] | None
    links: list[dict[str, Any]] | None
    children: list[TraceSpan]


class Trace(BaseModel):
    trace_id: str
    span_count: int
    roots: list[TraceSpan]


class SummaryGroup(BaseModel):
    group: str | None
    requests: int
    errors: int
    error_rate: float
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    latency_ms_p99: float | None
    ttft_ms_p50: float | None
    ttft_ms_p95: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    priced_requests: int


class Summary(BaseModel):
    start: datetime | None
    end: datetime | None
    group_by: str | None
    groups: list[SummaryGroup]


class Health(BaseModel):
    status: str
