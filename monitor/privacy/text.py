"""Redaction of one string, and of the strings inside a nested attribute value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from monitor.privacy.detectors import Detector


class TextRedactor:
    """Runs the configured detectors over text, in order, replacing matches with markers."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.detectors = tuple(detectors)

    def __call__(self, text: str) -> str:
        hints: dict[Callable[[str], bool], bool] = {}  # detectors share pre-checks (card and phone: a digit)
        for detector in self.detectors:
            hint = detector.hint
            if hint is not None:
                if hint not in hints:
                    hints[hint] = hint(text)
                if not hints[hint]:
                    continue
            if detector.run is not None:
                text = detector.run(text)
            else:
                text = detector.pattern.sub(_keep_escape(detector.replace, text), text)
        return text


def _keep_escape(replace: Callable[[Any], str], text: str) -> Callable[[Any], str]:
    """Content attributes are often JSON text: a match that begins right after a backslash began
    on the letter of an escape (``\\n``, ``\\t``), which is kept so the JSON stays valid."""

    def sub(m: Any) -> str:
        out = replace(m)
        start = m.start()
        if out != m.group() and start and text[start - 1] == "\\":
            return m.group()[0] + out
        return out

    return sub


def redact_value(value: Any, redact: Callable[[str], str]) -> Any:
    """Every string inside a (possibly nested) attribute value, redacted; other values unchanged."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_value(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: redact_value(v, redact) for k, v in value.items()}
    return value
