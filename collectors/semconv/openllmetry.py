"""OpenLLMetry (traceloop ``opentelemetry-instrumentation-*``) attributes, all its eras.

≤0.47: ``gen_ai.system``, ``gen_ai.usage.prompt_tokens``, ``llm.usage.total_tokens``, indexed
``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*``; 0.48–0.54: ``gen_ai.usage.input_tokens``;
0.55+: GenAI names plus ``gen_ai.usage.total_tokens`` and ``gen_ai.usage.reasoning_tokens``
(TELEMETRY.md §5.1).
"""

from __future__ import annotations

from collectors.semconv.table import Convention

TABLE = Convention(
    name="openllmetry",
    fields={
        "operation": ("llm.request.type",),
        "total_tokens": ("gen_ai.usage.total_tokens", "llm.usage.total_tokens"),
        "reasoning_tokens": ("gen_ai.usage.reasoning_tokens", "llm.usage.reasoning_tokens"),
        "finish_reasons": ("gen_ai.response.finish_reason",),
        "user_id": ("gen_ai.user", "llm.user", "traceloop.association.properties.user_id"),
        "session_id": ("traceloop.association.properties.session_id",),
        "server_address": ("gen_ai.openai.api_base",),
    },
    indexed_prompt="gen_ai.prompt.",
    indexed_completion="gen_ai.completion.",
    value_maps={"operation": {"completion": "text_completion", "embedding": "embeddings"}},
)
