"""A webhook receiver on loopback that prints each alert it gets, as a team's on-call tool would.

It checks the HMAC signature and drops repeats by ``Idempotency-Key``: what the docs tell users to
do (docs/alerts.md), done here so the demo shows it working.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from monitor.alerts.signing import IDEMPOTENCY_HEADER, verify_request


class AlertReceiver:
    """Listens on 127.0.0.1 (a free port); ``received`` keeps every accepted payload."""

    def __init__(self, secret: str, on_alert: Callable[[dict[str, Any]], None] = lambda _: None) -> None:
        self.secret, self.on_alert = secret, on_alert
        self.received: list[dict[str, Any]] = []
        self.rejected = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-alert-receiver", daemon=True)
        self._thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if not verify_request(receiver.secret, body, dict(self.headers.items())):
                    receiver.rejected += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                key = self.headers.get(IDEMPOTENCY_HEADER) or ""
                with receiver._lock:
                    fresh = key not in receiver._seen
                    receiver._seen.add(key)
                    if fresh:
                        payload = json.loads(body)
                        receiver.received.append(payload)
                if fresh:
                    receiver.on_alert(payload)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the demo prints alerts itself
                return

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
