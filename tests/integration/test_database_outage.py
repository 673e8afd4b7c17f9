"""While PostgreSQL is unreachable the receiver answers 503 + Retry-After (retryable), never 500,
and once it is back it recovers by itself and loses nothing it acknowledged."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from monitor.config import Settings
from monitor.server import start_in_thread
from monitor.store import make_engine
from monitor.store.engine import PG_CONNECT_ARGS
from monitor.store.keys import create_key
from monitor.store.models import SpanRow
from tests.otlp_builders import chat_attrs, make_span, request
from tests.tcp_proxy import TcpProxy

PB = {"Content-Type": "application/x-protobuf"}


def test_postgres_outage_gives_503_then_recovers(pg_url: str) -> None:
    real = make_url(pg_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    via_proxy = real.set(port=proxy.port).render_as_string(hide_password=False)
    with make_engine(pg_url).begin() as conn:
        conn.exec_driver_sql("TRUNCATE projects, spans RESTART IDENTITY CASCADE")
    handle = start_in_thread(Settings(database_url=via_proxy, auth="disabled"), with_grpc=False)
    base = f"http://127.0.0.1:{handle.http_port}"
    accepted = 0
    try:
        for phase in ("before", "outage", "after"):
            if phase == "outage":
                proxy.cut()
            elif phase == "after":
                proxy.restore()
            for _ in range(3):
                body = request([make_span(chat_attrs()) for _ in range(10)]).SerializeToString()
                resp = httpx.post(f"{base}/v1/traces", content=body, headers=PB, timeout=30)
                if phase == "outage":
                    assert resp.status_code == 503 and resp.headers["Retry-After"] == "1"
                    assert httpx.get(f"{base}/readyz").status_code == 503
                else:
                    assert resp.status_code == 200
                    accepted += 10
        assert httpx.get(f"{base}/readyz").status_code == 200
    finally:
        handle.stop()
        proxy.close()
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(SpanRow)) == accepted == 60
    engine.dispose()


def test_a_hanging_key_lookup_does_not_stall_the_server(pg_url: str) -> None:
    """A key not in the cache is checked in the database; if the database hangs (a network
    partition rather than a refused connection) only that request waits: the lookup runs off the
    event loop, so health checks and other requests are still answered."""
    real = make_url(pg_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    via_proxy = real.set(port=proxy.port).render_as_string(hide_password=False)
    secret, _ = create_key(make_engine(pg_url), "partitioned")
    settings = Settings(database_url=via_proxy, auth="required", server={"key_cache_ttl_s": 0})
    handle = start_in_thread(settings, with_grpc=False)
    base = f"http://127.0.0.1:{handle.http_port}"
    auth = {**PB, "Authorization": f"Bearer {secret}"}
    body = request([make_span(chat_attrs())]).SerializeToString()
    hung: list[int | str] = []
    try:
        assert httpx.post(f"{base}/v1/traces", content=body, headers=auth, timeout=30).status_code == 200
        proxy.stall()

        def send() -> None:
            try:
                hung.append(httpx.post(f"{base}/v1/traces", content=body, headers=auth, timeout=20).status_code)
            except httpx.HTTPError as exc:
                hung.append(type(exc).__name__)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        time.sleep(1.0)  # the ingest request is now waiting on the silent database
        assert not hung
        started = time.monotonic()
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 1.0
    finally:
        proxy.close()  # the waiting lookup fails now: 503, retryable
        handle.stop()
    sender.join(timeout=30)
    assert hung and hung[0] in (503, "ReadTimeout"), hung


def test_connecting_to_a_silent_database_fails_within_the_connect_timeout() -> None:
    """A host that accepts TCP but never answers (a dead server behind a live port) gives an error
    in ``connect_timeout`` seconds, so the thread that asked is freed and the client gets 503."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    accepted: list[object] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{listener.getsockname()[1]}/silent")
    started = time.monotonic()
    try:
        with pytest.raises(OperationalError), engine.connect():
            pass
        assert PG_CONNECT_ARGS["connect_timeout"] - 1 <= time.monotonic() - started < 20
        assert accepted  # the TCP connection was made: the timeout is the database's silence
    finally:
        engine.dispose()
        listener.close()
