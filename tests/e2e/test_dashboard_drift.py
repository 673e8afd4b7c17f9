"""The Drift page through ``streamlit.testing`` on a real SQLite database holding a planted shift:
one model starts refusing in the current window, and the page says so with the numbers behind it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from evaluators.drift.job import DriftJob
from monitor.migrate import upgrade
from monitor.store import make_engine
from tests.e2e.test_dashboard import APP, _run, figures, infos, metrics
from tests.integration.test_drift_store import SETTINGS, _seed


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    url = f"sqlite:///{tmp_path / 'drift.db'}"
    upgrade(url)
    engine = make_engine(url)
    _seed(engine, refusals=0.4)  # model-b refuses 40 % of its answers in the current hour
    DriftJob(SETTINGS, engine).run_once(datetime(2026, 11, 27, 12, 30, tzinfo=UTC))
    engine.dispose()
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", url)
    monkeypatch.setenv("LLM_MONITOR_CONFIG", str(tmp_path / "absent.toml"))
    at = _run(AppTest.from_file(APP, default_timeout=60))
    at.selectbox(key="f_range").set_value("All time")
    return _run(at.switch_page("drift.py"))


def test_drift_page_shows_the_planted_refusal_shift(app: AppTest) -> None:
    assert [t.value for t in app.title] == ["Drift"]
    assert app.selectbox(key="dr_segment").value == "all"
    assert "is_refusal" in app.warning[0].value
    shown = metrics(app)
    assert shown["Current window"] == "11:00 – 12:00" and shown["Reference"] == "10:00 – 11:00"
    table = app.dataframe[0].value
    refusal = table[table["feature"] == "is_refusal"].iloc[0]
    assert bool(refusal["drifted"]) and refusal["current_count"] == 160
    shares = next(f for f in figures(app) if f["layout"]["title"]["text"].startswith("Reference vs current shares"))
    assert "is_refusal" in shares["layout"]["title"]["text"]
    current = next(t for t in shares["data"] if t["name"] == "current")
    assert dict(zip(current["x"], current["y"], strict=True))["1"] == pytest.approx(0.2)  # 32 of 160

    app.selectbox(key="dr_segment").set_value("model=model-a")
    _run(app)
    assert metrics(app)["Drifted features"].startswith("0 of") and not app.warning


def test_drift_page_without_results_explains_when_they_come(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.stored_calls import Call, store_calls

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    engine = make_engine(url)
    store_calls(engine, [Call("hello")])
    engine.dispose()
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", url)
    monkeypatch.setenv("LLM_MONITOR_CONFIG", str(tmp_path / "absent.toml"))
    at = _run(_run(AppTest.from_file(APP, default_timeout=60)).switch_page("drift.py"))
    assert "No drift results yet" in infos(at)
