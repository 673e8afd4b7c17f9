"""Alerting: rules over metrics, scores, drift and absence; a state machine; a durable webhook outbox.

Only pure pieces are imported here (``monitor.config`` imports ``RuleSpec``); the database and
HTTP parts live in their modules: ``evaluate``, ``state``, ``outbox``, ``sender``, ``service``.
"""

from monitor.alerts.errors import AlertError, RuleConflict, RuleNotFound, UnsafeWebhookURL
from monitor.alerts.rules import RuleSpec, parse_duration
from monitor.alerts.signing import sign, signed_headers, verify_request, verify_signature

__all__ = [
    "AlertError", "RuleConflict", "RuleNotFound", "RuleSpec", "UnsafeWebhookURL", "parse_duration", "sign",
    "signed_headers", "verify_request", "verify_signature",
]
