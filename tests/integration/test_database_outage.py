"""While PostgreSQL is unreachable the receiver answers 503 + Retry-After (retryable), never 500,
and once it is back it recovers by itself and loses nothing it acknowledged."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from monitor.config import Settings
from monitor.server import start_in_thread
from monitor.store import make_engine
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
