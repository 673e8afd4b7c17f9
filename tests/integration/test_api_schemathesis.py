"""schemathesis against the REST API's own OpenAPI document: no operation answers 5xx.

Every operation in ``/openapi.json`` gets generated (valid and invalid) path, query and body
values, derandomised so a failure reproduces, on SQLite and PostgreSQL (PostgreSQL refuses NUL
in text, which SQLite accepts: one of the bugs this found), once with auth disabled and once
with a read-only key (so writes take the 401 path and reads the project-scoped one). The store
is seeded with a trace, a score and an alert rule so that lookups also hit real rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from sqlalchemy import Engine

from monitor.api.app import create_app
from monitor.config import Settings
from monitor.store.keys import create_key
from tests.otlp_builders import chat_attrs, make_span, request

# per operation and generation mode; a deeper run: LLM_MONITOR_SCHEMATHESIS_EXAMPLES=200
EXAMPLES = int(os.environ.get("LLM_MONITOR_SCHEMATHESIS_EXAMPLES", "15"))
TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")


def _seed(app: FastAPI, headers: dict[str, str]) -> None:
    """A stored LLM call, a feedback score and an alert rule, written through the API itself."""
    client = TestClient(app)
    body = request([make_span(chat_attrs(), trace_id=TRACE_ID)]).SerializeToString()
    assert client.post("/v1/traces", content=body,
                       headers={**headers, "Content-Type": "application/x-protobuf"}).status_code == 200
    assert client.post("/api/v1/feedback", json={"trace_id": TRACE_ID.hex(), "thumbs": "up"},
                       headers=headers).status_code == 201
    rule = {"name": "slow", "kind": "metric", "metric": "latency_ms", "aggregate": "p95", "threshold": 1000,
            "window": "15m"}
    assert client.post("/api/v1/alert-rules", json=rule, headers=headers).status_code == 201


@pytest.fixture(params=["disabled", "read-key"])
def api_mode(request: pytest.FixtureRequest, db_url: str, engine: Engine) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    """The app and the headers schemathesis sends: no auth at all, or a key with the read scope only."""
    if request.param == "disabled":
        app = create_app(Settings(database_url=db_url, auth="disabled"), engine=engine, host="127.0.0.1")
        _seed(app, {})
        yield app, {}
        return
    admin, _ = create_key(engine, "alpha", scopes=("ingest", "read", "admin"))
    reader, _ = create_key(engine, "alpha", scopes=("read",))
    app = create_app(Settings(database_url=db_url, auth="required", server={"key_cache_ttl_s": 60}),
                     engine=engine, host="127.0.0.1")
    _seed(app, {"Authorization": f"Bearer {admin}"})
    yield app, {"Authorization": f"Bearer {reader}"}


def _exercise(operation: schemathesis.APIOperation, mode: schemathesis.GenerationMode,
              headers: dict[str, str]) -> list[str]:
    """Run one operation's generated cases; returns a line per response that was a 5xx or a read-key write."""
    problems: list[str] = []

    @seed(20261127)
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case: schemathesis.Case) -> None:
        where = f"{case.method} {case.formatted_path} query={case.query} body={case.body!r}"
        try:
            response = case.call(headers={**(case.headers or {}), **headers})
        except Exception as exc:  # the test client re-raises what the app did not handle: a 500
            problems.append(f"{where}: 500 {exc.__class__.__name__}: {str(exc)[:200]}")
            return
        if response.status_code >= 500:
            problems.append(f"{where}: {response.status_code} {response.text[:300]}")
        if headers and case.method != "GET" and response.status_code < 400:
            problems.append(f"{where}: a read key wrote ({response.status_code})")

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (no parameters, no body): only for negative mode
        assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    return problems


def test_no_operation_answers_5xx(api_mode: tuple[FastAPI, dict[str, str]]) -> None:
    app, headers = api_mode
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20  # every REST operation, not a schema that failed to load
    problems: list[str] = []
    for operation in operations:
        for mode in schemathesis.GenerationMode:
            problems += _exercise(operation, mode, headers)
    assert not problems, "\n".join(problems[:20])
