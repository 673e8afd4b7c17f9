"""Normalisation: any span -> the same ``LLMCall`` fields, whichever convention produced it.

Conventions are tried in a fixed order (current GenAI, pre-1.37 GenAI, vLLM, OpenLLMetry,
OpenInference); the first one that has a usable value for a field wins. Token counts are taken as
reported and never added up twice: cached input is a subset of input, reasoning a subset of
output (OTel GenAI and OpenInference both say so), and a total is only computed when none was
reported.

This runs once per span on the ingest path, so the tables are compiled at import into one index
by attribute key, and prefixed attributes (indexed content, segment labels) are read in one pass. Bad values
(wrong types, negative or absurd counts, broken JSON) give ``None`` or plain text, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from collectors.semconv import genai, openinference, openllmetry, vllm
from collectors.semconv.content import Indexed, fill_content
from collectors.semconv.messages import load_json
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
_GENAI_PREFIXES = ("gen_ai.", "llm.", "openinference.", "embedding.")
# Any of these keys marks a span as GenAI-related, so it gets the LLM columns. Generic keys such as
# ``user.id`` or ``server.address`` are in the tables too but do not mark a span on their own.
_MARKERS = frozenset(
    key for conv in CONVENTIONS for key in (*(k for keys in conv.fields.values() for k in keys), *conv.content_keys)
    if key.startswith(_GENAI_PREFIXES)
)
_INDEXED_PREFIXES = tuple(p for conv in CONVENTIONS for p in conv.indexed_prefixes)
SEGMENT_PREFIX = "llm_monitor.segment."
TAGS_KEY = "llm_monitor.tags"
_SCAN_PREFIXES = (*_INDEXED_PREFIXES, SEGMENT_PREFIX)
# (canonical field, rank, value map or None) that one attribute key feeds; the lowest rank wins.
_Target = tuple[str, int, "Mapping[str, str | None] | None"]


def _key_targets(conventions: tuple[Convention, ...]) -> dict[str, tuple[_Target, ...]]:
    """attribute key -> the fields it feeds, ranked by convention order then key order in the table.

    Built once, so that a span is resolved by one set intersection with its keys instead of one
    lookup per candidate key of every convention (which dominated normalisation time).
    """
    targets: dict[str, tuple[_Target, ...]] = {}
    rank = 0
    for conv in conventions:
        for name, keys in conv.fields.items():
            for key in keys:
                targets[key] = (*targets.get(key, ()), (name, rank, conv.value_maps.get(name)))
                rank += 1
    return targets


_KEY_TARGETS = _key_targets(CONVENTIONS)
_TABLE_KEYS = frozenset(_KEY_TARGETS)
_NO_RANK = 1 << 30
_MAX_TOKENS = 2**31  # the token columns are 32-bit; anything larger is a broken emitter
_TTFT_EVENTS = ("First Token Stream Event",)  # OpenInference; OpenLLMetry: one *completion.chunk per chunk
_MAX_LABEL = 200


@dataclass(frozen=True)
class NormalizeOptions:
    """segment label -> attribute keys (span first, then resource) it is read from."""

    segment_attributes: Mapping[str, list[str]] = field(default_factory=dict)


def normalize_span(span: Span, options: NormalizeOptions) -> Span:
    """Fill ``span.llm``, ``span.tags`` and ``span.segment`` in place; returns the span."""
    attrs = span.attributes
    indexed, labels = _scan_prefixed(attrs)
    span.segment = _segment(labels, attrs, span.resource, options) or None
    span.tags = _tags(attrs, span.resource)
    if indexed or not _MARKERS.isdisjoint(attrs):
        span.llm = _llm_call(span, indexed)
    return span


def is_model_call(call: LLMCall | None) -> bool:
    return call is not None and call.operation in MODEL_OPERATIONS


def _scan_prefixed(attrs: dict[str, Any]) -> tuple[Indexed, dict[str, str]]:
    """One pass over the span's keys for everything found by prefix rather than by name.

    Indexed content (``prefix.N.rest``) is grouped as ``{prefix: {N: {rest: value}}}``; segment
    labels come back as ``{label: value}``. A single ``startswith`` per key keeps this cheap for
    the common span that has neither.
    """
    indexed: Indexed = {}
    labels: dict[str, str] = {}
    for key, value in attrs.items():
        if not key.startswith(_SCAN_PREFIXES):
            continue
        if key.startswith(SEGMENT_PREFIX):
            if value is not None:
                labels[key[len(SEGMENT_PREFIX):]] = str(value)
            continue
        for prefix in _INDEXED_PREFIXES:
            if key.startswith(prefix):
                head, _, rest = key[len(prefix):].partition(".")
                if head.isdecimal() and rest:
                    indexed.setdefault(prefix, {}).setdefault(int(head), {})[rest] = value
                break
    return indexed, labels


def _resolve(attrs: dict[str, Any]) -> dict[str, Any]:
    """Canonical field -> the value of its best-ranked attribute present on the span.

    Empty values and values a table maps to ``None`` (OpenInference ``UNKNOWN``) do not count, so
    a later convention can still supply the field.
    """
    values: dict[str, Any] = {}
    ranks: dict[str, int] = {}
    for key in _TABLE_KEYS.intersection(attrs):
        value = attrs[key]
        if value is None or value == "":
            continue
        for name, rank, mapping in _KEY_TARGETS[key]:
            current = value
            if mapping is not None and isinstance(value, str) and value in mapping:
                current = mapping[value]
                if current is None:
                    continue
            if rank < ranks.get(name, _NO_RANK):
                ranks[name] = rank
                values[name] = current
    return values


def _as_str(value: Any) -> str | None:
    """Scalars only: a list or map where a name belongs is a broken emitter, not a name."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _as_int(value: Any) -> int | None:
    """A token count: ints, integral floats and numeric strings; negative or absurd ones are dropped."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
    elif isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit()):
            return None
    elif not isinstance(value, int):
        return None
    number = int(value)
    return number if 0 <= number < _MAX_TOKENS else None


def _as_number(value: Any) -> float | None:
    """A non-negative finite number (seconds, dollars); numeric strings accepted."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


