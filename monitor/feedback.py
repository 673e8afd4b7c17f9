"""Human feedback on a trace or call, stored as scores with source ``human``.

Feedback often arrives before the spans it is about (an application posts a thumbs-up the moment
the user clicks, while its exporter still holds the spans for a second), so a feedback that names
only a trace is stored against the trace (``span_id`` empty) and never refused for a trace we have
not seen yet; readers match it to the trace's LLM call when they need a model or an evaluator score.
One feedback becomes one score row per signal it carries:

- ``thumbs`` → score ``thumbs``: 1 for up, 0 for down;
- ``rating`` (1–5) → score ``rating``: (rating − 1) / 4, label ``"4/5"``;
- ``criterion`` + ``value`` → a score named after the criterion (``relevance``, ``toxicity``,
  ``hallucination`` or a custom judge's name), on the *same scale as that evaluator's score*
  (1 = relevant / toxic / hallucinated), so the two can be compared directly;
- ``comment`` → the explanation of every row above, or a ``comment`` score of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select

from monitor.store.models import ScoreRow, SpanRow

HUMAN_SOURCE = "human"
THUMBS, RATING, COMMENT = "thumbs", "rating", "comment"
MAX_COMMENT_CHARS = 10_000
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")
_NAME = re.compile(r"^[A-Za-z0-9_.\-:]{1,100}$")
_TRUE = {"yes", "true", "1", "positive"}
_FALSE = {"no", "false", "0", "negative"}


class FeedbackError(ValueError):
    """The feedback is malformed; the message says which field and why."""


@dataclass(frozen=True)
class Feedback:
    """One person's verdict on a trace or one of its calls."""

    trace_id: str
    span_id: str | None = None
    thumbs: str | None = None  # "up" | "down"
    rating: int | None = None  # 1..5
    criterion: str | None = None
    value: float | None = None  # 0..1 on the criterion evaluator's scale
    label: str | None = None
    comment: str | None = None
    user: str | None = None  # who gave it

    def validated(self) -> Feedback:
        """A normalised copy (lower-case ids, value from a yes/no label), or FeedbackError."""
        if not _HEX32.match(self.trace_id or ""):
            raise FeedbackError("trace_id must be 32 hex digits")
        if self.span_id is not None and not _HEX16.match(self.span_id):
            raise FeedbackError("span_id must be 16 hex digits")
        if self.thumbs is not None and self.thumbs not in ("up", "down"):
            raise FeedbackError("thumbs must be 'up' or 'down'")
        if self.rating is not None and (isinstance(self.rating, bool) or self.rating not in range(1, 6)):
            raise FeedbackError("rating must be an integer from 1 to 5")
        value = self.value
        if self.criterion is not None:
            if not _NAME.match(self.criterion):
                raise FeedbackError("criterion must be 1-100 letters, digits or _.-: (e.g. relevance)")
            if value is None and self.label is not None:
                value = _value_from_label(self.label)
            if value is None:
                raise FeedbackError(f"criterion {self.criterion!r} needs a value (0..1) or a yes/no label")
        elif value is not None:
            raise FeedbackError("value needs a criterion (e.g. criterion='relevance')")
        if value is not None and not (0.0 <= float(value) <= 1.0):
            raise FeedbackError("value must be between 0 and 1")
        if self.comment is not None and len(self.comment) > MAX_COMMENT_CHARS:
            raise FeedbackError(f"comment is longer than {MAX_COMMENT_CHARS} characters")
        if self.user is not None and len(self.user) > 200:
            raise FeedbackError("user is longer than 200 characters")
        if self.label is not None and len(self.label) > 100:
            raise FeedbackError("label is longer than 100 characters")
        if self.thumbs is None and self.rating is None and self.criterion is None and not self.comment:
            raise FeedbackError("feedback needs at least one of thumbs, rating, criterion or comment")
        return Feedback(self.trace_id.lower(), self.span_id.lower() if self.span_id else None, self.thumbs,
                        self.rating, self.criterion, None if value is None else float(value), self.label,
                        self.comment, self.user)


def _value_from_label(label: str) -> float | None:
    text = label.strip().lower()
    if text in _TRUE:
        return 1.0
    if text in _FALSE:
        return 0.0
    return None


def score_rows(feedback: Feedback) -> list[dict[str, Any]]:
    """The score rows one (validated) feedback becomes, without project or span row ids."""
    rows: list[dict[str, Any]] = []
    if feedback.thumbs is not None:
        rows.append({"name": THUMBS, "value": 1.0 if feedback.thumbs == "up" else 0.0, "label": feedback.thumbs})
    if feedback.rating is not None:
        rows.append({"name": RATING, "value": (feedback.rating - 1) / 4, "label": f"{feedback.rating}/5"})
    if feedback.criterion is not None:
        label = feedback.label or ("yes" if (feedback.value or 0.0) >= 0.5 else "no")
        rows.append({"name": feedback.criterion, "value": feedback.value, "label": label})
    if not rows:
        rows.append({"name": COMMENT, "value": None, "label": None})
    details = {"by": feedback.user} if feedback.user else None
    for row in rows:
        row.update(trace_id=feedback.trace_id, span_id=feedback.span_id, explanation=feedback.comment,
                   source=HUMAN_SOURCE, details=details)
    return rows


def record_feedback(engine: Engine, project_rowid: int, feedback: Feedback) -> list[int]:
    """Validate and store one feedback in one transaction; returns the new score ids."""
    feedback = feedback.validated()
    rows = score_rows(feedback)
    with engine.begin() as conn:
        span_rowid = None
        if feedback.span_id:
            span_rowid = conn.execute(select(SpanRow.id).where(
                SpanRow.project_rowid == project_rowid, SpanRow.trace_id == feedback.trace_id,
                SpanRow.span_id == feedback.span_id)).scalar()
        ids = []
        for row in rows:
            result = conn.execute(insert(ScoreRow).values(project_rowid=project_rowid, span_rowid=span_rowid, **row)
                                  .returning(ScoreRow.id))
            ids.append(int(result.scalar_one()))
    return ids
