"""``monitor.sdk.context(...)``: user, session, tags, metadata and segment labels for every span
started inside the block, across ``asyncio`` tasks and threads that copy the context."""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

SEGMENT_PREFIX = "llm_monitor.segment."
METADATA_PREFIX = "llm_monitor.metadata."
TAGS_KEY = "llm_monitor.tags"

_ATTRIBUTES: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("llm_monitor_sdk_context",
                                                                                    default=None)


def current_attributes() -> dict[str, Any] | None:
    return _ATTRIBUTES.get()


@contextmanager
def context(*, user_id: str | None = None, session_id: str | None = None, tags: Sequence[str] | None = None,
            metadata: Mapping[str, Any] | None = None, segment: Mapping[str, str] | None = None
            ) -> Iterator[None]:
    """Stamp every span started inside the block; nested blocks add to (and override) outer ones."""
    attrs = dict(_ATTRIBUTES.get() or {})
    if user_id is not None:
        attrs["user.id"] = str(user_id)
    if session_id is not None:
        attrs["session.id"] = str(session_id)
        attrs["gen_ai.conversation.id"] = str(session_id)
    if tags:
        merged = list(attrs.get(TAGS_KEY, ()))
        merged += [str(t) for t in tags if str(t) not in merged]
        attrs[TAGS_KEY] = tuple(merged)
    for key, value in (metadata or {}).items():
        attrs[METADATA_PREFIX + key] = value if isinstance(value, str | int | float | bool) else json.dumps(
            value, default=str)
    for key, value in (segment or {}).items():
        attrs[SEGMENT_PREFIX + key] = str(value)
    token = _ATTRIBUTES.set(attrs)
    try:
        yield
    finally:
        _ATTRIBUTES.reset(token)