# LLMCall fields copied straight from the resolved values, by the type they must have.
_STR_FIELDS = frozenset({"provider", "request_model", "response_model", "server_address", "user_id", "session_id",
                         "response_id"})
_INT_FIELDS = frozenset({"input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "reasoning_tokens"})


def _copied_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The resolved values that go to LLMCall as they are, checked (well-typed values take a fast path)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in _STR_FIELDS:
            out[name] = value if type(value) is str else _as_str(value)
        elif name in _INT_FIELDS:
            out[name] = value if type(value) is int and 0 <= value < _MAX_TOKENS else _as_int(value)
    return out


def _llm_call(span: Span, indexed: Indexed) -> LLMCall:
    attrs = span.attributes
    values = _resolve(attrs)
    call = LLMCall(**_copied_fields(values))
    call.request_model = call.request_model or _invocation_model(attrs) or call.response_model
    call.provider = _provider(call.provider)
    call.operation = _operation(attrs, values, call, indexed)
    call.total_tokens = _total_tokens(call)
    call.finish_reasons = _finish_reasons(values, indexed)
    call.error_type = _error_type(values, span)
    call.ttft_ms = _ttft_ms(values, span)
    call.server_address = _host(call.server_address)
    reported = _as_number(values.get("reported_cost"))
    if reported is not None:
        call.cost_usd, call.cost_source = reported, "reported"
    fill_content(call, span, indexed, keep_unknown_json=call.operation not in MODEL_OPERATIONS)
    return call


def _invocation_model(attrs: dict[str, Any]) -> str | None:
    """OpenInference keeps the requested model only inside its invocation-parameters JSON."""
    for key in openinference.TABLE.invocation_parameters:
        params = load_json(attrs.get(key))
        if isinstance(params, dict):
            model = _as_str(params.get("model"))
            if model:
                return model
    return None


def _provider(value: str | None) -> str | None:
    """Current provider names: lower case (OpenLLMetry ≤0.47 sent ``OpenAI``), renamed values mapped."""
    if not value:
        return None
    provider = value.strip().lower()
    return genai.PROVIDER_ALIASES.get(provider, provider)


def _operation(attrs: dict[str, Any], values: dict[str, Any], call: LLMCall, indexed: Indexed) -> str | None:
    """The reported operation, refined where a convention is vaguer than GenAI's operation names.

    A span that names a model or counts tokens but no operation is taken as a chat call (vLLM's
    ``llm_request`` serves both APIs and says neither).
    """
    operation = _as_str(values.get("operation"))
    oi = openinference.TABLE
    if (operation == "chat" and oi.fields["operation"][0] in attrs and oi.indexed_input not in indexed
            and (oi.indexed_prompts in indexed or oi.indexed_choices in indexed)):
        # OpenInference marks every model call LLM; prompts/choices without messages is the completions API.
        return "text_completion"
    if operation is None and (call.request_model or call.input_tokens is not None):
        return "chat"
    return operation


def _total_tokens(call: LLMCall) -> int | None:
    """The reported total, else input + output; cached and reasoning are subsets, never added."""
    if call.total_tokens is not None:
        return call.total_tokens
    if call.input_tokens is None:
        return None
    if call.output_tokens is not None:
        total = call.input_tokens + call.output_tokens
        return total if total < _MAX_TOKENS else None
    # Embeddings produce no output tokens, and openai-v2 does not report a zero.
    return call.input_tokens if call.operation == "embeddings" else None


def _finish_reasons(values: dict[str, Any], indexed: Indexed) -> list[str] | None:
    value = values.get("finish_reasons")
    if value is None:
        completions = indexed.get(openllmetry.TABLE.indexed_completion or "", {})
        reasons = [str(completions[i]["finish_reason"]) for i in sorted(completions)
                   if completions[i].get("finish_reason")]
        return reasons or None
    if isinstance(value, str):
        value = load_json(value) if value.startswith("[") else [value]
    if not isinstance(value, list):
        return None
    return [str(v) for v in value if v is not None and v != ""] or None


def _error_type(values: dict[str, Any], span: Span) -> str | None:
    """``error.type``; else, for an ERROR status, the recorded exception's type, then the status message."""
    value = _as_str(values.get("error_type"))
    if value:
        return value[:_MAX_LABEL]
    if span.status_code != STATUS_ERROR:
        return None
    for event in span.events:
        if event.get("name") == "exception":
            exc_type = _as_str((event.get("attributes") or {}).get("exception.type"))
            if exc_type:
                return exc_type[:_MAX_LABEL]
    return (span.status_message or "_OTHER")[:_MAX_LABEL]


def _ttft_ms(values: dict[str, Any], span: Span) -> float | None:
    """Reported time to first chunk/token (seconds), else the first streaming-chunk event's offset."""
    seconds = _as_number(values.get("ttft_s"))
    if seconds is not None:
        return seconds * 1000.0
    first: int | None = None
    for event in span.events:
        name = event.get("name") or ""
        if name in _TTFT_EVENTS or name.endswith("completion.chunk"):
            time_ns = event.get("time_ns") or 0
            first = time_ns if first is None else min(first, time_ns)
    return None if first is None else max(first - span.start_ns, 0) / 1e6


def _host(address: str | None) -> str | None:
    """``server.address`` is a host name; OpenLLMetry's ``api_base`` is a URL (with port and path)."""
    if not address or "://" not in address:
        return address
    try:
        return urlsplit(address).hostname or None
    except ValueError:
        return None


def _segment(span_labels: dict[str, str], attrs: dict[str, Any], resource: dict[str, Any],
             options: NormalizeOptions) -> dict[str, str]:
    """``llm_monitor.segment.<label>`` keys (span over resource), then the configured attributes."""
    segment = {key[len(SEGMENT_PREFIX):]: str(value) for key, value in resource.items()
               if key.startswith(SEGMENT_PREFIX) and value is not None}
    segment.update(span_labels)
    for label, keys in options.segment_attributes.items():
        if label in segment:
            continue
        for key in keys:
            value = attrs.get(key)
            if value is None:
                value = resource.get(key)
            if value is not None:
                segment[label] = str(value)
                break
    return segment


def _tags(attrs: dict[str, Any], resource: dict[str, Any]) -> list[str] | None:
    """``llm_monitor.tags`` and OpenInference ``tag.tags`` (a list, or a JSON list as a string), deduplicated."""
    tags: list[str] = []
    for key in (TAGS_KEY, openinference.TABLE.tags or ""):
        for source in (resource, attrs):
            value = source.get(key)
            if value is None:
                continue
            if isinstance(value, str):
                parsed = load_json(value) if value.startswith("[") else value
                value = parsed if isinstance(parsed, list) else [value]
            if not isinstance(value, list):
                continue
            for item in value:
                text = _as_str(item)
                if text and text not in tags:
                    tags.append(text)
    return tags or None
