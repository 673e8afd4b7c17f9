"""The Streamlit dashboard run by ``streamlit.testing`` AppTest against real SQLite databases: the
seeded one of ``tests.integration.test_query_views`` (numbers computed by hand there) and empty ones.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import dashboard
from monitor.language_job import label_languages
from monitor.migrate import upgrade
from monitor.store import make_engine
from tests.integration.test_query_views import PASSWORD_QUESTION, hour_aligned_t0, seed_calls, seed_settings

APP = str(Path(dashboard.__file__).with_name("app.py"))


def _database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, migrate: bool = True) -> str:
    url = f"sqlite:///{tmp_path / name}"
    if migrate:
        upgrade(url)
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", url)
    monkeypatch.setenv("LLM_MONITOR_CONFIG", str(tmp_path / "absent.toml"))
    return url


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """One seeded database for the module (seeding is the slow part); the tests only read it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'seeded.db'}"
    upgrade(url)
    engine = make_engine(url)
    _, trace_id = seed_calls(seed_settings(url), engine, hour_aligned_t0())
    assert label_languages(engine, limit=None) == 11  # what the worker's language job does
    engine.dispose()
    return url, trace_id


@pytest.fixture
def app(seeded_db: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", seeded_db[0])
    monkeypatch.setenv("LLM_MONITOR_CONFIG", str(tmp_path / "absent.toml"))
    yield _run(AppTest.from_file(APP, default_timeout=60))


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _plain(value: Any) -> Any:
    """Plotly 6 ships numeric arrays as base64 typed arrays; turn them back into lists."""
    if isinstance(value, dict) and "bdata" in value and "dtype" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def figures(at: AppTest) -> list[dict[str, Any]]:
    return [_plain(json.loads(el.proto.spec)) for el in at.get("plotly_chart")]


def titles(at: AppTest) -> list[str]:
    return [fig["layout"]["title"]["text"] for fig in figures(at)]


def infos(at: AppTest) -> str:
    return "\n".join(i.value for i in at.info)


def test_overview_numbers_charts_breakdowns_and_filters(app: AppTest) -> None:
    assert [t.value for t in app.title] == ["Overview"] and "no alert rules yet" in infos(app)
    assert metrics(app) == {"Requests": "11", "Error rate": "9.1%", "Latency p50": "500 ms", "Latency p95": "550 ms",
                            "Latency p99": "590 ms", "TTFT p50": "35 ms", "Tokens": "10,220", "Cost": "$0.0140"}
    assert titles(app) == [
        "Requests per 30 min by model", "Error rate by model", "Latency p50 / p95 / p99 (all calls)",
        "Latency p95 by model", "Time to first token p50 by model", "Tokens per 30 min by model",
        "Cost per 30 min by model"]
    for fig in figures(app):  # every chart says what its axes measure
        assert fig["layout"]["xaxis"]["title"]["text"] == "Time (UTC)" and fig["layout"]["yaxis"]["title"]["text"]
    requests = figures(app)[0]
    assert {t["name"] for t in requests["data"]} == {"model-a", "model-b", "model-c"}
    table = app.dataframe[0].value
    assert dict(zip(table["group"], table["requests"], strict=True)) == {"model-a": 6, "model-b": 4, "model-c": 1}

    app.radio(key="ov_group").set_value("segment.variant")
    _run(app)
    assert titles(app)[0] == "Requests per 30 min by segment variant"
    table = app.dataframe[0].value
    assert dict(zip(table["group"], table["requests"], strict=True)) == {"B": 7, "A": 3, "(none)": 1}

    app.selectbox(key="f_model").set_value("model-b")
    _run(app)
    assert metrics(app)["Requests"] == "4" and metrics(app)["Cost"] == "$0.0020"
    app.selectbox(key="f_model").set_value("All models")
    app.multiselect(key="f_segment").set_value(["variant = A"])
    _run(app)
    assert metrics(app)["Requests"] == "3"
    app.selectbox(key="f_range").set_value("All time")  # from the first call, 2 to 3 hours ago: 5-minute buckets
    _run(app)
    assert metrics(app)["Requests"] == "3" and titles(app)[0] == "Requests per 5 min by segment variant"
    app.selectbox(key="f_range").set_value("Last 15 minutes")
    _run(app)
    assert "No LLM calls match the time range (Last 15 minutes) and filters" in infos(app) and not app.metric


def test_traces_search_tree_waterfall_and_call_details(app: AppTest, seeded_db: tuple[str, str]) -> None:
    _run(app.switch_page("traces.py"))
    assert len(app.dataframe[0].value) == 11
    app.text_input(key="tr_search").set_value("reset my password")
    _run(app)
    listed = app.dataframe[0].value
    assert list(listed["trace_id"]) == [seeded_db[1]] and listed["calls"][0] == 1
    tree = app.dataframe[1].value
    assert list(tree["label"]) == ["POST /chat", "└─ retrieve", "└─ chat gpt-4o-mini"]
    assert list(tree["kind"]) == ["span", "span", "LLM call"] and list(tree["offset_ms"]) == [0.0, 1.0, 60.0]
    (waterfall,) = figures(app)
    assert waterfall["layout"]["title"]["text"].startswith("Timing waterfall")
    bars = {t["name"]: t for t in waterfall["data"]}
    assert bars["LLM call"]["x"] == [100.0] and bars["LLM call"]["base"] == [60.0]
    shown = metrics(app)
    assert shown["Spans"] == "3" and shown["LLM calls"] == "1" and shown["Duration"] == "400 ms"
    assert shown["Input tokens"] == "1,000" and shown["Cost"] == "$0.0020" and shown["TTFT"] == "10 ms"
    assert [c.value for c in app.code] == [PASSWORD_QUESTION, "answer 0"]
    assert "No scores for this trace yet" in infos(app)

    app.text_input(key="tr_search").set_value("no such words")
    _run(app)
    assert "No trace matches" in infos(app)


def test_cost_page_breakdowns_and_hosting(app: AppTest) -> None:
    _run(app.switch_page("cost.py"))
    assert metrics(app) == {"Total cost": "$0.0140", "API": "$0.0120", "Self-hosted": "$0.0020",
                            "Priced calls": "10 of 11", "Per 1M tokens": "$1.37"}
    assert titles(app) == ["Cost by model (USD)", "Cost by user, top 20 (USD)", "Cost by service (USD)",
                           "Cost by segment region (USD)", "API vs self-hosted (USD)", "Cost per 30 min by model",
                           "Cost per request by input language (USD)"]
    by_user = figures(app)[1]["data"][0]
    assert dict(zip(by_user["y"], by_user["x"], strict=True)) == pytest.approx({"u1": 0.006, "u2": 0.006, "u3": 0.002})
    hosting = figures(app)[4]["data"][0]
    assert dict(zip(hosting["labels"], hosting["values"], strict=True)) == pytest.approx(
        {"API": 0.012, "self-hosted": 0.002})
    sources = app.dataframe[0].value
    assert set(sources["source"]) == {"your price table ([prices])", "self-hosted GPU time ([[deployments]])",
                                      "unpriced"}
    models = app.dataframe[1].value
    assert list(models["group"]) == ["model-a", "model-b", "model-c"]
    # English: the password question (27 chars, 1000 tokens, $0.002), 4 model-b calls and the unpriced model-c
    # call asking "What is OTLP?" (13 chars; 200 and 10 tokens; $0.0005 each); "question 1".."5" (10 chars,
    # 1000 tokens, $0.002 each) are undetermined.
    by_language = figures(app)[6]["data"][0]
    assert dict(zip(by_language["y"], by_language["x"], strict=True)) == pytest.approx(
        {"English (en)": 0.004 / 5, "undetermined (und)": 0.002})
    languages = app.dataframe[2].value.set_index("language")
    assert languages["requests"].to_dict() == {"English (en)": 6, "undetermined (und)": 5}
    assert languages["input_chars"].to_dict() == {"English (en)": 27 + 5 * 13, "undetermined (und)": 50}
    assert languages["tokens_per_char"].to_dict() == pytest.approx(
        {"English (en)": (1000 + 4 * 200 + 10) / 92, "undetermined (und)": 100.0})
    app.selectbox(key="cost_segment").set_value("variant")
    _run(app)
    by_variant = figures(app)[3]
    assert by_variant["layout"]["title"]["text"] == "Cost by segment variant (USD)"
    assert dict(zip(by_variant["data"][0]["y"], by_variant["data"][0]["x"], strict=True)) == pytest.approx(
        {"A": 0.006, "B": 0.008})


def test_empty_database_shows_empty_states(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _database(tmp_path, monkeypatch, "empty.db")
    at = _run(AppTest.from_file(APP, default_timeout=60))
    assert "No data yet" in infos(at) and not at.metric and not figures(at)
    for page in ("traces.py", "cost.py", "evaluations.py", "annotate.py", "drift.py", "alerts.py"):
        _run(at.switch_page(page))
        assert "No data yet" in infos(at) or "Nothing to show yet" in infos(at), page


def test_project_without_calls_and_unmigrated_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.store.keys import get_or_create_project

    url = _database(tmp_path, monkeypatch, "project-only.db")
    get_or_create_project(make_engine(url), "default")
    at = _run(AppTest.from_file(APP, default_timeout=60))
    assert "Project 'default' has no LLM calls yet" in infos(at)
    _database(tmp_path, monkeypatch, "blank.db", migrate=False)
    at = _run(AppTest.from_file(APP, default_timeout=60))
    assert "is not migrated" in at.error[0].value
