"""vLLM's ``llm_request`` span (``vllm/tracing.py``): legacy usage names plus ``gen_ai.latency.*``.

All latencies are seconds; time to first token is the one llm-monitor keeps as a column, the
others stay in the span's attributes.
"""

from __future__ import annotations

from collectors.semconv.table import Convention

TABLE = Convention(
    name="vllm",
    fields={
        "ttft_s": ("gen_ai.latency.time_to_first_token",),
        "response_id": ("gen_ai.request.id",),
    },
)

# The span vLLM emits per finished request.
SPAN_NAME = "llm_request"
