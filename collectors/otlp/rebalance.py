"""Spread keep-alive clients over several ``serve`` processes: close an OTLP connection after N requests.

Why: each worker listens on its own ``SO_REUSEPORT`` socket, and the kernel assigns a *connection* to
a worker once, by hashing its addresses when it opens. Exporters keep their few connections open for
hours, so the split stays as it fell: four connections land 3:1 half the time and 4:0 one time in
eight, and then one worker is the limit while the other idles (SQLite phase-1 rates of ~3.8k instead
of 6–8k spans/s in docs/benchmarks.md). Answering every Nth OTLP request of a connection with
``Connection: close`` makes the client open a new one, which the kernel hashes afresh, so over a
minute each client's load is spread over the workers. A TCP handshake every N requests of hundreds
of spans costs next to nothing, and every OTLP exporter reconnects on its own (HTTP/1.1 says a
client must expect this). Only OTLP POSTs count; the REST API and the probes are left alone.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collectors.otlp.admission import OTLP_PATHS


class ConnectionRecycler:
    """Adds ``Connection: close`` to the ``after_requests``-th OTLP response of each client connection.

    Connections are told apart by the client's address and port (ASGI's ``scope["client"]``); the
    counts of at most ``max_tracked`` connections are kept, the least recently used forgotten first
    (a forgotten connection simply starts counting again).
    """

    def __init__(self, app: ASGIApp, after_requests: int, max_tracked: int = 4096) -> None:
        self.app = app
        self.after_requests = after_requests
        self.max_tracked = max_tracked
        self._counts: dict[tuple[str, int], int] = {}
        self.closed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client") if scope["type"] == "http" else None
        if (self.after_requests <= 0 or client is None or scope["method"] != "POST"
                or scope["path"] not in OTLP_PATHS):
            await self.app(scope, receive, send)
            return
        key = (str(client[0]), int(client[1]))
        served = self._counts.pop(key, 0) + 1  # pop + insert keeps the dict in least-recent-first order
        if served < self.after_requests:
            self._counts[key] = served
            if len(self._counts) > self.max_tracked:
                del self._counts[next(iter(self._counts))]
            await self.app(scope, receive, send)
            return
        self.closed += 1

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)
