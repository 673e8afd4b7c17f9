"""The Annotate and Evaluations pages through ``streamlit.testing`` on a real SQLite database:
labelling with the buttons stores human scores, and the audit shows the agreement they make."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert, select
from streamlit.testing.v1 import AppTest

from monitor.migrate import upgrade
from monitor.store import make_engine
from monitor.store.models import ScoreRow
from tests.e2e.test_dashboard import APP, _run, infos, metrics
from tests.integration.test_feedback import _seed_calls
from tests.integration.test_query_views import seed_settings

EVALUATOR = [0.95, 0.52, 0.1, 0.7, 0.4, 0.49]  # least sure first: calls 5, 1, 4, 3, 2, 0


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[AppTest, str]:
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    upgrade(url)
    engine = make_engine(url)
    project, keys = _seed_calls(seed_settings(url), engine, len(EVALUATOR))
    with engine.begin() as conn:
        conn.execute(insert(ScoreRow), [
            {"project_rowid": project, "trace_id": t, "span_id": s, "name": "toxicity", "value": v,
             "source": "evaluator", "evaluator": "toxicity"} for (t, s), v in zip(keys, EVALUATOR, strict=True)])
    engine.dispose()
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", url)
    monkeypatch.setenv("LLM_MONITOR_CONFIG", str(tmp_path / "absent.toml"))
    return _run(AppTest.from_file(APP, default_timeout=60)), url


def _shown_output(at: AppTest) -> str:
    return at.text[-1].value


def test_label_calls_with_the_buttons_and_audit_them(app: tuple[AppTest, str]) -> None:
    at, url = app
    _run(at.switch_page("annotate.py"))
    at.selectbox(key="an_criterion").set_value("toxicity")
    at.text_input(key="an_user").set_value("dana")
    _run(at)
    assert [t.value for t in at.title] == ["Annotate"]
    assert "0 labelled in this session · 6 waiting" in at.caption[0].value
    assert _shown_output(at) == "answer 5" and "evaluator score 0.49" in at.caption[1].value
    labels = {"answer 5": "an_no", "answer 1": "an_no", "answer 4": "an_yes", "answer 3": "an_yes",
              "answer 2": "an_no"}
    for expected_output, key in labels.items():
        assert _shown_output(at) == expected_output
        at.button(key=key).click()
        _run(at)
    assert "5 labelled in this session · 1 waiting" in at.caption[0].value
    at.button(key="an_skip").click()  # call 0 skipped: the queue is done
    _run(at)
    assert "Nothing left to label for **toxicity**" in infos(at)

    engine = make_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(select(ScoreRow.value, ScoreRow.source, ScoreRow.details)
                              .where(ScoreRow.source == "human").order_by(ScoreRow.id)).all()
    engine.dispose()
    assert [(v, s, d) for v, s, d in stored] == [(0.0, "human", {"by": "dana"}), (0.0, "human", {"by": "dana"}),
                                                  (1.0, "human", {"by": "dana"}), (1.0, "human", {"by": "dana"}),
                                                  (0.0, "human", {"by": "dana"})]

    _run(at.switch_page("evaluations.py"))
    at.selectbox(key="ev_criterion").set_value("toxicity")
    _run(at)
    # people: 0.49 no, 0.52 no, 0.4 yes, 0.7 yes, 0.1 no; at 0.5 the evaluator says yes to 0.52 and 0.7
    # suggested: 0.4 and 0.7 both give F1 2/3; 0.4 is nearer 0.5
    shown = metrics(at)
    assert shown["Labels compared"] == "5" and shown["Precision"] == "0.50" and shown["Recall"] == "0.50"
    assert "suggest a threshold of **0.40**" in infos(at)
    worst = at.dataframe[0].value
    assert list(worst["output"])[:2] == ["answer 4", "answer 1"]  # gaps 0.6 and 0.52, largest first
    assert "Only 5 labels" in at.warning[0].value


def test_evaluations_page_without_labels_says_how_to_get_them(app: tuple[AppTest, str]) -> None:
    at, _ = app
    _run(at.switch_page("evaluations.py"))
    at.selectbox(key="ev_criterion").set_value("toxicity")
    _run(at)
    assert "Label some on the Annotate page" in infos(at)
