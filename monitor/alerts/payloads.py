"""Notification bodies: the generic JSON document and a Slack-compatible message.

The body is built once, when the notification is written to the outbox, and sent unchanged on
every retry, so a receiver sees the same bytes under the same idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Transition = Literal["firing", "resolved", "renotify", "test"]
SCHEMA_VERSION = 1
_EMOJI = {"firing": ":rotating_light:", "renotify": ":repeat:", "resolved": ":white_check_mark:", "test": ":wrench:"}
_COLOR = {"critical": "#d92d20", "warning": "#f79009", "info": "#2e90fa"}


@dataclass(frozen=True)
class AlertNotice:
    """What one transition of one alert says, independent of the payload format."""

    transition: Transition
    idempotency_key: str
    project: str
    rule: str
    rule_id: int | None
    event_id: int | None
    severity: str
    status: str
    labels: dict[str, str]
    value: float | None
    threshold: float | None
    condition: str
    started_at: datetime | None
    fired_at: datetime | None
    resolved_at: datetime | None
    at: datetime


def generic(notice: AlertNotice) -> dict[str, Any]:
    """The ``json`` format: every field, timestamps in ISO 8601 UTC."""
    return {
        "version": SCHEMA_VERSION,
        "idempotency_key": notice.idempotency_key,
        "transition": notice.transition,
        "at": _iso(notice.at),
        "alert": {
            "project": notice.project, "rule": notice.rule, "rule_id": notice.rule_id, "event_id": notice.event_id,
            "severity": notice.severity, "status": notice.status, "labels": notice.labels, "value": notice.value,
            "threshold": notice.threshold, "condition": notice.condition, "started_at": _iso(notice.started_at),
            "fired_at": _iso(notice.fired_at), "resolved_at": _iso(notice.resolved_at),
        },
    }


def slack(notice: AlertNotice) -> dict[str, Any]:
    """The ``slack`` format: an incoming-webhook message with a coloured attachment."""
    labels = ", ".join(f"{k}={v}" for k, v in sorted(notice.labels.items())) or "-"
    value = "no data" if notice.value is None else f"{notice.value:.4g}"
    title = f"{_EMOJI[notice.transition]} [{notice.transition.upper()}] {notice.rule} ({notice.severity})"
    return {
        "text": f"{title}: {notice.condition}; value {value}",
        "attachments": [{
            "color": "#12b76a" if notice.transition == "resolved" else _COLOR.get(notice.severity, "#667085"),
            "fields": [
                {"title": "Project", "value": notice.project, "short": True},
                {"title": "Value", "value": value, "short": True},
                {"title": "Labels", "value": labels, "short": False},
            ],
            "footer": f"llm-monitor · {notice.idempotency_key}",
            "ts": int(notice.at.timestamp()),
        }],
    }


FORMATS = {"json": generic, "slack": slack}


def render(notice: AlertNotice, fmt: str) -> dict[str, Any]:
    """The body for a webhook of format ``fmt`` (``json`` or ``slack``)."""
    try:
        return FORMATS[fmt](notice)
    except KeyError:
        raise ValueError(f"unknown webhook format {fmt!r}; use one of {', '.join(FORMATS)}") from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
