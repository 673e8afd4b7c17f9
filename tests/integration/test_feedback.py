"""Human feedback through the REST API and the SDK against a real server, the evaluator audit on
stored labels, and the annotation queue's order, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, insert, select

from collectors.otlp.traces import PROTOBUF, decode_traces
from monitor import sdk
from monitor.agreement import agreement
from monitor.api.app import build_ingest
from monitor.config import Settings
from monitor.feedback_query import annotation_candidates, audit, satisfaction
from monitor.server import ServiceHandle, free_port, start_in_thread
from monitor.store.keys import create_key, get_or_create_project
from monitor.store.models import ScoreRow
from tests.otlp_builders import chat_attrs, make_span, request


@pytest.fixture
def service(settings: Settings) -> Iterator[ServiceHandle]:
    handle = start_in_thread(settings, with_grpc=False)
    yield handle
    handle.stop()


def _rows(engine: Engine, **where: object) -> list[dict]:
    stmt = select(ScoreRow).where(*[getattr(ScoreRow, k) == v for k, v in where.items()]).order_by(ScoreRow.id)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt.with_only_columns(*ScoreRow.__table__.c))]


def test_feedback_api_stores_each_signal_as_a_human_score(service: ServiceHandle, engine: Engine) -> None:
    base = f"http://127.0.0.1:{service.http_port}"
    trace = "0af7651916cd43dd8448eb211c80319c"
    reply = httpx.post(f"{base}/api/v1/feedback", json={
        "trace_id": trace.upper(), "thumbs": "down", "rating": 2, "criterion": "hallucination", "label": "yes",
        "comment": "the refund period is wrong", "user": "alice"})
    assert reply.status_code == 201, reply.text
    ids = reply.json()["score_ids"]
    rows = _rows(engine, trace_id=trace)
    assert [r["id"] for r in rows] == ids
    assert [(r["name"], r["value"], r["label"]) for r in rows] == [
        ("thumbs", 0.0, "down"), ("rating", 0.25, "2/5"), ("hallucination", 1.0, "yes")]
    assert all(r["source"] == "human" and r["explanation"] == "the refund period is wrong"
               and r["details"] == {"by": "alice"} and r["span_id"] is None for r in rows)
    only_comment = httpx.post(f"{base}/api/v1/feedback", json={"trace_id": trace, "comment": "slow today"})
    assert only_comment.status_code == 201
    (comment,) = _rows(engine, id=only_comment.json()["score_ids"][0])
    assert (comment["name"], comment["value"], comment["explanation"]) == ("comment", None, "slow today")


@pytest.mark.parametrize(("body", "message"), [
    ({"trace_id": "xyz", "thumbs": "up"}, "trace_id must be 32 hex digits"),
    ({"trace_id": "a" * 32}, "at least one of thumbs, rating, criterion or comment"),
    ({"trace_id": "a" * 32, "rating": 6}, "rating must be an integer from 1 to 5"),
    ({"trace_id": "a" * 32, "criterion": "relevance"}, "needs a value (0..1) or a yes/no label"),
    ({"trace_id": "a" * 32, "criterion": "relevance", "value": 1.5}, "between 0 and 1"),
    ({"trace_id": "a" * 32, "value": 1.0}, "value needs a criterion"),
    ({"trace_id": "a" * 32, "span_id": "123", "thumbs": "up"}, "span_id must be 16 hex digits"),
    ({"trace_id": "a" * 32, "comment": "x" * 10_001}, "comment is longer than 10000"),
])
def test_bad_feedback_is_refused_with_the_reason_and_stores_nothing(service: ServiceHandle, engine: Engine,
                                                                    body: dict, message: str) -> None:
    reply = httpx.post(f"http://127.0.0.1:{service.http_port}/api/v1/feedback", json=body)
    assert reply.status_code == 422 and message in reply.text
    assert _rows(engine) == []


def test_feedback_needs_an_ingest_key_of_the_project(db_url: str, engine: Engine) -> None:
    settings = Settings(database_url=db_url, auth="required", server={"key_cache_ttl_s": 0})
    ingest_a, _ = create_key(engine, "team-a", "app", ("ingest",))
    read_b, _ = create_key(engine, "team-b", "viewer", ("read",))
    handle = start_in_thread(settings, with_grpc=False)
    try:
        url = f"http://127.0.0.1:{handle.http_port}/api/v1/feedback"
        body = {"trace_id": "b" * 32, "thumbs": "up"}
        assert httpx.post(url, json=body).status_code == 401
        assert httpx.post(url, json=body, headers={"authorization": f"Bearer {read_b}"}).status_code == 401
        assert httpx.post(url, json=body, headers={"authorization": f"Bearer {ingest_a}"}).status_code == 201
    finally:
        handle.stop()
    team_a = get_or_create_project(engine, "team-a").rowid
    assert [r["project_rowid"] for r in _rows(engine)] == [team_a]


def test_sdk_feedback_inside_and_after_a_traced_call(service: ServiceHandle, engine: Engine) -> None:
    base = f"http://127.0.0.1:{service.http_port}"
    sdk.configure(endpoint=base, service_name="support-bot", schedule_delay_s=0.05)
    seen: dict[str, str] = {}

    @sdk.observe(kind="llm", model="gpt-4o-mini", provider="openai")
    def generate(prompt: str) -> str:
        ids = sdk.feedback(criterion="relevance", value=1.0, user="auto-check")  # the current call
        assert ids and len(ids) == 1
        from opentelemetry import trace

        ctx = trace.get_current_span().get_span_context()
        seen.update(trace_id=f"{ctx.trace_id:032x}", span_id=f"{ctx.span_id:016x}")
        return "Refunds take 5 days."

    generate("How long do refunds take?")
    later = sdk.feedback(seen["trace_id"], thumbs="up", user="u7")  # what a web app does on a click
    assert sdk.flush(10)
    sdk.shutdown()
    (relevance,) = _rows(engine, name="relevance")
    assert (relevance["trace_id"], relevance["span_id"], relevance["value"]) == (seen["trace_id"], seen["span_id"], 1.0)
    (thumbs,) = _rows(engine, name="thumbs")
    assert thumbs["id"] == later[0] and thumbs["span_id"] is None and thumbs["details"] == {"by": "u7"}
    calls = httpx.get(f"{base}/api/v1/calls").json()["items"]
    assert [c["trace_id"] for c in calls] == [seen["trace_id"]]
    with pytest.raises(ValueError, match="needs trace_id"):
        sdk.feedback(thumbs="up")  # outside any traced call


def test_sdk_feedback_reports_a_refusal_and_an_unreachable_server(service: ServiceHandle) -> None:
    sdk.configure(endpoint=f"http://127.0.0.1:{service.http_port}")
    with pytest.raises(sdk.FeedbackError, match=r"HTTP 422.*rating"):
        sdk.feedback("c" * 32, rating=9)
    sdk.configure(endpoint=f"http://127.0.0.1:{free_port('127.0.0.1')}", export_timeout_s=2)
    with pytest.raises(sdk.FeedbackError, match="could not reach"):
        sdk.feedback("c" * 32, thumbs="up")
    assert sdk.feedback("c" * 32, thumbs="up", raise_errors=False) is None
    sdk.shutdown()


def _seed_calls(settings: Settings, engine: Engine, n: int) -> tuple[int, list[tuple[str, str]]]:
    project = get_or_create_project(engine, "default")
    spans, keys = [], []
    for i in range(n):
        trace_id, span_id = bytes([i + 1]) * 16, bytes([i + 1]) * 8
        out = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": f"answer {i}"}]}])
        model = "model-a" if i % 2 == 0 else "model-b"
        spans.append(make_span(chat_attrs(model, **{"gen_ai.output.messages": out}), trace_id=trace_id,
                               span_id=span_id))
        keys.append((trace_id.hex(), span_id.hex()))
    body = request(spans).SerializeToString()
    assert not build_ingest(settings, engine).ingest_traces(project.rowid, decode_traces(body, PROTOBUF)).rejected
    return project.rowid, keys


def test_audit_compares_human_labels_with_evaluator_scores(service: ServiceHandle, settings: Settings,
                                                           engine: Engine) -> None:
    project, keys = _seed_calls(settings, engine, 10)
    evaluator = [0.9, 0.8, 0.6, 0.7, 0.2, 0.4, 0.1, 0.3, 0.0, 0.45]  # the unit test's hand-computed example
    human = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]
    with engine.begin() as conn:
        conn.execute(insert(ScoreRow), [
            {"project_rowid": project, "trace_id": t, "span_id": s, "name": "relevance", "value": v,
             "source": "evaluator", "evaluator": "relevance"} for (t, s), v in zip(keys, evaluator, strict=True)])
    base = f"http://127.0.0.1:{service.http_port}"
    for i, ((t, s), h) in enumerate(zip(keys, human, strict=True)):
        # half name the call, half only the trace (matched to the trace's call when audited)
        body = {"trace_id": t, "criterion": "relevance", "value": h, "user": "rater"}
        body |= {"span_id": s} if i % 2 else {}
        assert httpx.post(f"{base}/api/v1/feedback", json=body).status_code == 201
    reply = httpx.get(f"{base}/api/v1/evaluations/agreement", params={"criterion": "relevance"})
    assert reply.status_code == 200, reply.text
    got = reply.json()
    expected = agreement(list(zip(human, evaluator, strict=True)))
    assert (got["n"], got["tp"], got["fp"], got["fn"], got["tn"]) == (10, 3, 1, 2, 4)
    assert got["kappa"] == pytest.approx(0.4) and got["f1"] == pytest.approx(expected.f1)
    assert got["precision_ci"] == pytest.approx(list(expected.precision_ci))
    assert got["suggested_threshold"] == pytest.approx(0.2)  # catches all 5 positives for 2 false alarms: F1 0.83
    worst = got["disagreements"][0]
    assert (worst["trace_id"], worst["human"], worst["evaluator"]) == (keys[4][0], 1.0, 0.2)
    assert worst["output"] == "answer 4" and worst["by"] == "rater"
    assert sum(b["n"] for b in got["over_time"]) == 10
    # threshold moves the confusion, exactly as the library does
    at = audit(engine, project, "relevance", threshold=0.35)
    assert (at.overall.confusion.tp, at.overall.confusion.fp) == (4, 2)


def test_annotation_queue_puts_the_least_sure_first_and_drops_labelled_calls(settings: Settings,
                                                                             engine: Engine) -> None:
    project, keys = _seed_calls(settings, engine, 6)
    values = [0.95, 0.52, 0.1, 0.7, 0.4, 0.49]
    with engine.begin() as conn:
        conn.execute(insert(ScoreRow), [
            {"project_rowid": project, "trace_id": t, "span_id": s, "name": "toxicity", "value": v,
             "source": "evaluator"} for (t, s), v in zip(keys, values, strict=True)])
        conn.execute(insert(ScoreRow).values(project_rowid=project, trace_id=keys[5][0], span_id=None,
                                             name="toxicity", value=0.0, source="human"))  # trace-level label
    queue = annotation_candidates(engine, project, "toxicity")
    assert [c["evaluator_value"] for c in queue] == pytest.approx([0.52, 0.4, 0.7, 0.1, 0.95])
    assert queue[0]["output_text"] == "answer 1" and queue[0]["span_id"] == keys[1][1]
    randomly = annotation_candidates(engine, project, "toxicity", mode="random")
    assert sorted(c["span_id"] for c in randomly) == sorted(s for _, s in keys[:5])
    assert annotation_candidates(engine, project, "relevance", mode="uncertain") == []  # no relevance scores yet
    with pytest.raises(ValueError, match="mode"):
        annotation_candidates(engine, project, "toxicity", mode="worst")


def test_satisfaction_by_model_matches_votes_to_the_trace_call(settings: Settings, engine: Engine) -> None:
    project, keys = _seed_calls(settings, engine, 4)  # models a, b, a, b
    votes = [1.0, 0.0, 1.0, 1.0, 0.0]
    with engine.begin() as conn:
        conn.execute(insert(ScoreRow), [
            {"project_rowid": project, "trace_id": keys[i % 4][0], "span_id": None, "name": "thumbs", "value": v,
             "source": "human"} for i, v in enumerate(votes)])
    rows = satisfaction(engine, project, bucket_s=86400, group_by="model")
    by_model = {r["group"]: (r["votes"], r["thumbs_up_share"]) for r in rows}
    assert by_model == {"model-a": (3, pytest.approx(2 / 3)), "model-b": (2, 0.5)}  # a: up, up, down
    (overall,) = satisfaction(engine, project, bucket_s=86400)
    assert (overall["votes"], overall["thumbs_up_share"]) == (5, pytest.approx(0.6))


def test_scores_endpoint_lists_filters_and_pages(service: ServiceHandle, settings: Settings, engine: Engine) -> None:
    project, keys = _seed_calls(settings, engine, 3)
    with engine.begin() as conn:
        conn.execute(insert(ScoreRow), [
            {"project_rowid": project, "trace_id": t, "span_id": s, "name": "toxicity", "value": 0.1 * i,
             "source": "evaluator", "evaluator": "toxicity", "evaluator_version": "1"}
            for i, (t, s) in enumerate(keys)])
    base = f"http://127.0.0.1:{service.http_port}/api/v1"
    assert httpx.post(f"{base}/feedback", json={"trace_id": keys[0][0], "thumbs": "up"}).status_code == 201
    everything = httpx.get(f"{base}/scores").json()
    assert [(s["name"], s["source"]) for s in everything["items"]] == [
        ("thumbs", "human"), ("toxicity", "evaluator"), ("toxicity", "evaluator"), ("toxicity", "evaluator")]
    assert everything["next_before_id"] is None
    one_trace = httpx.get(f"{base}/scores", params={"trace_id": keys[0][0].upper()}).json()["items"]
    assert {s["name"] for s in one_trace} == {"thumbs", "toxicity"}
    first = httpx.get(f"{base}/scores", params={"source": "evaluator", "limit": 2}).json()
    assert [s["value"] for s in first["items"]] == pytest.approx([0.2, 0.1])
    rest = httpx.get(f"{base}/scores", params={"source": "evaluator", "limit": 2,
                                               "before_id": first["next_before_id"]}).json()
    assert [s["value"] for s in rest["items"]] == [0.0] and rest["next_before_id"] is None
    assert httpx.get(f"{base}/scores", params={"trace_id": "nope"}).status_code == 422
