"""Plain value objects shared by the collectors, the store and the query layer.

They know nothing of HTTP, protobuf or SQL, so every layer can be tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# OTLP enums (opentelemetry-proto trace.proto)
SPAN_KIND_NAMES = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2


@dataclass(slots=True)
class LLMCall:
    """The normalised view of one LLM request, whatever convention its span used."""

    operation: str | None = None
    provider: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    finish_reasons: list[str] | None = None
    error_type: str | None = None
    ttft_ms: float | None = None
    server_address: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    response_id: str | None = None
    input_text: str | None = None
    output_text: str | None = None
    system_instructions: str | None = None
    retrieval_context: list[str] | None = None
    cost_usd: float | None = None
    cost_source: str | None = None

    @property
    def model(self) -> str | None:
        """The model that answered, falling back to the one requested."""
        return self.response_model or self.request_model


@dataclass(slots=True)
class Span:
    """One OTLP span, decoded; ``llm`` is filled by normalisation for LLM spans."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str | None
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope_name: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    service_name: str | None = None
    tags: list[str] | None = None
    segment: dict[str, str] | None = None
    llm: LLMCall | None = None

    @property
    def duration_ms(self) -> float:
        return max(self.end_ns - self.start_ns, 0) / 1e6


@dataclass(slots=True)
class LogEvent:
    """One OTLP log record; GenAI content sometimes arrives this way instead of on spans."""

    trace_id: str | None
    span_id: str | None
    time_ns: int
    event_name: str | None
    severity: str | None
    body: Any
    attributes: dict[str, Any]
    resource: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A span (or record) that could not be accepted, with the reason sent back to the client."""

    index: int
    reason: str


@dataclass(slots=True)
class DecodedBatch:
    """What a decoder produced from one request: the accepted items and the rejected ones."""

    spans: list[Span] = field(default_factory=list)
    logs: list[LogEvent] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Project:
    rowid: int
    name: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a project and the scopes of the key that authenticated it."""

    project: Project
    scopes: frozenset[str]
    key_id: int | None = None
