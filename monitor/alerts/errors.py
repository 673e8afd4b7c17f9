"""Alerting errors, under the project's root ``MonitorError``.

    MonitorError
    └── AlertError               a rule cannot be evaluated or stored as asked
        ├── RuleNotFound         no rule with that id or name              -> 404
        ├── RuleConflict         a rule with that name already exists      -> 409
        └── UnsafeWebhookURL     the URL resolves to a refused address
"""

from __future__ import annotations

from monitor.errors import MonitorError


class AlertError(MonitorError):
    """A rule cannot be evaluated or stored as asked."""


class RuleNotFound(AlertError):
    """No rule with that id or name."""


class RuleConflict(AlertError):
    """A rule with that name already exists in the project."""


class UnsafeWebhookURL(AlertError):
    """The webhook URL resolves to a private, loopback or link-local address that is not allow-listed."""
