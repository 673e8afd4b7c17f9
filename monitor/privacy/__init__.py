"""Privacy at ingest: redaction of sensitive text and the switch to store no content at all.

Both run on every span and log record after normalisation and before anything is written, so
no unredacted prompt or answer reaches the database (see ``docs/reliability.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from monitor.privacy.content import ContentFilter, is_content_event, is_content_key
from monitor.privacy.detectors import BUILTIN_KINDS, builtin_detectors, luhn_ok, marker, user_detectors
from monitor.privacy.text import TextRedactor

__all__ = ["BUILTIN_KINDS", "ContentFilter", "TextRedactor", "build_content_filter", "build_redactor",
           "is_content_event", "is_content_key", "luhn_ok", "marker"]


def build_redactor(kinds: Sequence[str], patterns: Mapping[str, str]) -> TextRedactor | None:
    """The redactor for the configured kinds and user patterns (user patterns first), or ``None``."""
    detectors = [*user_detectors(patterns), *builtin_detectors(tuple(kinds))]
    return TextRedactor(detectors) if detectors else None


def build_content_filter(kinds: Sequence[str], patterns: Mapping[str, str],
                         store_content: bool) -> ContentFilter | None:
    """``None`` when privacy is off (the default), so the ingest path does no work for it."""
    redactor = build_redactor(kinds, patterns)
    if redactor is None and store_content:
        return None
    return ContentFilter(redactor, store_content)
