"""collectors.otlp.rebalance: every Nth OTLP request of a connection is answered with Connection: close."""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from collectors.otlp.rebalance import ConnectionRecycler


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def _call(app: ConnectionRecycler, client: tuple[str, int], path: str = "/v1/traces",
          method: str = "POST") -> list[tuple[bytes, bytes]]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "client": client, "headers": []}
    asyncio.run(app(scope, receive, send))
    return sent[0]["headers"]


def _closes(headers: list[tuple[bytes, bytes]]) -> bool:
    return (b"connection", b"close") in headers


def test_every_third_otlp_request_of_a_connection_closes_it() -> None:
    app = ConnectionRecycler(_ok, after_requests=3)
    a, b = ("10.0.0.1", 40001), ("10.0.0.1", 40002)
    assert [_closes(_call(app, a)) for _ in range(7)] == [False, False, True, False, False, True, False]
    assert not _closes(_call(app, b)), "another connection counts on its own"
    assert app.closed == 2


def test_only_otlp_posts_count() -> None:
    app = ConnectionRecycler(_ok, after_requests=1)
    client = ("10.0.0.1", 40001)
    assert not _closes(_call(app, client, path="/healthz", method="GET"))
    assert not _closes(_call(app, client, path="/api/v1/calls", method="GET"))
    assert _closes(_call(app, client, path="/v1/logs"))


def test_zero_turns_it_off_and_the_tracked_connections_stay_bounded() -> None:
    off = ConnectionRecycler(_ok, after_requests=0)
    assert not any(_closes(_call(off, ("10.0.0.1", 40001))) for _ in range(5))
    bounded = ConnectionRecycler(_ok, after_requests=10, max_tracked=50)
    for port in range(1000):
        _call(bounded, ("10.0.0.2", port))
    assert len(bounded._counts) == 50
    assert ("10.0.0.2", 999) in bounded._counts and ("10.0.0.2", 0) not in bounded._counts
