"""HMAC-SHA256 webhook signatures over ``timestamp + "." + body``, and their verification.

The sender puts the Unix timestamp in ``X-LLM-Monitor-Timestamp`` and ``v1=<hex>`` in
``X-LLM-Monitor-Signature``. A receiver recomputes the HMAC with the shared secret, compares in
constant time, and rejects timestamps outside a tolerance, so a captured request replayed later
fails even though its signature was once valid (pair it with the ``Idempotency-Key`` header to
drop retries of a request already handled).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-LLM-Monitor-Timestamp"
SIGNATURE_HEADER = "X-LLM-Monitor-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_S = 300


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``v1=<hex>`` signature of ``body`` sent at ``timestamp``."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, str(int(timestamp)).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signed_headers(secret: str | bytes, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Timestamp and signature headers for one request."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, ts, body)}


def verify_signature(secret: str | bytes, body: bytes, timestamp: str | int | None, signature: str | None,
                     tolerance_s: float = DEFAULT_TOLERANCE_S, now: float | None = None) -> bool:
    """True only if ``signature`` is ours for this exact body and the timestamp is recent.

    ``signature`` may list several comma-separated ``v1=`` values (during a secret rotation).
    """
    if timestamp is None or not signature:
        return False
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        return False
    expected = sign(secret, ts, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in signature.split(","))


def verify_request(secret: str | bytes, body: bytes, headers: Mapping[str, str],
                   tolerance_s: float = DEFAULT_TOLERANCE_S, now: float | None = None) -> bool:
    """``verify_signature`` reading the two headers from a (case-insensitive or plain) mapping."""
    lower = {k.lower(): v for k, v in headers.items()}
    return verify_signature(secret, body, lower.get(TIMESTAMP_HEADER.lower()),
                            lower.get(SIGNATURE_HEADER.lower()), tolerance_s, now)
