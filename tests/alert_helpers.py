"""Test helpers for alerting: a real webhook receiver on loopback, and LLM traffic written through ingest."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine

from monitor.alerts import verify_request
from monitor.domain import LLMCall, Span
from monitor.store import SpanWriter
from monitor.store.keys import get_or_create_project

SECRET = "test-webhook-secret"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def key(self) -> str:
        return self.headers.get("idempotency-key", "")

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that verifies signatures and records every request.

    ``status`` is what it answers; ``stop()`` / ``start()`` take it off and back on the same
    port (connection refused in between), like a receiver that is down for a while.
    """

    secret: str = SECRET
    status: int = 200
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.requests.append(Received(headers, body, verify_request(receiver.secret, body, headers)))
                    status = receiver.status
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        """Block until ``count`` requests arrived (or the timeout), then return them all."""
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.requests)

    def keys(self) -> Counter[str]:
        return Counter(r.key for r in self.requests)


def write_calls(engine: Engine, start: datetime, count: int, every: timedelta, latency_ms: float = 100.0,
                error: bool = False, model: str = "gpt-test", service: str = "bot", project: str = "default") -> None:
    """``count`` LLM calls through the real span writer, starting at ``start``, one per ``every``."""
    rowid = get_or_create_project(engine, project).rowid
    spans = []
    for i in range(count):
        begin = start + every * i
        start_ns = int(begin.timestamp() * 1e9)
        spans.append(Span(
            trace_id=os.urandom(16).hex(), span_id=os.urandom(8).hex(), parent_span_id=None, name="chat",
            kind=3, start_ns=start_ns, end_ns=start_ns + int(latency_ms * 1e6), status_code=2 if error else 1,
            status_message=None, attributes={}, resource={}, service_name=service,
            llm=LLMCall(operation="chat", provider="openai", request_model=model, response_model=model,
                        input_tokens=10, output_tokens=20, error_type="timeout" if error else None)))
    SpanWriter(engine).write_spans(rowid, spans)
