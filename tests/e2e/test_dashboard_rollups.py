"""The Overview page over a long range once the worker has rolled calls up: the same counts as the spans,
and a caption saying the percentiles are approximate (AppTest, real SQLite database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.overview import APPROXIMATE
from monitor import query_views as qv
from monitor.migrate import upgrade
from monitor.query import CallFilters
from monitor.store import make_engine
from monitor.store.call_rollup import roll_up_calls
from tests.e2e.test_dashboard import APP, _run, metrics
from tests.integration.test_call_rollups import _seed


def test_overview_over_days_reads_rollups_and_says_percentiles_are_approximate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'rolled.db'}"
    upgrade(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    pid, _ = _seed(engine, now - timedelta(minutes=1), hours=60, calls=300)
    roll_up_calls(engine, now)
    week = CallFilters(start=(now - timedelta(days=7)).replace(second=0, microsecond=0))
    exact = qv._raw_series(engine, pid, week, None)[0]
    engine.dispose()
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", url)
    monkeypatch.setenv("LLM_MONITOR_CONFIG", str(tmp_path / "absent.toml"))
    app = _run(AppTest.from_file(APP, default_timeout=60))
    captions = [c.value for c in app.caption]
    assert APPROXIMATE not in captions  # "Last 24 hours": read exactly from the spans
    app.selectbox(key="f_range").set_value("Last 7 days")
    _run(app)
    assert metrics(app)["Requests"] == "300" == str(exact["requests"])
    assert APPROXIMATE in [c.value for c in app.caption]


def test_traces_search_out_of_time_says_how_far_back_it_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    from dashboard import data

    url = f"sqlite:///{tmp_path / 'search.db'}"
    upgrade(url)
    engine = make_engine(url)
    _seed(engine, datetime.now(UTC) - timedelta(minutes=1), hours=60, calls=300)
    engine.dispose()
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", url)
    monkeypatch.setenv("LLM_MONITOR_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setattr(data, "SEARCH_BUDGET_S", 0.0)  # out of time after the first window
    app = _run(AppTest.from_file(APP, default_timeout=60))
    app.selectbox(key="f_range").set_value("Last 7 days")
    _run(app.switch_page("traces.py"))
    app.text_input(key="tr_search").set_value("zebracorn")
    _run(app)
    assert "No trace matches this search" in "\n".join(i.value for i in app.info)
    assert any(c.value.startswith("The search read the calls since") and "narrow the time range" in c.value
               for c in app.caption)
    monkeypatch.setattr(data, "SEARCH_BUDGET_S", 60.0)  # time enough: the whole range, no caption
    app.text_input(key="tr_search").set_value("hello")
    _run(app)
    assert not any(c.value.startswith("The search read") for c in app.caption) and app.dataframe
