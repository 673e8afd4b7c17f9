"""The dashboard's reads (monitor.query_views) on SQLite and PostgreSQL, against hand-computed figures.

The seed goes through the real ingest path (decode, normalise, price) and the GPU-time pricing
job, so the cost sources are the ones production writes. ``seed_calls`` is shared with the
dashboard's AppTest tests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from collectors.otlp.traces import PROTOBUF, decode_traces
from monitor import query_views as qv
from monitor.api.app import build_ingest
from monitor.config import Settings
from monitor.gpu_cost import attribute_gpu_costs
from monitor.query import CallFilters, summary
from monitor.store.keys import get_or_create_project
from monitor.store.models import ScoreRow
from tests.otlp_builders import chat_attrs, make_span, request

MIN = 60 * 10**9
PASSWORD_QUESTION = "How do I reset my password?"


def hour_aligned_t0(now: datetime | None = None) -> datetime:
    """A whole hour, two to three hours ago: recent enough for 'last 24 hours', aligned for buckets."""
    now = now or datetime.now(UTC)
    return (now - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)


def seed_settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, auth="disabled", prices={"model-a": {"input": 1.0, "output": 2.0}},
                    deployments=[{"name": "llama", "model": "model-b", "usd_per_gpu_hour": 3.6}])


def _messages(role: str, content: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": content}]}])


def seed_calls(settings: Settings, engine: Engine, t0: datetime) -> tuple[int, str]:
    """11 calls in the hour from ``t0``; returns the project rowid and the trace id of the password question.

    - model-a (API, $1/$2 per 1M tokens): 6 calls at t0+0,5,…,25 min, 1000 in / 500 out tokens
      ($0.002 each), 100…600 ms, TTFT 10…60 ms, service support-bot, variant A (first 3) / B,
      region eu, users u1/u2 alternating, tag prod; the last one failed. The first sits in a trace
      ``POST /chat`` → (``retrieve``, the LLM call).
    - model-b (self-hosted at $3.60 per GPU-hour): 4 calls of 500 ms at t0+40..43 min, alone on the
      GPU, so $0.0005 each by GPU time; 200 in / 100 out; service rag-api, variant B, user u3, tag beta.
    - model-c (no price): 1 call at t0+50 min, 300 ms, 10 in / 10 out, service support-bot.
    """
    base = int(t0.timestamp()) * 10**9
    project = get_or_create_project(engine, "default")
    ingest = build_ingest(settings, engine)

    def send(spans: list, service: str) -> None:
        body = request(spans, {"service.name": service}).SerializeToString()
        assert not ingest.ingest_traces(project.rowid, decode_traces(body, PROTOBUF)).rejected

    trace_id, root_id = bytes.fromhex("ab" * 16), bytes.fromhex("01" * 8)
    a_spans = [
        make_span(name="POST /chat", trace_id=trace_id, span_id=root_id, start_ns=base, duration_ms=400.0),
        make_span(name="retrieve", trace_id=trace_id, parent=root_id, start_ns=base + 10**6, duration_ms=50.0),
    ]
    for i in range(6):
        question = PASSWORD_QUESTION if i == 0 else f"question {i}"
        attrs = chat_attrs("model-a", 1000, 500, **{
            "llm_monitor.segment.variant": "A" if i < 3 else "B", "llm_monitor.segment.region": "eu",
            "user.id": f"u{1 + i % 2}", "llm_monitor.tags": ["prod"],
            "gen_ai.response.time_to_first_chunk": (i + 1) / 100,
            "gen_ai.input.messages": _messages("user", question),
            "gen_ai.output.messages": _messages("assistant", f"answer {i}")})
        start = base + 60 * 10**6 if i == 0 else base + i * 5 * MIN
        a_spans.append(make_span(attrs, trace_id=trace_id if i == 0 else None, parent=root_id if i == 0 else b"",
                                 start_ns=start, duration_ms=100.0 * (i + 1), status_code=2 if i == 5 else 0))
    send(a_spans, "support-bot")
    send([make_span(chat_attrs("model-b", 200, 100, **{"llm_monitor.segment.variant": "B", "user.id": "u3",
                                                       "llm_monitor.tags": ["beta"]}),
                    start_ns=base + (40 + i) * MIN, duration_ms=500.0) for i in range(4)], "rag-api")
    send([make_span(chat_attrs("model-c", 10, 10), start_ns=base + 50 * MIN, duration_ms=300.0)], "support-bot")
    assert attribute_gpu_costs(engine, settings.deployments, now=t0 + timedelta(hours=2)) == 4
    return project.rowid, trace_id.hex()


@pytest.fixture
def seeded(db_url: str, engine: Engine) -> tuple[Engine, int, str, datetime]:
    t0 = hour_aligned_t0()
    project, trace = seed_calls(seed_settings(db_url), engine, t0)
    return engine, project, trace, t0


def test_call_series_by_model_in_15_minute_buckets(seeded: tuple) -> None:
    engine, project, _, t0 = seeded
    rows = qv.call_series(engine, project, CallFilters(), 900, group_by="model")
    got = {((r["bucket"] - t0) // timedelta(minutes=1), r["group"]): r for r in rows}
    assert sorted(got) == [(0, "model-a"), (15, "model-a"), (30, "model-b"), (45, "model-c")]
    first, second, b = got[(0, "model-a")], got[(15, "model-a")], got[(30, "model-b")]
    assert (first["requests"], first["errors"], second["errors"]) == (3, 0, 1)
    assert second["error_rate"] == pytest.approx(1 / 3)
    assert first["latency_ms_p50"] == pytest.approx(200.0) and first["latency_ms_p95"] == pytest.approx(290.0)
    assert first["latency_ms_p99"] == pytest.approx(298.0)
    assert first["ttft_ms_p50"] == pytest.approx(20.0) and second["ttft_ms_p95"] == pytest.approx(59.0)
    assert b["ttft_ms_p50"] is None and b["latency_ms_p99"] == pytest.approx(500.0)
    assert (first["input_tokens"], first["output_tokens"], first["total_tokens"]) == (3000, 1500, 4500)
    assert first["cost_usd"] == pytest.approx(0.006) and b["cost_usd"] == pytest.approx(0.002)
    assert got[(45, "model-c")]["cost_usd"] is None and got[(45, "model-c")]["priced_requests"] == 0
    assert all(r["bucket"].tzinfo is not None and r["bucket_s"] == 900 for r in rows)


def test_call_series_filters_segments_and_totals_match_summary(seeded: tuple) -> None:
    engine, project, _, t0 = seeded
    by_variant = qv.call_series(engine, project, CallFilters(), 3600, group_by="segment.variant")
    assert {(r["group"], r["requests"]) for r in by_variant} == {("A", 3), ("B", 7), (None, 1)}
    only_b = CallFilters(segment={"variant": ["B"]}, start=t0 + timedelta(minutes=16))
    assert sum(r["requests"] for r in qv.call_series(engine, project, only_b, 60)) == 2 + 4
    overall = qv.call_series(engine, project, CallFilters(), 3600)
    (total,) = summary(engine, project, CallFilters())
    assert len(overall) == 1 and overall[0]["requests"] == total["requests"] == 11
    assert overall[0]["latency_ms_p95"] == pytest.approx(total["latency_ms_p95"])
    assert overall[0]["cost_usd"] == pytest.approx(total["cost_usd"]) == pytest.approx(0.014)


@pytest.mark.parametrize("group_by", [None, "model", "segment.variant", "service"])
def test_call_stats_agree_with_query_summary(seeded: tuple, group_by: str | None) -> None:
    engine, project, _, _ = seeded
    ours = qv.call_stats(engine, project, CallFilters(), group_by)
    theirs = summary(engine, project, CallFilters(), group_by)
    assert [r["group"] for r in ours] == [r["group"] for r in theirs] and all(r["bucket"] is None for r in ours)
    for mine, ref in zip(ours, theirs, strict=True):
        figures = {k: v for k, v in ref.items() if k != "group"}
        assert {k: mine[k] for k in figures} == pytest.approx(figures)


def test_cost_breakdowns(seeded: tuple) -> None:
    engine, project, _, _ = seeded

    def costs(by: str) -> dict:
        rows = qv.cost_breakdown(engine, project, CallFilters(), by)
        return {r["group"]: (r["requests"], r["cost_usd"]) for r in rows}

    assert costs("model") == {"model-a": (6, pytest.approx(0.012)), "model-b": (4, pytest.approx(0.002)),
                              "model-c": (1, None)}
    assert costs("user") == {"u1": (3, pytest.approx(0.006)), "u2": (3, pytest.approx(0.006)),
                             "u3": (4, pytest.approx(0.002)), None: (1, None)}
    assert costs("service") == {"support-bot": (7, pytest.approx(0.012)), "rag-api": (4, pytest.approx(0.002))}
    assert costs("segment.variant") == {"B": (7, pytest.approx(0.008)), "A": (3, pytest.approx(0.006)),
                                        None: (1, None)}
    assert costs("hosting") == {"API": (6, pytest.approx(0.012)), "self-hosted": (4, pytest.approx(0.002)),
                                "unpriced": (1, None)}
    assert set(costs("source")) == {"config", "gpu_time", None}
    first = qv.cost_breakdown(engine, project, CallFilters(), "model")[0]
    assert first["group"] == "model-a" and first["priced_tokens"] == 9000
    assert first["usd_per_1m_tokens"] == pytest.approx(0.012 * 1e6 / 9000)
    with pytest.raises(ValueError, match="unknown breakdown"):
        qv.cost_breakdown(engine, project, CallFilters(), "colour")


def test_filter_options_bounds_and_projects(seeded: tuple) -> None:
    engine, project, _, t0 = seeded
    opts = qv.filter_options(engine, project)
    assert opts.models == ["model-a", "model-b", "model-c"] and opts.services == ["rag-api", "support-bot"]
    assert opts.segments == {"region": ["eu"], "variant": ["A", "B"]} and opts.tags == ["beta", "prod"]
    assert qv.filter_options(engine, project, start=t0 + timedelta(minutes=45)).models == ["model-c"]
    first, last = qv.time_bounds(engine, project, CallFilters())
    assert first == t0 + timedelta(milliseconds=60) and last == t0 + timedelta(minutes=50)
    assert qv.time_bounds(engine, project, CallFilters(model="nope")) == (None, None)
    assert qv.list_projects(engine) == [(project, "default")]


def test_list_traces_search_and_scores(seeded: tuple) -> None:
    engine, project, trace, t0 = seeded
    traces = qv.list_traces(engine, project, CallFilters())
    assert len(traces) == 11 and traces[0]["model"] == "model-c" and traces[-1]["trace_id"] == trace
    assert traces[-1]["start_time"] == t0 + timedelta(milliseconds=60) and traces[-1]["duration_ms"] == 100.0
    assert [t["trace_id"] for t in qv.list_traces(engine, project, CallFilters(), search="RESET my")] == [trace]
    assert [t["trace_id"] for t in qv.list_traces(engine, project, CallFilters(), search=trace.upper())] == [trace]
    assert qv.list_traces(engine, project, CallFilters(), search="100%") == []
    assert len(qv.list_traces(engine, project, CallFilters(has_error=True, tag="prod"))) == 1
    assert len(qv.list_traces(engine, project, CallFilters(), limit=3)) == 3
    assert qv.trace_scores(engine, project, trace) == []
    with Session(engine) as session:
        session.add(ScoreRow(project_rowid=project, trace_id=trace, span_id="01" * 8, name="relevance", value=0.9,
                             label="relevant", source="evaluator"))
        session.commit()
    (score,) = qv.trace_scores(engine, project, trace.upper())
    assert (score["name"], score["value"], score["label"]) == ("relevance", 0.9, "relevant")


def test_empty_project(engine: Engine) -> None:
    project = get_or_create_project(engine, "default").rowid
    assert qv.call_series(engine, project, CallFilters(), 60, group_by="model") == []
    assert qv.cost_breakdown(engine, project, CallFilters(), "hosting") == []
    assert qv.list_traces(engine, project, CallFilters(), search="x") == []
    assert qv.filter_options(engine, project) == qv.FilterOptions()


def test_bucket_helpers() -> None:
    t = datetime(2025, 11, 24, 16, 7, 59, 999_999, tzinfo=UTC)
    assert qv.bucket_start(t, 300) == datetime(2025, 11, 24, 16, 5, tzinfo=UTC)
    assert qv.pick_bucket_s(t, t + timedelta(hours=1)) == 60
    assert qv.pick_bucket_s(t, t + timedelta(hours=24)) == 1800
    assert qv.pick_bucket_s(t, t + timedelta(days=30)) == 43200
    assert qv.pick_bucket_s(t, t + timedelta(days=3650)) == 7 * 86400
