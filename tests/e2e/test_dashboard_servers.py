"""The Servers & GPUs page through ``streamlit.testing``: a deployment whose vLLM and DCGM metrics were
scraped from real ``prometheus_client`` exporters on loopback, beside its traced requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from collectors.otlp.traces import PROTOBUF, decode_traces
from collectors.prometheus import ScrapeRunner
from monitor.api.app import build_ingest
from monitor.config import Settings
from monitor.migrate import upgrade
from monitor.store import make_engine
from monitor.store.keys import get_or_create_project
from tests.e2e.test_dashboard import APP, _run, infos, metrics, titles
from tests.integration.test_scrape import Exporter, dcgm, vllm_new
from tests.otlp_builders import chat_attrs, make_span, request

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
S = 10**9


@pytest.fixture
def exporters() -> Iterator[dict[str, Exporter]]:
    servers = {"vllm": Exporter(vllm_new), "dcgm": Exporter(dcgm)}
    yield servers
    for server in servers.values():
        server.stop()


def test_servers_page_shows_scraped_metrics_and_gpu_cost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         exporters: dict[str, Exporter]) -> None:
    url = f"sqlite:///{tmp_path / 'servers.db'}"
    config = tmp_path / "llm-monitor.toml"
    config.write_text(f'''
[[deployments]]
name = "llama-8b"
model = "{MODEL}"
gpu_type = "H100"
usd_per_gpu_hour = 2.5

[[scrape.targets]]
name = "vllm"
url = "{exporters["vllm"].url}"
kind = "vllm"
labels = {{ deployment = "llama-8b" }}

[[scrape.targets]]
name = "dcgm"
url = "{exporters["dcgm"].url}"
kind = "dcgm"
labels = {{ deployment = "llama-8b" }}
''')
    monkeypatch.setenv("LLM_MONITOR_CONFIG", str(config))
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", url)
    upgrade(url)
    settings = Settings(database_url=url)
    engine = make_engine(url)
    v, d = exporters["vllm"].m, exporters["dcgm"].m
    runner = ScrapeRunner(settings, engine)
    t0 = datetime.now(UTC) - timedelta(minutes=4)
    for i in range(4):  # a scrape a minute: running 1..4, KV cache 10..40 %, GPU 50..80 %
        v.running.set(i + 1)
        v.kv.set(0.1 * (i + 1))
        d.util.set(50 + 10 * i)
        d.power.set(400 + i)
        at = int((t0 + timedelta(minutes=i)).timestamp() * S)
        assert runner.scrape_once("vllm", at) and runner.scrape_once("dcgm", at)
    runner.close()
    spans = [make_span(chat_attrs(MODEL, 100, 40), start_ns=int((t0 + timedelta(seconds=30 * i)).timestamp() * S),
                       duration_ms=800) for i in range(5)]
    project = get_or_create_project(engine, "default").rowid
    body = request(spans).SerializeToString()
    assert not build_ingest(settings, engine).ingest_traces(project, decode_traces(body, PROTOBUF)).rejected
    engine.dispose()

    at = _run(_run(AppTest.from_file(APP, default_timeout=60)).switch_page("servers.py"))
    assert [t.value for t in at.title] == ["Servers & GPUs"]
    shown = metrics(at)
    assert shown["Traced requests"] == "5" and shown["Running (mean)"] == "2.5"
    assert shown["KV-cache use (max)"] == "40.0%" and shown["GPU utilisation"] == "65.0%"
    assert shown["GPU power (mean)"] == "402 W"
    assert titles(at) == ["Requests running (llama-8b)", "KV-cache use (llama-8b)",  # left column, then right
                          "Requests waiting (llama-8b)", "GPU utilisation (llama-8b)"]
    costs = dict(zip(*at.dataframe[0].value.T.values, strict=True))
    # the default range: the last 24 h, up to the end of the current minute, at $2.50 per GPU-hour
    assert 24.0 <= float(costs["GPU hours"]) <= 24.02 and costs["GPU cost"].startswith("$60.0")


def test_servers_page_without_deployments_says_how_to_add_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    from dashboard import data

    data.deployments.clear()  # cached per process: the previous test's configuration must not leak in
    url = f"sqlite:///{tmp_path / 'none.db'}"
    upgrade(url)
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", url)
    monkeypatch.setenv("LLM_MONITOR_CONFIG", str(tmp_path / "absent.toml"))
    at = _run(_run(AppTest.from_file(APP, default_timeout=60)).switch_page("servers.py"))
    assert "No deployments configured" in infos(at)
