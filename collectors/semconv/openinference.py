"""OpenInference (Arize) attributes: ``llm.*``, ``input.value``/``output.value``, retrieval documents.

Source: Arize-ai/openinference ``openinference-semantic-conventions`` 0.1.42 (TELEMETRY.md §2), checked
against what ``openinference-instrumentation-openai`` 0.1.66 really sends (tests/fixtures/emitters):
``llm.model_name`` holds the *response* model there; the requested one is only inside the
``llm.invocation_parameters`` JSON, so it is read from there before falling back to the response model.
"""

from __future__ import annotations

from collectors.semconv.table import Convention

TABLE = Convention(
    name="openinference",
    fields={
        "operation": ("openinference.span.kind",),
        "provider": ("llm.provider", "llm.system"),
        "request_model": ("llm.request.model_name",),
        "response_model": ("llm.response.model_name", "llm.model_name", "embedding.model_name"),
        "input_tokens": ("llm.token_count.prompt",),
        "output_tokens": ("llm.token_count.completion",),
        "total_tokens": ("llm.token_count.total",),
        "cached_input_tokens": ("llm.token_count.prompt_details.cache_read",),
        "reasoning_tokens": ("llm.token_count.completion_details.reasoning",),
        "finish_reasons": ("llm.finish_reason",),
        "user_id": ("user.id",),
        "session_id": ("session.id",),
        "reported_cost": ("llm.cost.total",),
    },
    indexed_input="llm.input_messages.",
    indexed_output="llm.output_messages.",
    indexed_prompts="llm.prompts.",
    indexed_choices="llm.choices.",
    indexed_embeddings="embedding.embeddings.",
    plain_input="input.value",
    plain_output="output.value",
    plain_input_mime="input.mime_type",
    plain_output_mime="output.mime_type",
    invocation_parameters=("llm.invocation_parameters", "embedding.invocation_parameters"),
    retrieval_documents="retrieval.documents.",
    tags="tag.tags",
    value_maps={
        "operation": {
            "LLM": "chat",
            "EMBEDDING": "embeddings",
            "RETRIEVER": "retrieval",
            "TOOL": "execute_tool",
            "AGENT": "invoke_agent",
            "CHAIN": "chain",
            "RERANKER": "rerank",
            "GUARDRAIL": "guardrail",
            "EVALUATOR": "evaluate",
            "PROMPT": "prompt",
            "UNKNOWN": None,
        }
    },
)
