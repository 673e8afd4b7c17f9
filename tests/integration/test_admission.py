"""Overload refusals happen before a request body is read, and keep the connection usable.

Why it matters: a body the server reads only to refuse costs its full size in memory, so under a
burst over many connections memory would grow with the number of clients (docs/reliability.md,
"Overload"). These tests declare a large body, send none of it, and still get the 429 at once.
"""

from __future__ import annotations

import socket
import time

import httpx

from monitor.config import Settings
from monitor.server import start_in_thread
from tests.otlp_builders import chat_attrs, make_span, request


def _headers(port: int, length: int) -> bytes:
    return (f"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-protobuf\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def _answer(sock: socket.socket, timeout_s: float = 5) -> bytes:
    """Read until the end of one response (headers + Content-Length body)."""
    sock.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_requests_beyond_the_admission_limit_are_refused_unread(settings: Settings) -> None:
    settings.server.max_inflight_requests = 1
    handle = start_in_thread(settings, with_grpc=False)
    port = handle.http_port
    try:
        with socket.create_connection(("127.0.0.1", port)) as slow, socket.create_connection(("127.0.0.1", port)) as c:
            slow.sendall(_headers(port, 10_000_000) + b"\0" * 1000)  # in flight: its body is being read
            time.sleep(0.3)
            t0 = time.monotonic()
            c.sendall(_headers(port, 50_000_000))  # none of the 50 MB is sent
            head = _answer(c)
            assert head.startswith(b"HTTP/1.1 429"), head
            assert b"retry-after: 1" in head.lower()
            assert time.monotonic() - t0 < 2
            # the connection stays usable: the server discards the rest of the refused body
            slow.close()
            time.sleep(0.2)
            c.sendall(b"\0" * 50_000_000)
            body = request([make_span(chat_attrs())]).SerializeToString()
            c.sendall(_headers(port, len(body)) + body)
            assert _answer(c, 30).startswith(b"HTTP/1.1 200")
    finally:
        handle.stop()


def test_a_full_write_gate_refuses_before_reading_the_body(settings: Settings) -> None:
    settings.server.max_pending_writes = 1
    handle = start_in_thread(settings, with_grpc=False)
    port = handle.http_port
    try:
        with handle.app.state.gate, socket.create_connection(("127.0.0.1", port)) as c:  # a long write holds it
            c.sendall(_headers(port, 50_000_000))
            head = _answer(c)
            assert head.startswith(b"HTTP/1.1 429") and b"retry-after: 1" in head.lower(), head
        body = request([make_span(chat_attrs())]).SerializeToString()
        resp = httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=body,
                          headers={"Content-Type": "application/x-protobuf"})
        assert resp.status_code == 200
    finally:
        handle.stop()
