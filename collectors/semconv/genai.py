"""OpenTelemetry GenAI semantic conventions: the current names and the pre-1.37 ones.

Sources: open-telemetry/semantic-conventions v1.41.0 ``docs/gen-ai/gen-ai-spans.md`` and
``model/gen-ai/deprecated/registry-deprecated.yaml``; the semantic-conventions-genai repository
for ``cache_write`` (see ../shared/TELEMETRY.md §1).
"""

from __future__ import annotations

from collectors.semconv.table import Convention

CURRENT = Convention(
    name="otel-genai",
    fields={
        "operation": ("gen_ai.operation.name",),
        "provider": ("gen_ai.provider.name",),
        "request_model": ("gen_ai.request.model",),
        "response_model": ("gen_ai.response.model",),
        "input_tokens": ("gen_ai.usage.input_tokens",),
        "output_tokens": ("gen_ai.usage.output_tokens",),
        "cached_input_tokens": ("gen_ai.usage.cache_read.input_tokens",),
        "reasoning_tokens": ("gen_ai.usage.reasoning.output_tokens",),
        "finish_reasons": ("gen_ai.response.finish_reasons",),
        "error_type": ("error.type",),
        "ttft_s": ("gen_ai.response.time_to_first_chunk",),
        "server_address": ("server.address",),
        "session_id": ("gen_ai.conversation.id",),
        "response_id": ("gen_ai.response.id",),
        "user_id": ("user.id", "enduser.id"),
    },
    input_messages="gen_ai.input.messages",
    output_messages="gen_ai.output.messages",
    system_instructions="gen_ai.system_instructions",
)

# v1.36 and older (still the default of many instrumentations, see TELEMETRY.md §1.1).
LEGACY = Convention(
    name="otel-genai-pre-1.37",
    fields={
        "provider": ("gen_ai.system",),
        "input_tokens": ("gen_ai.usage.prompt_tokens",),
        "output_tokens": ("gen_ai.usage.completion_tokens",),
        "cached_input_tokens": ("gen_ai.usage.cache_read_input_tokens",),
        "response_id": ("gen_ai.response.id",),
    },
    legacy_prompt="gen_ai.prompt",
    legacy_completion="gen_ai.completion",
)

# Older gen_ai.system values and their current provider names (v1.33 and v1.35 renames).
PROVIDER_ALIASES = {
    "az.ai.openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "xai": "x_ai",
    "mistralai": "mistral_ai",
    "azure": "azure.ai.openai",
    "aws": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "google": "gcp.gen_ai",
    "vertexai": "gcp.vertex_ai",
    "huggingface": "hugging_face",
}
