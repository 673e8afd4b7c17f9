"""Admission control for the OTLP/HTTP receiver: refuse before a request body is read.

Why: the write gate (``monitor.ingest.WriteGate``) bounds how many requests are *written* at once,
but a handler reads the whole body before it reaches the gate, so with unbounded concurrent
connections the bodies waiting to be read, decompressed and refused would all sit in memory at
once. This ASGI middleware counts the OTLP requests being handled and answers 429 +
``Retry-After`` (an OTLP ``Status`` in the request's encoding) as soon as more than
``max_inflight`` are, without reading the body. uvicorn stops reading a socket once 64 KiB of an
unread body is buffered, so a refused request costs a bounded amount of memory; after the answer
uvicorn discards the rest of the body and keeps the connection open.

uvicorn's own ``limit_concurrency`` is not used: it answers 503 without ``Retry-After`` and
counts idle keep-alive connections, so many idle clients would make every request fail.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from collectors.otlp.responses import status_body
from collectors.otlp.traces import JSON, PROTOBUF

_GRPC_RESOURCE_EXHAUSTED = 8
OTLP_PATHS = frozenset({"/v1/traces", "/v1/logs", "/v1/metrics"})


class AdmissionLimit:
    """At most ``max_inflight`` OTLP requests are handled at once; the others get 429 + Retry-After.

    Counted on the event loop (no lock needed): the count rises when the request arrives and falls
    when its response is finished, so it covers reading, decoding, waiting for the gate and writing.
    """

    def __init__(self, app: ASGIApp, max_inflight: int, retry_after_s: int) -> None:
        self.app = app
        self.max_inflight = max_inflight
        self.retry_after_s = retry_after_s
        self.inflight = 0
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in OTLP_PATHS:
            await self.app(scope, receive, send)
            return
        if self.inflight >= self.max_inflight:
            self.refused += 1
            await self._refuse(scope, send)
            return
        self.inflight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inflight -= 1

    async def _refuse(self, scope: Scope, send: Send) -> None:
        ctype = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                ctype = value.split(b";", 1)[0].strip().lower()
        media = PROTOBUF if ctype == PROTOBUF.encode() else JSON
        body = status_body(media, _GRPC_RESOURCE_EXHAUSTED, "too many requests in flight; retry later")
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", media.encode()), (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(self.retry_after_s).encode())]})
        await send({"type": "http.response.body", "body": body})
