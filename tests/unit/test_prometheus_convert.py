"""Prometheus expositions as real servers write them -> the points llm-monitor stores."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from collectors.prometheus import ExpositionParser, TargetInfo, to_points
from collectors.prometheus.units import normalise_suffix
from monitor.errors import PayloadError
from monitor.store.points import COUNTER, GAUGE, HISTOGRAM

NOW = 1_800_000_000 * 10**9
VLLM = TargetInfo("vllm-1", "vllm", {"deployment": "llama-8b"})


def points(text: str, target: TargetInfo = VLLM) -> dict[tuple[str, tuple], object]:
    found = to_points(ExpositionParser().parse(text), target, NOW)
    out: dict[tuple[str, tuple], object] = {}
    for p in found:
        key = (p.name, tuple(sorted(p.labels.items())))
        assert key not in out, f"series stored twice: {key}"
        out[key] = p
    return out


def one(found: dict, name: str) -> object:
    matches = [p for (n, _), p in found.items() if n == name]
    assert len(matches) == 1, (name, matches)
    return matches[0]


def test_vllm_counter_total_created_and_colon_names() -> None:
    reg = CollectorRegistry()
    c = Counter("vllm:prompt_tokens", "prefill tokens", ["model_name", "engine"], registry=reg)
    c.labels("meta-llama/Llama-3.1-8B-Instruct", "0").inc(1234)
    found = points(generate_latest(reg).decode())
    p = one(found, "inference.tokens.prompt")
    assert p.kind == COUNTER and p.value == 1234 and p.unit == "{token}" and p.time_ns == NOW
    assert p.labels == {"model_name": "meta-llama/Llama-3.1-8B-Instruct", "engine": "0", "deployment": "llama-8b"}
    assert p.start_ns is not None and abs(p.start_ns / 1e9 - c.labels("meta-llama/Llama-3.1-8B-Instruct", "0")
                                          ._created) < 1e-3
    assert not any(n.endswith("_created") for n, _ in found)


def test_histogram_buckets_become_per_bucket_counts() -> None:
    reg = CollectorRegistry()
    h = Histogram("vllm:time_to_first_token_seconds", "ttft", ["model_name"], registry=reg,
                  buckets=[0.01, 0.1, 1.0])
    for v in (0.005, 0.05, 0.06, 0.5, 3.0):
        h.labels("m").observe(v)
    p = one(points(generate_latest(reg).decode()), "gen_ai.server.time_to_first_token")
    assert p.kind == HISTOGRAM and p.unit == "s" and p.start_ns is not None
    assert p.histogram.bounds == (0.01, 0.1, 1.0)
    assert p.histogram.counts == (1, 2, 1, 1) and p.histogram.count == 5
    assert p.histogram.sum == pytest.approx(3.615)


def test_vllm_renamed_metrics_map_to_one_series_and_the_new_name_wins() -> None:
    text = """# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{engine="0",model_name="m"} 0.30
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.31
# TYPE vllm:time_per_output_token_seconds histogram
vllm:time_per_output_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 1
vllm:time_per_output_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 1
vllm:time_per_output_token_seconds_sum{engine="0",model_name="m"} 0.05
vllm:time_per_output_token_seconds_count{engine="0",model_name="m"} 1
# TYPE vllm:inter_token_latency_seconds histogram
vllm:inter_token_latency_seconds_bucket{engine="0",le="0.1",model_name="m"} 2
vllm:inter_token_latency_seconds_bucket{engine="0",le="+Inf",model_name="m"} 2
vllm:inter_token_latency_seconds_sum{engine="0",model_name="m"} 0.08
vllm:inter_token_latency_seconds_count{engine="0",model_name="m"} 2
"""
    found = points(text)
    assert one(found, "inference.kv_cache.usage").value == 0.31
    assert one(found, "inference.inter_token_latency").histogram.count == 2
    old_only = points(text.split("# TYPE vllm:kv_cache")[0])
    assert one(old_only, "inference.kv_cache.usage").value == 0.30


def test_units_are_normalised_to_base_units() -> None:
    text = """# TYPE nv_inference_request_duration_us counter
nv_inference_request_duration_us{model="llama",version="1"} 2500000
# TYPE nv_inference_compute_infer_duration_us counter
nv_inference_compute_infer_duration_us{model="llama",version="1"} 1500000
# TYPE nv_inference_first_response_histogram_ms histogram
nv_inference_first_response_histogram_ms_bucket{model="llama",version="1",le="100"} 1
nv_inference_first_response_histogram_ms_bucket{model="llama",version="1",le="500"} 3
nv_inference_first_response_histogram_ms_bucket{model="llama",version="1",le="+Inf"} 4
nv_inference_first_response_histogram_ms_sum{model="llama",version="1"} 1900
nv_inference_first_response_histogram_ms_count{model="llama",version="1"} 4
# TYPE ollama_eval_duration_ns gauge
ollama_eval_duration_ns 2500000000
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-a"} 1024
# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0",UUID="GPU-a"} 123456789
# TYPE custom_energy_mj counter
custom_energy_mj_total 5000
# TYPE custom_buffer_mib gauge
custom_buffer_mib 2
"""
    found = points(text, TargetInfo("mixed", "generic"))
    assert one(found, "inference.request.duration_total").value == pytest.approx(2.5)
    generic = one(found, "nv_inference_compute_infer_duration_seconds")
    assert generic.value == pytest.approx(1.5) and generic.unit == "s" and generic.kind == COUNTER
    ttft = one(found, "gen_ai.server.time_to_first_token")
    assert ttft.histogram.bounds == pytest.approx((0.1, 0.5)) and ttft.histogram.sum == pytest.approx(1.9)
    assert ttft.histogram.counts == (1, 2, 1)
    assert one(found, "ollama_eval_duration_seconds").value == pytest.approx(2.5)
    assert one(found, "hw.gpu.memory.usage").value == 1024 * 1024 * 1024
    energy = one(found, "hw.gpu.energy")
    assert energy.kind == COUNTER and energy.value == pytest.approx(123456.789) and energy.unit == "J"
    assert one(found, "custom_energy_joules").value == pytest.approx(5.0)
    assert one(found, "custom_buffer_bytes").value == 2 * 1024 * 1024


def test_dcgm_blank_sentinels_are_dropped() -> None:
    text = """# TYPE DCGM_FI_PROF_PIPE_TENSOR_ACTIVE gauge
DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{gpu="0",UUID="GPU-a"} 9223372036854775794
# TYPE DCGM_FI_DEV_ENC_UTIL gauge
DCGM_FI_DEV_ENC_UTIL{gpu="0",UUID="GPU-a"} 2147483632
# TYPE DCGM_FI_DEV_MEMORY_TEMP gauge
DCGM_FI_DEV_MEMORY_TEMP{gpu="0",UUID="GPU-a"} 140737488355328
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a"} 87
"""
    found = points(text, TargetInfo("dcgm", "dcgm"))
    assert [n for n, _ in found] == ["hw.gpu.utilization"]
    assert one(found, "hw.gpu.utilization").value == pytest.approx(0.87)


def test_counters_without_total_untyped_and_summaries() -> None:
    text = """# TYPE tgi_request_count counter
tgi_request_count 17
# TYPE tgi_queue_size gauge
tgi_queue_size 3
requests_served_total{route="/generate"} 9
# TYPE nv_inference_request_summary_us summary
nv_inference_request_summary_us{model="m",quantile="0.5"} 1500
nv_inference_request_summary_us_sum{model="m"} 9000
nv_inference_request_summary_us_count{model="m"} 5
"""
    found = points(text, TargetInfo("tgi", "tgi"))
    assert one(found, "inference.requests.received").value == 17
    assert one(found, "inference.requests.waiting").kind == GAUGE
    served = one(found, "requests_served")
    assert served.kind == COUNTER and served.value == 9
    q = one(found, "nv_inference_request_summary_seconds")
    assert q.labels["quantile"] == "0.5" and q.value == pytest.approx(0.0015)
    assert one(found, "nv_inference_request_summary_seconds_sum").value == pytest.approx(0.009)
    assert one(found, "nv_inference_request_summary_seconds_count").value == 5


def test_target_labels_win_and_exposition_labels_are_kept_as_exported() -> None:
    text = 'vllm:num_requests_running{deployment="other",model_name="m"} 2\n'
    p = one(points(text), "inference.requests.running")
    assert p.labels == {"deployment": "llama-8b", "exported_deployment": "other", "model_name": "m"}


def test_explicit_timestamps_nan_and_escaped_labels() -> None:
    text = ('# TYPE g gauge\ng{path="a \\"b\\" }c"} NaN 1700000000123\n'
            '# TYPE h gauge\nh 1.5e+03\n')
    found = points(text, TargetInfo("t"))
    g = one(found, "g")
    assert g.labels == {"path": 'a "b" }c'} and math.isnan(g.value) and g.time_ns == 1_700_000_000_123_000_000
    assert one(found, "h").value == 1500.0


def test_unchanged_layout_is_not_reparsed_but_reads_new_values() -> None:
    reg = CollectorRegistry()
    g = Gauge("vllm:num_requests_running", "r", ["model_name"], registry=reg)
    h = Histogram("vllm:e2e_request_latency_seconds", "e2e", ["model_name"], registry=reg, buckets=[1, 10])
    parser = ExpositionParser()
    h.labels("m")
    g.labels("m").set(1)
    first = to_points(parser.parse(generate_latest(reg).decode()), VLLM, NOW)
    g.labels("m").set(7)
    h.labels("m").observe(3)
    text = generate_latest(reg).decode()
    fast = to_points(parser.parse(text), VLLM, NOW)
    assert parser.full_parses == 1
    full = to_points(ExpositionParser().parse(text), VLLM, NOW)
    key = lambda p: (p.name, sorted(p.labels.items()))  # noqa: E731
    assert sorted(map(repr, sorted(fast, key=key))) == sorted(map(repr, sorted(full, key=key)))
    assert {p.name: p.value for p in first}["inference.requests.running"] == 1
    assert {p.name: p.value for p in fast}["inference.requests.running"] == 7
    g.labels("other").set(2)  # a new series changes the layout: parsed again
    parser.parse(generate_latest(reg).decode())
    assert parser.full_parses == 2


@pytest.mark.parametrize("text", ["this is not { an exposition", 'metric{a="unterminated} 1\n',
                                  'm{a="b"} notanumber\n'])
def test_garbage_is_a_clear_error(text: str) -> None:
    with pytest.raises(PayloadError, match="not a Prometheus exposition"):
        ExpositionParser().parse(text)


@pytest.mark.parametrize(("name", "expected"), [
    ("x_duration_us", ("x_duration_seconds", 1e-6, "s")),
    ("x_latency_ms", ("x_latency_seconds", 1e-3, "s")),
    ("x_nanoseconds", ("x_seconds", 1e-9, "s")),
    ("x_MiB", ("x_bytes", 1048576.0, "By")),
    ("x_seconds", ("x_seconds", 1.0, "s")),
    ("x_status", ("x_status", 1.0, None)),
    ("items", ("items", 1.0, None)),
])
def test_suffix_rules(name: str, expected: tuple) -> None:
    assert normalise_suffix(name) == expected
