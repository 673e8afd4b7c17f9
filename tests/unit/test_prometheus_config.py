"""Scrape targets, deployments and metric retention in Settings: good shapes load, bad ones explain themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.config import Settings

TOML = """
[[scrape.targets]]
name = "vllm-a100-1"
url = "http://10.0.0.5:8000/metrics"
kind = "vllm"
interval_s = 5
labels = { region = "eu" }

[[scrape.targets]]
name = "dcgm-1"
url = "http://10.0.0.5:9400/metrics"
kind = "dcgm"

[[deployments]]
name = "llama-8b"
model = "meta-llama/Llama-3.1-8B-Instruct"
gpu_type = "H100"
gpu_count = 2
usd_per_gpu_hour = 2.50
server = "http://10.0.0.5"

[metrics]
raw_retention_h = 24
"""


def test_toml_shape_of_architecture_md(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "llm-monitor.toml"
    path.write_text(TOML)
    monkeypatch.setenv("LLM_MONITOR_CONFIG", str(path))
    settings = Settings()
    vllm, gpu = settings.scrape.targets
    assert (vllm.kind, vllm.interval_s, gpu.interval_s) == ("vllm", 5, 5.0)
    assert vllm.labels == {"region": "eu", "deployment": "llama-8b"}  # linked through `server`
    assert gpu.labels == {"deployment": "llama-8b"}
    deployment = settings.deployment("llama-8b")
    assert deployment is not None and deployment.usd_per_second == pytest.approx(2 * 2.5 / 3600)
    assert settings.metrics.raw_retention_h == 24 and settings.deployment("nope") is None


@pytest.mark.parametrize(("config", "message"), [
    ({"scrape": {"targets": [{"name": "a", "url": "10.0.0.5:8000/metrics"}]}}, "must start with http"),
    ({"scrape": {"targets": [{"name": "a", "url": "http://h/m", "kind": "ollama"}]}}, "vllm"),
    ({"scrape": {"targets": [{"name": "a", "url": "http://h/m"}, {"name": "a", "url": "http://g/m"}]}}, "unique"),
    ({"scrape": {"targets": [{"name": "a", "url": "http://h/m", "interval_s": 0}]}}, "greater than or equal"),
    ({"deployments": [{"name": "d", "model": "m", "usd_per_gpu_hour": -1}]}, "greater than or equal"),
    ({"deployments": [{"name": "d", "model": "m", "usd_per_gpu_hour": 1, "gpu_count": 0}]}, "greater than or equal"),
    ({"deployments": [{"name": "d", "model": "m"}]}, "usd_per_gpu_hour"),
    ({"deployments": [{"name": "d", "model": "m", "usd_per_gpu_hour": 1}] * 2}, "unique"),
])
def test_bad_settings_say_what_is_wrong(config: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**config)
