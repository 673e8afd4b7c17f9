"""``monitor.sdk.feedback(...)``: send a user's thumbs, rating or label for a call to llm-monitor.

It posts to ``/api/v1/feedback`` on the same server and with the same key the spans go to
(``configure(endpoint=, api_key=)`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_HEADERS``).
Called inside an observed function it defaults to the current trace and span. Standard library
only (``urllib``), so the SDK stays light. Feedback is a rare, explicit act: it is sent at once,
and a failure is reported (``FeedbackError``) instead of being dropped silently, unless the caller
asks for ``raise_errors=False``, where it is logged and ``None`` returned.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

from opentelemetry import trace

from monitor.sdk.setup import state

log = logging.getLogger("monitor.sdk")
DEFAULT_ENDPOINT = "http://localhost:4318"


class FeedbackError(RuntimeError):
    """The server refused the feedback or could not be reached; the message says which."""


def feedback(trace_id: str | None = None, span_id: str | None = None, *, thumbs: str | None = None,
             rating: int | None = None, criterion: str | None = None, value: float | None = None,
             label: str | None = None, comment: str | None = None, user: str | None = None,
             raise_errors: bool = True) -> list[int] | None:
    """Attach feedback to a trace (or one call in it); returns the ids of the stored scores.

    ``thumbs`` is "up" or "down"; ``rating`` 1–5; ``criterion`` with ``value`` (0–1, on that
    evaluator's scale: 1 = relevant / toxic / hallucinated) or a yes/no ``label``; ``user`` is who
    gave it.
    """
    if trace_id is None:
        ctx = trace.get_current_span().get_span_context()
        if not ctx.is_valid:
            raise ValueError("feedback() outside a traced call needs trace_id")
        trace_id, span_id = f"{ctx.trace_id:032x}", span_id or f"{ctx.span_id:016x}"
    body = {k: v for k, v in {"trace_id": trace_id, "span_id": span_id, "thumbs": thumbs, "rating": rating,
                               "criterion": criterion, "value": value, "label": label, "comment": comment,
                               "user": user}.items() if v is not None}
    try:
        return _post(body)
    except FeedbackError:
        if raise_errors:
            raise
        log.warning("llm-monitor feedback for trace %s was not stored", trace_id, exc_info=True)
        return None


def _target() -> tuple[str, dict[str, str], float]:
    extra = state().extra
    endpoint = (extra.get("endpoint") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    endpoint = endpoint.removesuffix("/v1/traces")
    headers = {"content-type": "application/json"}
    raw = os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", "")
    if raw:
        from opentelemetry.util.re import parse_env_headers

        headers.update(parse_env_headers(raw, liberal=True))
    if extra.get("api_key"):
        headers["authorization"] = f"Bearer {extra['api_key']}"
    return endpoint + "/api/v1/feedback", headers, float(extra.get("timeout_s") or 10.0)


def _post(body: dict[str, Any]) -> list[int]:
    url, headers, timeout = _target()
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return list(json.loads(response.read())["score_ids"])
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        raise FeedbackError(f"feedback refused by {url}: HTTP {exc.code} {detail}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise FeedbackError(f"feedback could not reach {url}: {exc}") from exc
