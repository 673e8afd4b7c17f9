"""The input-language job and the per-language breakdown on SQLite and PostgreSQL, calls seeded through
the real ingest path (decode, normalise, price), figures computed by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from sqlalchemy import Engine, select

from collectors.otlp.traces import PROTOBUF, decode_traces
from monitor.api.app import build_ingest
from monitor.config import Settings
from monitor.language_job import label_languages, waiting_count
from monitor.query import CallFilters, summary
from monitor.query_views import cost_breakdown, language_breakdown
from monitor.server import ServiceHandle, start_in_thread
from monitor.store.keys import get_or_create_project
from monitor.store.models import SpanRow
from monitor.worker import Worker
from tests.otlp_builders import chat_attrs, make_span, request

T0 = 1_764_000_000 * 10**9
PRICES = {"model-a": {"input": 1.0, "output": 2.0}}  # USD per 1M tokens; model-c has no price
INPUTS = {
    "en": ["What is the capital of France?", "How do I reset my password?", "Why is the sky blue?"],
    "es": ["¿Cómo puedo restablecer mi contraseña?"],
    "de": ["Wie kann ich mein Passwort zurücksetzen?"],
    "fr": ["Comment puis-je réinitialiser mon mot de passe ?"],
    "it": ["Qual è la differenza tra una lista e una tupla in Python?"],
    "pt": ["Meu pedido chegou danificado. O que devo fazer?"],
    "nl": ["Hoe kan ik mijn wachtwoord opnieuw instellen?"],
    "ru": ["Почему небо голубое?"],
    "ja": ["空はなぜ青いのですか？"],
    "und": ["12345"],
}


def _messages(text: str) -> str:
    return json.dumps([{"role": "user", "parts": [{"type": "text", "content": text}]}])


def _call(text: str | None, model: str = "model-a", tin: int | None = 10, tout: int = 5, i: int = 0,
          **extra: object) -> Span:
    attrs = chat_attrs(model, tin or 0, tout, **extra)
    if text is None:
        del attrs["gen_ai.input.messages"]
    else:
        attrs["gen_ai.input.messages"] = _messages(text)
    if tin is None:
        del attrs["gen_ai.usage.input_tokens"]
    return make_span(attrs, start_ns=T0 + i * 10**9)


def _ingest(settings: Settings, engine: Engine, spans: list[Span]) -> int:
    project = get_or_create_project(engine, "default")
    body = request(spans, {"service.name": "svc"}).SerializeToString()
    assert not build_ingest(settings, engine).ingest_traces(project.rowid, decode_traces(body, PROTOBUF)).rejected
    return project.rowid


def _languages(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return dict(conn.execute(select(SpanRow.input_text, SpanRow.language).where(SpanRow.input_text.is_not(None))
                                 ).tuples().all())


def test_job_labels_llm_inputs_leaves_other_spans_and_is_idempotent(settings: Settings, engine: Engine) -> None:
    calls = [_call(text, i=i) for i, text in enumerate(t for texts in INPUTS.values() for t in texts)]
    chain = make_span({"openinference.span.kind": "CHAIN", "input.value": "Hola, ¿cómo estás hoy?"},
                      name="agent", start_ns=T0)
    no_text = _call(None, i=99)
    _ingest(settings, engine, [*calls, chain, no_text])
    with engine.connect() as conn:
        kinds = dict(conn.execute(select(SpanRow.name, SpanRow.is_llm).where(SpanRow.name == "agent")).tuples().all())
    assert kinds == {"agent": False}  # a non-LLM span that carries input text
    assert waiting_count(engine) == 12

    assert label_languages(engine) == 12
    got = _languages(engine)
    assert got == {**{t: lang for lang, texts in INPUTS.items() for t in texts}, "Hola, ¿cómo estás hoy?": None}
    with engine.connect() as conn:
        untouched = conn.execute(select(SpanRow.language).where(SpanRow.input_text.is_(None))).scalars().all()
    assert untouched == [None]  # the call without input text stays unlabelled
    assert waiting_count(engine) == 0 and label_languages(engine) == 0 and _languages(engine) == got


def test_job_is_bounded_and_newest_first(settings: Settings, engine: Engine) -> None:
    _ingest(settings, engine, [_call(f"What is the answer to question {i}?", i=i) for i in range(7)])
    assert label_languages(engine, limit=3, batch=2) == 3
    with engine.connect() as conn:
        labels = conn.execute(select(SpanRow.language).order_by(SpanRow.id)).scalars().all()
    assert labels == [None] * 4 + ["en"] * 3 and waiting_count(engine) == 4  # the newest calls first
    assert label_languages(engine, limit=None, batch=3) == 4 and waiting_count(engine) == 0


def test_worker_round_runs_the_language_job(settings: Settings, engine: Engine) -> None:
    _ingest(settings, engine, [_call("Wie spät ist es in Berlin?"), _call("Quelle heure est-il à Paris ?", i=1)])
    worker = Worker(settings, engine=engine)
    results = worker.maintain_once(datetime.fromtimestamp(T0 / 1e9 + 3600, UTC))
    assert results["language"] == 2
    assert set(_languages(engine).values()) == {"de", "fr"}
    assert worker.maintain_once()["language"] == 0


def _seed_breakdown(settings: Settings, engine: Engine) -> int:
    """model-a is $1 / $2 per 1M input / output tokens; model-c has no price.

    en: 30 + 9 (system instructions) chars, 13 in / 10 out ($0.000033); 27 chars, 7 in / 20 out
        ($0.000047); 20 chars, no input token count, 10 out ($0.000020).
    es: 38 chars (41 bytes in UTF-8), 12 in / 30 out ($0.000072).
    de: 40 chars, 11 in / 5 out, model-c (unpriced).
    no input text: 100 in / 100 out ($0.000300).
    """
    en = INPUTS["en"]
    spans = [
        _call(en[0], tin=13, tout=10, **{"gen_ai.system_instructions": json.dumps(
            [{"type": "text", "content": "Be brief."}])}),
        _call(en[1], tin=7, tout=20, i=1),
        _call(en[2], tin=None, tout=10, i=2),
        _call(INPUTS["es"][0], tin=12, tout=30, i=3),
        _call(INPUTS["de"][0], model="model-c", tin=11, tout=5, i=4),
        _call(None, tin=100, tout=100, i=5),
    ]
    project = _ingest(settings, engine, spans)
    assert label_languages(engine) == 5
    return project


@pytest.fixture
def priced(db_url: str) -> Settings:
    return Settings(database_url=db_url, auth="disabled", prices=PRICES, server={"key_cache_ttl_s": 0})


def test_language_breakdown_tokens_per_char_and_cost_per_request(priced: Settings, engine: Engine) -> None:
    project = _seed_breakdown(priced, engine)
    rows = {r["language"]: r for r in language_breakdown(engine, project, CallFilters())}
    assert [r["language"] for r in language_breakdown(engine, project, CallFilters())] == ["en", None, "de", "es"]
    en, es, de, none = rows["en"], rows["es"], rows["de"], rows[None]
    assert (en["requests"], en["input_tokens"], en["output_tokens"], en["input_chars"]) == (3, 20, 40, 86)
    assert en["tokens_per_char"] == pytest.approx(20 / 66)  # the 20-char call reports no input tokens
    assert en["cost_usd"] == pytest.approx(100e-6) and en["cost_per_request_usd"] == pytest.approx(100e-6 / 3)
    assert (es["input_chars"], es["tokens_per_char"]) == (38, pytest.approx(12 / 38))
    assert es["cost_per_request_usd"] == pytest.approx(72e-6) and es["priced_requests"] == 1
    assert de["tokens_per_char"] == pytest.approx(11 / 40) and de["cost_usd"] is None
    assert de["cost_per_request_usd"] is None and de["priced_requests"] == 0
    assert none["input_chars"] == 0 and none["tokens_per_char"] is None
    assert none["cost_per_request_usd"] == pytest.approx(300e-6)
    only_a = {r["language"]: r["requests"] for r in language_breakdown(engine, project, CallFilters(model="model-a"))}
    assert only_a == {"en": 3, "es": 1, None: 1}
    costs = {r["group"]: r["cost_usd"] for r in cost_breakdown(engine, project, CallFilters(), "language")}
    assert costs == {"en": pytest.approx(100e-6), "es": pytest.approx(72e-6), None: pytest.approx(300e-6), "de": None}


def test_summary_groups_by_language(priced: Settings, engine: Engine) -> None:
    project = _seed_breakdown(priced, engine)
    groups = {g["group"]: g for g in summary(engine, project, CallFilters(), "language")}
    assert {k: g["requests"] for k, g in groups.items()} == {"en": 3, "es": 1, "de": 1, None: 1}
    assert groups["en"]["cost_usd"] == pytest.approx(100e-6) and groups["en"]["input_tokens"] == 20


@pytest.fixture
def base(priced: Settings) -> Iterator[str]:
    handle: ServiceHandle = start_in_thread(priced, with_grpc=False)
    yield f"http://127.0.0.1:{handle.http_port}"
    handle.stop()


def test_api_summary_group_by_language(base: str, priced: Settings, engine: Engine) -> None:
    _seed_breakdown(priced, engine)
    resp = httpx.get(f"{base}/api/v1/metrics/summary", params={"group_by": "language"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["group_by"] == "language"
    groups = {g["group"]: g for g in body["groups"]}
    assert {k: g["requests"] for k, g in groups.items()} == {"en": 3, "es": 1, "de": 1, None: 1}
    assert groups["es"]["cost_usd"] == pytest.approx(72e-6) and groups["es"]["output_tokens"] == 30
