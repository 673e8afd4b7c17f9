"""API keys: stored hashed, scoped to a project, required once one exists or off loopback."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.auth import Authenticator
from monitor.config import Settings
from monitor.errors import AuthError, ConfigError
from monitor.server import start_in_thread
from monitor.store.keys import create_key, hash_key, revoke_key
from monitor.store.models import ApiKeyRow
from tests.otlp_builders import chat_attrs, make_span, request

PB = {"Content-Type": "application/x-protobuf"}


def test_keys_are_stored_hashed(engine: Engine) -> None:
    secret, info = create_key(engine, "alpha", "ci")
    with Session(engine) as s:
        row = s.scalar(select(ApiKeyRow))
    assert row is not None and row.key_hash == hash_key(secret)
    assert secret not in (row.key_hash, row.prefix, row.name)
    assert info.prefix == secret[:10]


def test_auto_mode_is_open_only_on_loopback_without_keys(db_url: str, engine: Engine) -> None:
    settings = Settings(database_url=db_url)
    assert Authenticator(engine, settings, "127.0.0.1").open
    assert not Authenticator(engine, settings, "0.0.0.0").open
    create_key(engine, "alpha")
    assert not Authenticator(engine, settings, "127.0.0.1").open
    with pytest.raises(ConfigError):
        Authenticator(engine, Settings(database_url=db_url, auth="disabled"), "0.0.0.0")


def test_keys_isolate_projects_and_revocation_works(db_url: str, engine: Engine) -> None:
    key_a, _ = create_key(engine, "alpha")
    key_b, _ = create_key(engine, "beta")
    ingest_only, _ = create_key(engine, "alpha", scopes=("ingest",))
    handle = start_in_thread(Settings(database_url=db_url, server={"key_cache_ttl_s": 0}), with_grpc=False)
    base = f"http://127.0.0.1:{handle.http_port}"
    try:
        body = request([make_span(chat_attrs())]).SerializeToString()
        assert httpx.post(f"{base}/v1/traces", content=body, headers=PB).status_code == 401
        bad = {**PB, "Authorization": "Bearer lm_not-a-key"}
        assert httpx.post(f"{base}/v1/traces", content=body, headers=bad).status_code == 401
        assert httpx.post(f"{base}/v1/traces", content=body,
                          headers={**PB, "Authorization": f"Bearer {key_a}"}).status_code == 200
        assert httpx.get(f"{base}/api/v1/calls").status_code == 401
        calls_a = httpx.get(f"{base}/api/v1/calls", headers={"Authorization": f"Bearer {key_a}"}).json()
        calls_b = httpx.get(f"{base}/api/v1/calls", headers={"Authorization": f"Bearer {key_b}"}).json()
        assert len(calls_a["items"]) == 1 and calls_b["items"] == []
        trace_id = calls_a["items"][0]["trace_id"]
        assert httpx.get(f"{base}/api/v1/traces/{trace_id}",
                         headers={"Authorization": f"Bearer {key_b}"}).status_code == 404
        assert httpx.get(f"{base}/api/v1/calls",
                         headers={"Authorization": f"Bearer {ingest_only}"}).status_code == 401
        revoke_key(engine, key_a[:10])
        assert httpx.post(f"{base}/v1/traces", content=body,
                          headers={**PB, "Authorization": f"Bearer {key_a}"}).status_code == 401
        assert httpx.get(f"{base}/healthz").status_code == 200
    finally:
        handle.stop()


def test_principal_rejects_malformed_headers(db_url: str, engine: Engine) -> None:
    create_key(engine, "alpha")
    auth = Authenticator(engine, Settings(database_url=db_url), "127.0.0.1")
    for header in (None, "", "Basic abc", "Bearer", "Bearer  "):
        with pytest.raises(AuthError):
            auth.principal(header, "ingest")


def test_grpc_requires_the_key_too(db_url: str, engine: Engine) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    key, _ = create_key(engine, "alpha")
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("chat m") as span:
        span.set_attribute("gen_ai.request.model", "m")
    spans = memory.get_finished_spans()
    handle = start_in_thread(Settings(database_url=db_url, server={"key_cache_ttl_s": 0}))
    target = f"127.0.0.1:{handle.grpc_port}"
    try:
        anonymous = OTLPSpanExporter(endpoint=target, insecure=True, timeout=5)
        assert anonymous.export(spans) == SpanExportResult.FAILURE
        keyed = OTLPSpanExporter(endpoint=target, insecure=True, headers={"authorization": f"Bearer {key}"})
        assert keyed.export(spans) == SpanExportResult.SUCCESS
        base = f"http://127.0.0.1:{handle.http_port}"
        calls = httpx.get(f"{base}/api/v1/calls", headers={"Authorization": f"Bearer {key}"}).json()["items"]
        assert [c["request_model"] for c in calls] == ["m"]
    finally:
        handle.stop()
