"""Cost: config prices, reported costs, the genai-prices catalogue; unknown stays unknown."""

from __future__ import annotations

import pytest
from genai_prices import Usage, calc_price

from monitor.config import ModelPrice
from monitor.cost import CostCalculator, catalog_cost
from monitor.domain import LLMCall


def call(**kw: object) -> LLMCall:
    base: dict[str, object] = {"provider": "openai", "response_model": "gpt-4o", "input_tokens": 1000,
                               "output_tokens": 500}
    base.update(kw)
    return LLMCall(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("model", "provider", "tokens"), [
    ("gpt-4o", "openai", (1000, 500, 100)),
    ("gpt-4o-mini-2024-07-18", "openai", (12345, 678, 0)),
    ("claude-3-5-sonnet-latest", "anthropic", (2000, 100, 500)),
])
def test_fast_path_matches_genai_prices(model: str, provider: str, tokens: tuple[int, int, int]) -> None:
    inp, out, cached = tokens
    expected = calc_price(Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cached or None),
                          model_ref=model, provider_id=provider).total_price
    assert catalog_cost(model, provider, inp, out, cached) == pytest.approx(float(expected), rel=1e-9)


def test_catalogue_price_for_api_models() -> None:
    c = call(cached_input_tokens=100)
    CostCalculator().apply(c)
    assert c.cost_source == "genai-prices"
    assert c.cost_usd == pytest.approx((900 * 2.5 + 100 * 1.25 + 500 * 10) / 1e6)


def test_user_price_wins_and_handles_cached_tokens() -> None:
    c = call(response_model="my-finetune", provider="vllm", cached_input_tokens=200)
    CostCalculator({"my-finetune": ModelPrice(input=0.2, output=0.6, cached_input=0.05)}).apply(c)
    assert c.cost_source == "config"
    assert c.cost_usd == pytest.approx((800 * 0.2 + 200 * 0.05 + 500 * 0.6) / 1e6)


def test_reported_cost_is_kept() -> None:
    c = call(cost_usd=0.123, cost_source="reported")
    CostCalculator().apply(c)
    assert (c.cost_usd, c.cost_source) == (0.123, "reported")


@pytest.mark.parametrize("kw", [
    {"provider": "vllm", "response_model": "meta-llama/Llama-3.1-8B-Instruct"},
    {"provider": "openai", "response_model": "no-such-model-xyz"},
    {"input_tokens": None, "output_tokens": None},
    {"response_model": None},
])
def test_unknown_is_left_empty(kw: dict[str, object]) -> None:
    c = call(**kw)
    CostCalculator().apply(c)
    assert c.cost_usd is None and c.cost_source is None
