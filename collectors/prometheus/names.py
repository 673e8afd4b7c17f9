"""The known metric names of vLLM, SGLang, TGI, Triton and the DCGM exporter, mapped to canonical ones.

Why canonical names: the server view and the GPU-cost attribution must read "requests running"
or "time to first token" whatever server (and whatever version of it) produced them. Values are
converted to base units (seconds, bytes, joules, watts, ratios 0–1) by ``scale``. When two source
names map to one series in the same scrape (vLLM 0.9–0.11 expose both the deprecated and the new
name), the higher ``priority`` wins. See ../shared/TELEMETRY.md §4 for the sources.

Canonical names follow the OpenTelemetry GenAI server metrics where one exists
(``gen_ai.server.time_to_first_token``, ``gen_ai.server.request.duration``,
``gen_ai.server.time_per_output_token``) so OTLP-pushed and scraped series meet, ``hw.gpu.*`` for
GPUs, and ``inference.*`` for what neither convention names.

Keys are family names as ``prometheus_client``'s parser gives them (counters without ``_total``).
Names not listed keep their own name; unit suffixes such as ``_us`` or ``_mib`` are normalised by
``units.normalise_suffix``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Canonical:
    name: str
    unit: str
    scale: float = 1.0
    priority: int = 0


# Canonical names the server view reads.
RUNNING = "inference.requests.running"
WAITING = "inference.requests.waiting"
KV_CACHE = "inference.kv_cache.usage"
PROMPT_TOKENS = "inference.tokens.prompt"
GENERATION_TOKENS = "inference.tokens.generation"
PREEMPTIONS = "inference.preemptions"
FINISHED = "inference.requests.finished"
FAILED = "inference.requests.failed"
TTFT = "gen_ai.server.time_to_first_token"
ITL = "inference.inter_token_latency"
TPOT = "gen_ai.server.time_per_output_token"
E2E = "gen_ai.server.request.duration"
QUEUE_TIME = "inference.request.queue_time"
REQUEST_PROMPT_TOKENS = "inference.request.prompt_tokens"
REQUEST_GENERATION_TOKENS = "inference.request.generation_tokens"
GPU_UTIL = "hw.gpu.utilization"
GPU_MEMORY_USED = "hw.gpu.memory.usage"
GPU_MEMORY_FREE = "hw.gpu.memory.free"
GPU_MEMORY_TOTAL = "hw.gpu.memory.limit"
GPU_POWER = "hw.gpu.power"
GPU_ENERGY = "hw.gpu.energy"

# Health of each scrape target, stored by the scraper itself.
SCRAPE_UP = "llm_monitor.scrape.up"
SCRAPE_DURATION = "llm_monitor.scrape.duration"
SCRAPE_SAMPLES = "llm_monitor.scrape.samples"

_REQ, _TOK, _S, _BY, _RATIO = "{request}", "{token}", "s", "By", "1"
MIB = 1024.0 * 1024.0

VLLM = {
    "vllm:num_requests_running": Canonical(RUNNING, _REQ),
    "vllm:num_requests_waiting": Canonical(WAITING, _REQ),
    "vllm:kv_cache_usage_perc": Canonical(KV_CACHE, _RATIO, priority=1),
    "vllm:gpu_cache_usage_perc": Canonical(KV_CACHE, _RATIO),  # removed in vLLM ~0.12 (PR #29330)
    "vllm:prefix_cache_queries": Canonical("inference.prefix_cache.queries", _TOK, priority=1),
    "vllm:gpu_prefix_cache_queries": Canonical("inference.prefix_cache.queries", _TOK),
    "vllm:prefix_cache_hits": Canonical("inference.prefix_cache.hits", _TOK, priority=1),
    "vllm:gpu_prefix_cache_hits": Canonical("inference.prefix_cache.hits", _TOK),
    "vllm:prompt_tokens": Canonical(PROMPT_TOKENS, _TOK),
    "vllm:generation_tokens": Canonical(GENERATION_TOKENS, _TOK),
    "vllm:num_preemptions": Canonical(PREEMPTIONS, "{preemption}"),
    "vllm:request_success": Canonical(FINISHED, _REQ),
    "vllm:time_to_first_token_seconds": Canonical(TTFT, _S),
    "vllm:inter_token_latency_seconds": Canonical(ITL, _S, priority=1),
    "vllm:time_per_output_token_seconds": Canonical(ITL, _S),  # the old name of the same ITL (PR #24110, #32661)
    "vllm:request_time_per_output_token_seconds": Canonical(TPOT, _S),
    "vllm:e2e_request_latency_seconds": Canonical(E2E, _S),
    "vllm:request_queue_time_seconds": Canonical(QUEUE_TIME, _S),
    "vllm:request_prompt_tokens": Canonical(REQUEST_PROMPT_TOKENS, _TOK),
    "vllm:request_generation_tokens": Canonical(REQUEST_GENERATION_TOKENS, _TOK),
}

SGLANG = {
    "sglang:num_running_reqs": Canonical(RUNNING, _REQ),
    "sglang:num_queue_reqs": Canonical(WAITING, _REQ),
    "sglang:token_usage": Canonical(KV_CACHE, _RATIO),
    "sglang:prompt_tokens": Canonical(PROMPT_TOKENS, _TOK),
    "sglang:generation_tokens": Canonical(GENERATION_TOKENS, _TOK),
    "sglang:num_requests": Canonical(FINISHED, _REQ),
    "sglang:num_aborted_requests": Canonical("inference.requests.aborted", _REQ),
    "sglang:time_to_first_token_seconds": Canonical(TTFT, _S),
    "sglang:inter_token_latency_seconds": Canonical(ITL, _S, priority=1),
    "sglang:time_per_output_token_seconds": Canonical(ITL, _S),
    "sglang:e2e_request_latency_seconds": Canonical(E2E, _S),
}

TGI = {
    "tgi_batch_current_size": Canonical(RUNNING, _REQ),
    "tgi_queue_size": Canonical(WAITING, _REQ),
    "tgi_request_count": Canonical("inference.requests.received", _REQ),
    "tgi_request_success": Canonical(FINISHED, _REQ),
    "tgi_request_failure": Canonical(FAILED, _REQ),
    "tgi_request_duration": Canonical(E2E, _S),
    "tgi_request_queue_duration": Canonical(QUEUE_TIME, _S),
    "tgi_request_mean_time_per_token_duration": Canonical(TPOT, _S),
    "tgi_request_input_length": Canonical(REQUEST_PROMPT_TOKENS, _TOK),
    "tgi_request_generated_tokens": Canonical(REQUEST_GENERATION_TOKENS, _TOK),
}

TRITON = {
    "nv_inference_request_success": Canonical(FINISHED, _REQ),
    "nv_inference_request_failure": Canonical(FAILED, _REQ),
    "nv_inference_pending_request_count": Canonical(WAITING, _REQ),
    "nv_inference_request_duration_us": Canonical("inference.request.duration_total", _S, 1e-6),
    "nv_inference_queue_duration_us": Canonical("inference.request.queue_duration_total", _S, 1e-6),
    "nv_inference_first_response_histogram_ms": Canonical(TTFT, _S, 1e-3),
    "nv_gpu_utilization": Canonical(GPU_UTIL, _RATIO),
    "nv_gpu_memory_used_bytes": Canonical(GPU_MEMORY_USED, _BY),
    "nv_gpu_memory_total_bytes": Canonical(GPU_MEMORY_TOTAL, _BY),
    "nv_gpu_power_usage": Canonical(GPU_POWER, "W"),
    "nv_gpu_power_limit": Canonical("hw.gpu.power.limit", "W"),
    "nv_energy_consumption": Canonical(GPU_ENERGY, "J"),
}

DCGM = {
    "DCGM_FI_DEV_GPU_UTIL": Canonical(GPU_UTIL, _RATIO, 0.01),
    "DCGM_FI_DEV_MEM_COPY_UTIL": Canonical("hw.gpu.memory.copy_utilization", _RATIO, 0.01),
    "DCGM_FI_DEV_FB_USED": Canonical(GPU_MEMORY_USED, _BY, MIB),
    "DCGM_FI_DEV_FB_FREE": Canonical(GPU_MEMORY_FREE, _BY, MIB),
    "DCGM_FI_DEV_FB_TOTAL": Canonical(GPU_MEMORY_TOTAL, _BY, MIB),
    "DCGM_FI_DEV_FB_RESERVED": Canonical("hw.gpu.memory.reserved", _BY, MIB),
    "DCGM_FI_DEV_POWER_USAGE": Canonical(GPU_POWER, "W"),
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": Canonical(GPU_ENERGY, "J", 1e-3),  # mJ
    "DCGM_FI_DEV_GPU_TEMP": Canonical("hw.gpu.temperature", "Cel"),
    "DCGM_FI_DEV_MEMORY_TEMP": Canonical("hw.gpu.memory.temperature", "Cel"),
    "DCGM_FI_DEV_SM_CLOCK": Canonical("hw.gpu.clock.sm", "Hz", 1e6),  # MHz
    "DCGM_FI_DEV_MEM_CLOCK": Canonical("hw.gpu.clock.memory", "Hz", 1e6),
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": Canonical("hw.gpu.engine_active", _RATIO),
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": Canonical("hw.gpu.tensor_active", _RATIO),
    "DCGM_FI_PROF_DRAM_ACTIVE": Canonical("hw.gpu.dram_active", _RATIO),
}

BY_KIND: dict[str, dict[str, Canonical]] = {
    "vllm": VLLM, "sglang": SGLANG, "tgi": TGI, "triton": TRITON, "dcgm": DCGM,
}
ALL: dict[str, Canonical] = {name: c for table in BY_KIND.values() for name, c in table.items()}
PREFIXES = {"vllm": ("vllm:",), "sglang": ("sglang:",), "tgi": ("tgi_",), "triton": ("nv_",), "dcgm": ("DCGM_",)}


def canonical(family: str) -> Canonical | None:
    """The canonical form of a family name, or ``None`` when it is not a known one.

    Every table applies whatever the target's declared kind: names are prefixed per server, and a
    ``generic`` target (or a Triton that embeds DCGM fields) still gets the known conversions.
    """
    return ALL.get(family)
