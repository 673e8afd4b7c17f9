"""Cost of an LLM call: user prices from config, a cost the instrumentation reported, or
``genai-prices`` for API models. Unknown stays unknown (``None``), never guessed.

Self-hosted providers (vllm, tgi, ollama, …) are never priced as if they were an API: the GPU
time pricing of a later issue covers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from monitor.config import ModelPrice
from monitor.domain import LLMCall

# OTel GenAI provider names -> genai-prices provider ids.
PROVIDER_IDS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "fireworks": "fireworks",
    "together": "together",
    "cerebras": "cerebras",
    "moonshot_ai": "moonshotai",
}

SOURCE_CONFIG = "config"
SOURCE_REPORTED = "reported"
SOURCE_CATALOG = "genai-prices"


class CostCalculator:
    """Prices calls in the order: user price > reported by the instrumentation > genai-prices."""

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        self._prices = dict(prices or {})

    def apply(self, call: LLMCall) -> None:
        """Set ``cost_usd`` and ``cost_source`` on the call, or leave them empty when unknown."""
        model = call.model
        if model and (user := self._user_price(call)) is not None:
            call.cost_usd, call.cost_source = _user_cost(user, call), SOURCE_CONFIG
            return
        if call.cost_usd is not None:
            return  # reported by the instrumentation
        if not model or (call.input_tokens is None and call.output_tokens is None):
            return
        provider = call.provider
        if provider is not None and provider not in PROVIDER_IDS:
            return  # self-hosted or unknown provider: do not guess an API price
        cost = catalog_cost(model, PROVIDER_IDS.get(provider or ""), call.input_tokens or 0,
                            call.output_tokens or 0, call.cached_input_tokens or 0)
        if cost is not None:
            call.cost_usd, call.cost_source = cost, SOURCE_CATALOG

    def _user_price(self, call: LLMCall) -> ModelPrice | None:
        for name in (call.response_model, call.request_model):
            if name and name in self._prices:
                return self._prices[name]
        return None


def _user_cost(price: ModelPrice, call: LLMCall) -> float:
    cached = call.cached_input_tokens or 0
    fresh = (call.input_tokens or 0) - (cached if price.cached_input is not None else 0)
    total = fresh * price.input + (call.output_tokens or 0) * price.output
    if price.cached_input is not None:
        total += cached * price.cached_input
    return total / 1_000_000


@lru_cache(maxsize=4096)
def _model_price(model: str, provider_id: str | None, day: str) -> Any:
    """The catalogue's price for a model on a day (cached: a lookup costs ~0.2 ms)."""
    from genai_prices import data_snapshot

    try:
        _provider, model_info = data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, None)
        return model_info.get_prices(datetime.fromisoformat(day).replace(tzinfo=UTC))
    except LookupError:
        return None


_FLAT_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok")


def catalog_cost(model: str, provider_id: str | None, input_tokens: int, output_tokens: int,
                 cached_tokens: int = 0, when: datetime | None = None) -> float | None:
    """USD cost from the genai-prices catalogue, or ``None`` when it does not know the model.

    Flat per-token prices are applied directly in floats (genai-prices' Decimal path costs
    ~0.2 ms a call, too slow for ingest); tiered prices go through genai-prices itself.
    """
    day = (when or datetime.now(UTC)).date().isoformat()
    price = _model_price(model, provider_id, day)
    if price is None:
        return None
    values = {k: getattr(price, k, None) for k in _FLAT_KEYS}
    if values["input_mtok"] is None and values["output_mtok"] is None:
        return None
    if all(v is None or isinstance(v, Decimal) for v in values.values()):
        inp, out = float(values["input_mtok"] or 0), float(values["output_mtok"] or 0)
        cache = float(values["cache_read_mtok"]) if values["cache_read_mtok"] is not None else inp
        return ((input_tokens - cached_tokens) * inp + cached_tokens * cache + output_tokens * out) / 1_000_000
    from genai_prices import Usage

    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached_tokens or None)
    try:
        return float(price.calc_price(usage)["total_price"])
    except (LookupError, ValueError, TypeError):
        return None
