"""Metrics sent by the real OpenTelemetry Python SDK (HTTP/protobuf and gRPC exporters) to
``/v1/metrics`` are stored on SQLite and PostgreSQL, cumulative and delta, and read back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter
from opentelemetry.metrics import Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from sqlalchemy import Engine, select

from monitor.config import Settings
from monitor.server import ServiceHandle, start_in_thread
from monitor.store.models import MetricPointRow

DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
DELTA = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA,
         UpDownCounter: AggregationTemporality.CUMULATIVE}


@pytest.fixture
def service(settings: Settings) -> Iterator[ServiceHandle]:
    handle = start_in_thread(settings)
    yield handle
    handle.stop()


def emit(exporter: MetricExporter, rounds: int = 2) -> None:
    """GenAI client metrics as an instrumented app records them, exported ``rounds`` times."""
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create({"service.name": "support-bot"}), metric_readers=[reader])
    meter = provider.get_meter("test")
    duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s",
                                      explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
    tokens = meter.create_counter("gen_ai.client.inference.usage.output_tokens", unit="{token}")
    queue = meter.create_up_down_counter("app.queue.depth")
    meter.create_observable_gauge("app.kv_cache.usage", callbacks=[
        lambda _options: [Observation(0.25, {"gen_ai.request.model": "llama"})]])
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.provider.name": "openai"}
    for _ in range(rounds):
        for seconds in (0.05, 0.3, 1.5):
            duration.record(seconds, attrs)
        tokens.add(100, attrs)
        queue.add(2)
        provider.force_flush()
    queue.add(-1)
    provider.shutdown()


def stored(engine: Engine) -> dict[str, list[Any]]:
    table = MetricPointRow.__table__
    out: dict[str, list[Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(select(table).order_by(table.c.time, table.c.id)):
            out.setdefault(row.name, []).append(row)
    return out


def _check_cumulative(found: dict[str, list[Any]], rounds: int) -> None:
    hist = found["gen_ai.client.operation.duration"]
    assert [r.kind for r in hist] == ["histogram"] * (rounds + 1)  # each flush, and the final one at shutdown
    last = hist[-1]
    assert last.histogram["bounds"] == DURATION_BUCKETS and last.histogram["count"] == 3 * rounds
    assert last.histogram["sum"] == pytest.approx(1.85 * rounds) and last.start_time is not None
    instance = last.labels.pop("service.instance.id", None)  # newer SDKs set one per process
    assert last.labels == {"service.name": "support-bot", "gen_ai.operation.name": "chat",
                           "gen_ai.request.model": "gpt-4o-mini", "gen_ai.provider.name": "openai"}
    assert len({r.series_key for r in hist}) == 1 and instance in (None, hist[0].labels.get("service.instance.id"))
    assert last.source == "support-bot" and last.unit == "s"
    tokens = found["gen_ai.client.inference.usage.output_tokens"]
    assert tokens[-1].kind == "counter" and tokens[-1].value == 100 * rounds
    assert found["app.queue.depth"][-1].kind == "gauge" and found["app.queue.depth"][-1].value == 2 * rounds - 1
    kv = found["app.kv_cache.usage"][-1]
    assert kv.kind == "gauge" and kv.value == 0.25 and kv.labels["gen_ai.request.model"] == "llama"


def test_http_protobuf_exporter(service: ServiceHandle, engine: Engine) -> None:
    emit(HttpExporter(endpoint=f"http://127.0.0.1:{service.http_port}/v1/metrics"))
    _check_cumulative(stored(engine), 2)


def test_grpc_exporter(service: ServiceHandle, engine: Engine) -> None:
    emit(GrpcExporter(endpoint=f"127.0.0.1:{service.grpc_port}", insecure=True))
    _check_cumulative(stored(engine), 2)


def test_delta_temporality(service: ServiceHandle, engine: Engine) -> None:
    emit(HttpExporter(endpoint=f"http://127.0.0.1:{service.http_port}/v1/metrics", preferred_temporality=DELTA), 3)
    found = stored(engine)
    hist = found["gen_ai.client.operation.duration"]
    assert {r.kind for r in hist} == {"histogram_delta"} and sum(r.histogram["count"] for r in hist) == 9
    tokens = found["gen_ai.client.inference.usage.output_tokens"]
    assert {r.kind for r in tokens} == {"delta"} and sum(r.value for r in tokens) == 300


def test_json_body_partial_success_and_retry_is_stored_once(service: ServiceHandle, engine: Engine) -> None:
    url = f"http://127.0.0.1:{service.http_port}/v1/metrics"
    doc = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "gen_ai.server.time_to_first_token", "unit": "s", "gauge": {"dataPoints": [
            {"timeUnixNano": "1764000000000000000", "asDouble": 0.12},
            {"timeUnixNano": "0", "asDouble": 9.9},
        ]}},
    ]}]}]}
    for _ in range(2):  # a client retry
        resp = httpx.post(url, content=json.dumps(doc), headers={"Content-Type": "application/json"})
        assert resp.status_code == 200
        assert resp.json()["partialSuccess"]["rejectedDataPoints"] == "1"
        assert "out of range" in resp.json()["partialSuccess"]["errorMessage"]
    rows = stored(engine)["gen_ai.server.time_to_first_token"]
    assert [r.value for r in rows] == [0.12] and rows[0].source == "otlp"
    ok = httpx.post(url, content=b"", headers={"Content-Type": "application/x-protobuf"})
    assert ok.status_code == 200 and ExportMetricsServiceResponse.FromString(ok.content).partial_success.ByteSize() == 0


@pytest.mark.parametrize(("body", "ctype", "status"), [
    (b"\xff\xff\xff", "application/x-protobuf", 400),
    (b'{"resourceMetrics": 7}', "application/json", 400),
    (b"{}", "text/plain", 415),
])
def test_bad_metrics_bodies_get_clear_errors(service: ServiceHandle, body: bytes, ctype: str, status: int) -> None:
    resp = httpx.post(f"http://127.0.0.1:{service.http_port}/v1/metrics", content=body,
                      headers={"Content-Type": ctype})
    assert resp.status_code == status
