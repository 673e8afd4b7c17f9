"""Property-based fuzzing of the OTLP/HTTP receiver (issue 9, "Bad input").

Every generated or mutated request (structured Export*ServiceRequests with extreme values, unknown
fields, bodies nested past every limit, byte-level mutations of valid encodings, JSON with values
of the wrong type, wrong content types and encodings, broken gzip) gets 200, 400, 413 or 415:
never a 5xx. Requests that are valid but odd (valid ids and timestamps, everything else extreme)
are accepted whole and their rows are in the database. Afterwards the server still takes a plain
valid export.

The default run is a few hundred payloads per database; ``test_fuzz_ten_thousand_payloads``
(marked slow) drives ≥ 10,000 through a real uvicorn server over loopback, derandomised so that CI
reproduces any failure, and prints its figures (see docs/reliability.md).
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from sqlalchemy import Engine, func, select

from monitor.api.app import create_app
from monitor.config import Settings
from monitor.server import start_in_thread
from monitor.store.models import LogRecordRow, SpanRow
from tests.otlp_builders import chat_attrs, make_span, request
from tests.otlp_strategies import (
    CONTENT_TYPES,
    DEEP_TRACE_BODIES,
    ENCODINGS,
    JSON,
    NO_SHRINK,
    PROTOBUF,
    UNKNOWN_FIELDS,
    encode_body,
    log_requests,
    metric_requests,
    mutated_bytes,
    mutated_json,
    to_json,
    trace_requests,
)

ALLOWED = {200, 400, 413, 415}
STORM_TYPES = [PROTOBUF, JSON, "text/plain", "", "application/grpc"]
SIGNALS = {"/v1/traces": trace_requests(), "/v1/logs": log_requests(), "/v1/metrics": metric_requests()}
Post = Callable[[str, bytes, dict[str, str]], tuple[int, bytes]]


def _settings(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, deadline=None, database=None, phases=NO_SHRINK,
                    suppress_health_check=list(HealthCheck))


@st.composite
def hostile_requests(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    """Any signal; a structured, deep, byte-mutated or JSON-mutated body; any content type and encoding."""
    path = draw(st.sampled_from(sorted(SIGNALS)))
    message = draw(SIGNALS[path])
    shape = draw(st.sampled_from(["proto", "proto+unknown", "json", "mutated-proto", "mutated-json", "deep"]))
    ctype = JSON if "json" in shape else PROTOBUF
    if shape == "deep":
        body, ctype = draw(DEEP_TRACE_BODIES)
        path = "/v1/traces"
    elif ctype == PROTOBUF:
        body = message.SerializeToString() + (draw(UNKNOWN_FIELDS) if shape == "proto+unknown" else b"")
        body = draw(mutated_bytes(body)) if shape.startswith("mutated") else body
    else:
        try:
            doc = to_json(message, draw(st.booleans()))
        except (RecursionError, ValueError):
            doc = {"resourceSpans": []}
        body = draw(mutated_json(doc)) if shape.startswith("mutated") else json.dumps(doc).encode()
    headers = {"Content-Type": draw(st.one_of(st.just(ctype), CONTENT_TYPES))}
    encoding = draw(ENCODINGS)
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    return path, encode_body(body, encoding, draw(st.booleans())), headers


def _ids(message: ExportTraceServiceRequest) -> list[tuple[str, str]]:
    return [(s.trace_id.hex(), s.span_id.hex()) for rs in message.resource_spans for ss in rs.scope_spans
            for s in ss.spans]


def _stored(engine: Engine, ids: list[tuple[str, str]]) -> int:
    with engine.connect() as conn:
        return sum(int(conn.scalar(select(func.count()).select_from(SpanRow).where(
            SpanRow.trace_id == t, SpanRow.span_id == s)) or 0) > 0 for t, s in set(ids))


def _log_count(engine: Engine, trace_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(LogRecordRow)
                               .where(LogRecordRow.trace_id == trace_id)) or 0)


class Fuzzer:
    """Runs the three properties against one ``post`` function and counts what it sent."""

    def __init__(self, post: Post, engine: Engine) -> None:
        self.post = post
        self.engine = engine
        self.statuses: Counter[int] = Counter()
        self.corpus: list[tuple[str, bytes, str]] = []  # accepted bodies, seeds for ``storm``
        self.marks = itertools.count(int(time.time_ns()) << 20)

    def send(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        status, content = self.post(path, body, headers)
        self.statuses[status] += 1
        assert status in ALLOWED, f"{path} {headers} {body[:200]!r} -> {status} {content[:300]!r}"
        if status == 200 and "Content-Encoding" not in headers and len(self.corpus) < 2000:
            self.corpus.append((path, body, headers["Content-Type"]))
        return status, content

    def storm(self, count: int, seed: int) -> None:
        """Cheap volume: seeded byte-level mutations of bodies the server accepted (hypothesis spends
        ~50 ms drawing one structured request; a mutation costs microseconds)."""
        rng = random.Random(seed)
        for _ in range(count):
            path, body, ctype = rng.choice(self.corpus)
            body = bytearray(body)
            for _ in range(rng.randint(1, 6)):
                at = rng.randint(0, len(body))
                op = rng.randrange(5)
                if op == 0 and at < len(body):
                    body[at] ^= rng.randint(1, 255)
                elif op == 1:
                    body[at:at] = rng.randbytes(rng.randint(1, 8))
                elif op == 2:
                    del body[at:at + rng.randint(1, 16)]
                elif op == 3:
                    body[at:at] = body[at:at + rng.randint(1, 32)]
                else:
                    del body[at:]
            headers = {"Content-Type": ctype if rng.random() < 0.9 else rng.choice(STORM_TYPES)}
            if rng.random() < 0.2:
                headers["Content-Encoding"] = "gzip"
                packed = gzip.compress(bytes(body), mtime=0)
                body = bytearray(packed if rng.random() < 0.5 else packed[: rng.randint(0, len(packed))])
            self.send(path, bytes(body), headers)

    def hostile(self, examples: int) -> None:
        @_settings(examples)
        @given(case=hostile_requests())
        def run(case: tuple[str, bytes, dict[str, str]]) -> None:
            self.send(*case)

        run()

    def odd_traces(self, examples: int) -> None:
        """Valid ids and timestamps, extreme everything else: all accepted, all stored."""
        @_settings(examples)
        @given(message=trace_requests(valid=True), as_json=st.booleans(), hex_ids=st.booleans(),
               gzipped=st.booleans())
        def run(message: ExportTraceServiceRequest, as_json: bool, hex_ids: bool, gzipped: bool) -> None:
            body = json.dumps(to_json(message, hex_ids)).encode() if as_json else message.SerializeToString()
            headers = {"Content-Type": JSON if as_json else PROTOBUF}
            if gzipped:
                body, headers["Content-Encoding"] = gzip.compress(body, mtime=0), "gzip"
            status, content = self.send("/v1/traces", body, headers)
            assert status == 200
            if not as_json:
                assert ExportTraceServiceResponse.FromString(content).partial_success.rejected_spans == 0
            else:
                assert "partialSuccess" not in json.loads(content), content[:300]
            ids = _ids(message)
            assert _stored(self.engine, ids) == len(set(ids))

        run()

    def odd_logs(self, examples: int) -> None:
        @_settings(examples)
        @given(message=log_requests(valid=True))
        def run(message: Any) -> None:
            records = [r for rl in message.resource_logs for sl in rl.scope_logs for r in sl.log_records]
            mark = next(self.marks).to_bytes(16, "big")  # this example's rows, whatever else is stored
            for record in records:
                record.trace_id = mark
            status, content = self.send("/v1/logs", message.SerializeToString(), {"Content-Type": PROTOBUF})
            assert status == 200
            assert ExportLogsServiceResponse.FromString(content).partial_success.rejected_log_records == 0
            assert _log_count(self.engine, mark.hex()) == len(records)

        run()

    def still_serving(self) -> None:
        span = make_span(chat_attrs())
        status, _ = self.send("/v1/traces", request([span]).SerializeToString(), {"Content-Type": PROTOBUF})
        assert status == 200
        assert _stored(self.engine, [(span.trace_id.hex(), span.span_id.hex())]) == 1

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def test_fuzz_receiver(db_url: str, engine: Engine) -> None:
    """The default run: a few hundred payloads through the ASGI app, on SQLite and on PostgreSQL."""
    client = TestClient(create_app(Settings(database_url=db_url, auth="disabled"), engine=engine,
                                   host="127.0.0.1"), raise_server_exceptions=False)

    def post(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        response = client.post(path, content=body, headers=headers)
        return response.status_code, response.content

    fuzzer = Fuzzer(post, engine)
    fuzzer.hostile(200)
    fuzzer.odd_traces(60)
    fuzzer.odd_logs(30)
    fuzzer.storm(200, seed=9)
    fuzzer.still_serving()
    assert fuzzer.total >= 490 and fuzzer.statuses[200] > 0 and fuzzer.statuses[400] > 0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fuzz_ten_thousand_payloads(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """≥ 10,000 payloads against a real server on loopback (PostgreSQL, the stricter store)."""
    from monitor.store import make_engine

    engine = make_engine(pg_url)
    handle = start_in_thread(Settings(database_url=pg_url, auth="disabled"), with_grpc=False)
    client = httpx.Client(base_url=f"http://127.0.0.1:{handle.http_port}", timeout=30)

    def post(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        response = client.post(path, content=body, headers=headers)
        return response.status_code, response.content

    fuzzer = Fuzzer(post, engine)
    started = time.monotonic()
    try:
        fuzzer.hostile(1000)
        fuzzer.odd_traces(500)
        fuzzer.odd_logs(200)
        fuzzer.storm(8400, seed=9)
        fuzzer.still_serving()
        assert client.get("/healthz").status_code == 200
    finally:
        client.close()
        handle.stop()
        engine.dispose()
    elapsed = time.monotonic() - started
    assert fuzzer.total >= 10_000
    with capsys.disabled():
        statuses = dict(sorted(fuzzer.statuses.items()))
        print(f"\nOTLP fuzz: {fuzzer.total} payloads in {elapsed:.0f} s, statuses {statuses}")
