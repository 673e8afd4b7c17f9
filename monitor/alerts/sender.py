"""One signed webhook POST, to the address the URL check approved (no redirects followed).

Built on ``http.client`` so the connection goes to the checked IP address while the ``Host``
header and TLS server name stay the URL's host name.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass

from monitor.alerts.urlsafety import Target

MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Outcome:
    """What the receiver answered (``status`` is ``None`` when no answer came)."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = target.address
        self._ctx = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(raw, server_hostname=self.host)


def post(target: Target, body: bytes, headers: dict[str, str], timeout_s: float,
         context: ssl.SSLContext | None = None) -> Outcome:
    """POST ``body``; network errors become an ``Outcome`` with ``error`` instead of raising."""
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = _PinnedHTTPSConnection(target, timeout_s, context or ssl.create_default_context())
    else:
        conn = _PinnedHTTPConnection(target, timeout_s)
    try:
        conn.request("POST", target.path, body=body, headers={"Content-Type": "application/json",
                                                               "User-Agent": "llm-monitor-alerts", **headers})
        response = conn.getresponse()
        detail = response.read(MAX_RESPONSE_BYTES).decode("utf-8", "replace").strip()
        ok = 200 <= response.status < 300
        return Outcome(response.status, None if ok else f"HTTP {response.status}: {detail[:300]}")
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
