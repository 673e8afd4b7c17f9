"""OTLP metrics decoding (protobuf and JSON) into stored points: every data type, and bad input."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m

from collectors.otlp.metrics import decode_metrics
from monitor.errors import PayloadError
from monitor.store.points import COUNTER, DELTA, GAUGE, HISTOGRAM, HISTOGRAM_DELTA

T0, T1 = 1_764_000_000_000_000_000, 1_764_000_060_000_000_000
PB, JS = "application/x-protobuf", "application/json"


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def proto_request() -> bytes:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend([kv("service.name", "support-bot"), kv("host.name", "h1")])
    sm = rm.scope_metrics.add()
    g = sm.metrics.add(name="vllm.kv_cache_usage", unit="1")
    g.gauge.data_points.add(time_unix_nano=T1, as_double=0.4, attributes=[kv("model", "llama")])
    c = sm.metrics.add(name="requests", unit="{request}")
    c.sum.aggregation_temporality = m.AGGREGATION_TEMPORALITY_CUMULATIVE
    c.sum.is_monotonic = True
    c.sum.data_points.add(start_time_unix_nano=T0, time_unix_nano=T1, as_int=42)
    d = sm.metrics.add(name="requests.delta")
    d.sum.aggregation_temporality = m.AGGREGATION_TEMPORALITY_DELTA
    d.sum.is_monotonic = True
    d.sum.data_points.add(start_time_unix_nano=T0, time_unix_nano=T1, as_int=5)
    u = sm.metrics.add(name="queue.depth")
    u.sum.aggregation_temporality = m.AGGREGATION_TEMPORALITY_CUMULATIVE
    u.sum.data_points.add(time_unix_nano=T1, as_int=-3)
    h = sm.metrics.add(name="gen_ai.client.operation.duration", unit="s")
    h.histogram.aggregation_temporality = m.AGGREGATION_TEMPORALITY_CUMULATIVE
    h.histogram.data_points.add(start_time_unix_nano=T0, time_unix_nano=T1, count=3, sum=1.5,
                                explicit_bounds=[0.5, 1.0], bucket_counts=[1, 1, 1],
                                attributes=[kv("gen_ai.request.model", "gpt-4o-mini")])
    e = sm.metrics.add(name="exp.latency", unit="s")
    e.exponential_histogram.aggregation_temporality = m.AGGREGATION_TEMPORALITY_DELTA
    dp = e.exponential_histogram.data_points.add(time_unix_nano=T1, count=4, sum=6.0, scale=0, zero_count=1)
    dp.positive.offset = 0
    dp.positive.bucket_counts.extend([1, 2])  # (1, 2] and (2, 4]
    s = sm.metrics.add(name="legacy.summary", unit="ms")
    sp = s.summary.data_points.add(time_unix_nano=T1, count=10, sum=55.0)
    sp.quantile_values.add(quantile=0.5, value=5.0)
    bad = sm.metrics.add(name="no.time")
    bad.gauge.data_points.add(time_unix_nano=0, as_double=1.0)
    skipped = sm.metrics.add(name="no.value")
    skipped.gauge.data_points.add(time_unix_nano=T1, flags=1)
    return req.SerializeToString()


def test_protobuf_every_data_type() -> None:
    batch = decode_metrics(proto_request(), PB)
    by = {(p.name, p.labels.get("quantile")): p for p in batch.points}
    assert batch.rejected == [(7, "no.time: data point time_unix_nano 0 out of range")]
    g = by[("vllm.kv_cache_usage", None)]
    assert (g.kind, g.value, g.unit, g.time_ns, g.source) == (GAUGE, 0.4, "1", T1, "support-bot")
    assert g.labels == {"service.name": "support-bot", "model": "llama"}  # host.name is not a label
    c = by[("requests", None)]
    assert (c.kind, c.value, c.start_ns) == (COUNTER, 42.0, T0)
    assert by[("requests.delta", None)].kind == DELTA
    assert by[("queue.depth", None)].kind == GAUGE and by[("queue.depth", None)].value == -3
    h = by[("gen_ai.client.operation.duration", None)]
    assert h.kind == HISTOGRAM and h.histogram.bounds == (0.5, 1.0) and h.histogram.counts == (1, 1, 1)
    assert h.histogram.sum == 1.5 and h.labels["gen_ai.request.model"] == "gpt-4o-mini"
    e = by[("exp.latency", None)]
    assert e.kind == HISTOGRAM_DELTA and e.histogram.bounds == (0.0, 2.0, 4.0)
    assert e.histogram.counts == (1.0, 1.0, 2.0, 0.0)
    assert by[("legacy.summary", "0.5")].value == 5.0
    assert by[("legacy.summary.count", None)].value == 10 and by[("legacy.summary.sum", None)].kind == COUNTER
    assert ("no.value", None) not in by


def test_json_with_string_int64_camel_case_and_hex_exemplars() -> None:
    doc = {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
        "scopeMetrics": [{"metrics": [
            {"name": "gen_ai.server.time_to_first_token", "unit": "s", "histogram": {
                "aggregationTemporality": 1,
                "dataPoints": [{"timeUnixNano": str(T1), "startTimeUnixNano": str(T0), "count": "2", "sum": 0.3,
                                "bucketCounts": ["1", "1", "0"], "explicitBounds": [0.1, 0.25],
                                "exemplars": [{"timeUnixNano": str(T1), "asDouble": 0.2,
                                               "traceId": "5B8EFFF798038103D269B633813FC60C",
                                               "spanId": "EEE19B7EC3C1B174"}],
                                "attributes": [{"key": "gen_ai.response.model",
                                                "value": {"stringValue": "llama"}}]}]}},
            {"name": "tokens", "sum": {"aggregationTemporality": 2, "isMonotonic": True,
                                       "dataPoints": [{"timeUnixNano": T1, "asInt": "1200",
                                                       "attributes": [{"key": "n", "value": {"intValue": "3"}}]}]}},
            {"name": "unknown.future.type", "newKind": {}},
        ]}]}]}
    batch = decode_metrics(json.dumps(doc).encode(), JS)
    assert not batch.rejected
    ttft, tokens = batch.points
    assert ttft.kind == HISTOGRAM_DELTA and ttft.histogram.counts == (1, 1, 0) and ttft.histogram.count == 2
    assert ttft.labels == {"service.name": "api", "gen_ai.response.model": "llama"}
    assert tokens.kind == COUNTER and tokens.value == 1200 and tokens.labels["n"] == "3"


@pytest.mark.parametrize(("body", "ctype", "message"), [
    (b"\x0a\xff\xff", PB, "not a valid ExportMetricsServiceRequest"),
    (b"{not json", JS, "not valid JSON"),
    (b"[1, 2]", JS, "must be an object"),
    (json.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "x", "gauge": {
        "dataPoints": [{"asDouble": "abc", "timeUnixNano": "1"}]}}]}]}]}).encode(), JS, "not an OTLP/JSON"),
    (json.dumps({"resourceMetrics": "nope"}).encode(), JS, "not an OTLP/JSON"),
])
def test_bad_bodies_are_payload_errors(body: bytes, ctype: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode_metrics(body, ctype)
