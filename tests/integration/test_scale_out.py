"""Scale-out: two ``llm-monitor serve`` and three ``llm-monitor worker`` processes on one PostgreSQL.

Everything is a real process started as a user would (``python -m monitor serve|worker``), configured
through environment variables only. The load client spreads OTLP/protobuf exports over both servers
(as a load balancer would), honours 429/503 ``Retry-After``, and sends some requests to *both*
servers at once (a client retry that a load balancer routed elsewhere). The workers score every call
with two judges on an OpenAI-compatible server (the ``judge_openai`` backend; here the stub judge
server, a real HTTP server, standing in for a vLLM cluster), while running their maintenance jobs
(partitions, retention) every second. Then: every acknowledged span is stored exactly once, every
sampled call is scored exactly once per evaluator, the queue is drained, and no judge request was
made twice. Also: an overloaded replica's gRPC status carries the RetryInfo the Collector needs to retry.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from evaluators.sampling import sample_point
from evaluators.testing import StubJudgeServer
from monitor.migrate import upgrade
from monitor.server import free_port
from monitor.store import make_engine
from tests.conftest import ensure_database, postgres_url, reset_schema
from tests.otlp_builders import chat_attrs, make_span, request

CLI = [sys.executable, "-m", "monitor"]
REQUESTS, SPANS_PER_REQUEST, DUPLICATED_EVERY = 150, 20, 10
CLIENTS = 8
POLITENESS_RATE = 0.5
PROTOBUF = {"content-type": "application/x-protobuf"}


@pytest.fixture
def scale_db() -> str:
    url = postgres_url().rsplit("/", 1)[0] + "/" + postgres_url().rsplit("/", 1)[1] + "_scale"
    ensure_database(url)
    reset_schema(url)
    upgrade(url)
    return url


class Fleet:
    """The processes; each one's output goes to a file, read back for the checks."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        out = self.tmp / f"{name}.log"
        proc = subprocess.Popen([*CLI, *args], env=env, stdout=out.open("wb"), stderr=subprocess.STDOUT)
        self.procs.append((name, proc, out))

    def logs(self, prefix: str = "") -> dict[str, str]:
        return {n: p.read_text(errors="replace") for n, _, p in self.procs if n.startswith(prefix)}

    def stop(self) -> dict[str, int | None]:
        for _, proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = {}
        for name, proc, _ in self.procs:
            try:
                codes[name] = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        return codes


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(tmp_path)
    yield f
    f.stop()


def _wait_ready(base: str, fleet: Fleet, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{base} did not become ready: {fleet.logs()}")


def _export(client: httpx.Client, base: str, body: bytes, stats: dict[str, int], lock: threading.Lock) -> None:
    """POST until acknowledged (200); 429/503 are retried after Retry-After, as OTLP exporters do."""
    for _ in range(200):
        reply = client.post(f"{base}/v1/traces", content=body, headers=PROTOBUF)
        if reply.status_code == 200:
            assert b"rejected" not in reply.content, reply.content
            with lock:
                stats["acked"] += 1
            return
        assert reply.status_code in (429, 503), (reply.status_code, reply.text)
        with lock:
            stats["retried"] += 1
        time.sleep(float(reply.headers.get("retry-after", "0.2")))
    raise AssertionError("never acknowledged")


def judge_answer(body: dict) -> dict[str, float]:
    return {"yes": 0.8, "no": 0.2}


@pytest.mark.slow
def test_two_servers_three_workers_store_once_and_score_once(scale_db: str, fleet: Fleet, tmp_path: Path) -> None:
    engine = make_engine(scale_db)
    with StubJudgeServer(answer=judge_answer) as judge:
        judge_table = {"backend": "judge_openai", "base_url": judge.base_url, "model": "qwen2.5-7b-on-vllm",
                       "batch_size": 16, "max_concurrency": 4}
        evaluators = {"relevance": {**judge_table, "sample_rate": 1.0},
                      "politeness": {**judge_table, "evaluator": "custom", "criterion": "The answer is polite.",
                                     "sample_rate": POLITENESS_RATE}}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_MONITOR_", "OTEL_"))}
        env.update(LLM_MONITOR_DATABASE_URL=scale_db, LLM_MONITOR_AUTH="disabled",
                   LLM_MONITOR_CONFIG=str(tmp_path / "absent.toml"), LLM_MONITOR_SERVER__GRPC_ENABLED="false",
                   LLM_MONITOR_DRIFT__ENABLED="false", LLM_MONITOR_EVALUATORS=json.dumps(evaluators),
                   LLM_MONITOR_EVALUATION__POLL_INTERVAL_S="0.1", LLM_MONITOR_EVALUATION__MAX_BATCH_WAIT_S="0.3",
                   LLM_MONITOR_METRICS__MAINTENANCE_INTERVAL_S="1", LLM_MONITOR_RETENTION__SPANS_DAYS="30")
        ports = [free_port(), free_port()]
        for i, port in enumerate(ports):
            fleet.start(f"serve{i}", ["serve", "--port", str(port)], env)
        for i in range(3):
            fleet.start(f"worker{i}", ["worker"], env)
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        deadline = time.monotonic() + 60
        for base in bases:
            _wait_ready(base, fleet, deadline)

        sent: set[tuple[str, str]] = set()
        bodies = []
        for r in range(REQUESTS):
            spans = [make_span(chat_attrs(**{
                "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [
                    {"type": "text", "content": f"Question {r}-{i}: what is the capital of France?"}]}]),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                    {"type": "text", "content": f"Paris, of course ({r}-{i})."}], "finish_reason": "stop"}]),
            })) for i in range(SPANS_PER_REQUEST)]
            sent |= {(s.trace_id.hex(), s.span_id.hex()) for s in spans}
            bodies.append(request(spans, {"service.name": "support-bot"}).SerializeToString())
        stats = {"acked": 0, "retried": 0}
        lock = threading.Lock()
        local = threading.local()

        def send(job: tuple[int, bytes, int]) -> None:
            if not hasattr(local, "client"):
                local.client = httpx.Client(timeout=30)
            _, body, server = job
            _export(local.client, bases[server], body, stats, lock)

        jobs = [(r, body, r % 2) for r, body in enumerate(bodies)]
        jobs += [(r, bodies[r], 1 - r % 2) for r in range(0, REQUESTS, DUPLICATED_EVERY)]  # the same batch, again
        jobs.sort(key=lambda j: j[0])  # a duplicate goes out right beside its original, to the other server
        claimers: set[str] = set()
        watching = threading.Event()

        def watch() -> None:  # which workers hold claims while the queue drains
            with engine.connect() as conn:
                while not watching.is_set():
                    claimers.update(conn.execute(text(
                        "SELECT DISTINCT split_part(claimed_by, ':', 2) FROM eval_queue WHERE state = 'claimed'"))
                        .scalars())
                    conn.commit()
                    watching.wait(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        t0 = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(send, jobs))
        ingest_s = time.monotonic() - t0
        n = len(sent)
        polite = {k for k in sent if sample_point("politeness", *k) < POLITENESS_RATE}
        want = {"relevance": n, "politeness": len(polite)}
        deadline = time.monotonic() + 75
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                done = dict(conn.execute(text("SELECT name, count(*) FROM scores GROUP BY name")).all())
                open_rows = conn.execute(text("SELECT count(*) FROM eval_queue WHERE state IN ('pending', 'claimed')")
                                         ).scalar()
                conn.commit()
                if done == want and open_rows == 0:
                    break
                time.sleep(0.2)
        scored_s = time.monotonic() - t0
        watching.set()
        watcher.join()
        judge_requests = len(judge.requests)
        codes = fleet.stop()

    with engine.connect() as conn:
        stored = conn.execute(text("SELECT trace_id, span_id FROM spans")).all()
        per_score = conn.execute(text("SELECT s.name, sp.trace_id, sp.span_id, count(*) FROM scores s "
                                      "JOIN spans sp ON sp.id = s.span_rowid GROUP BY 1, 2, 3")).all()
        queue = dict(conn.execute(text("SELECT evaluator || ':' || state, count(*) FROM eval_queue GROUP BY 1")).all())
    engine.dispose()
    print(f"\nscale-out: {n} spans in {REQUESTS} requests (+{len(jobs) - REQUESTS} duplicated to the other server), "
          f"{stats['retried']} 429/503 retried; ingest {ingest_s:.1f} s = {n / ingest_s:.0f} spans/s; "
          f"{sum(want.values())} scores by {len(claimers)} workers, all done {scored_s:.1f} s after the first "
          f"request ({sum(want.values()) / scored_s:.0f} scores/s); judge requests {judge_requests}")

    assert stats["acked"] == len(jobs)
    assert len(stored) == n and set(stored) == sent  # every acknowledged span, exactly once
    for name in want:
        scored = [(t, s) for nm, t, s, c in per_score if nm == name]
        assert all(c == 1 for nm, _, _, c in per_score if nm == name), f"{name} scored twice"
        assert set(scored) == (sent if name == "relevance" else polite), name
    assert queue == {"relevance:done": n, "politeness:done": len(polite), "politeness:skipped": n - len(polite)}
    assert judge_requests == sum(want.values())  # no call was judged twice, even transiently
    assert len(claimers) >= 2, claimers  # the workers shared the queue
    assert set(codes.values()) <= {0, -signal.SIGTERM}, codes
    for name, log in fleet.logs().items():
        assert "Traceback" not in log and "failed; retrying" not in log, (name, log[-3000:])


def test_grpc_overload_carries_retry_info_so_the_collector_retries(tmp_path: Path) -> None:
    """Behind the Collector's loadbalancing exporter replicas are reached over OTLP/gRPC, and the
    Collector retries RESOURCE_EXHAUSTED only when the status carries ``google.rpc.RetryInfo``
    (otherwise the batch is dropped as a permanent error): an overloaded replica must send it."""
    import grpc
    from google.rpc import error_details_pb2, status_pb2
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    from monitor.config import Settings
    from monitor.server import start_in_thread

    url = f"sqlite:///{tmp_path / 'g.db'}"
    upgrade(url)
    settings = Settings(database_url=url, auth="disabled", server={"max_pending_writes": 0, "retry_after_s": 2})
    service = start_in_thread(settings)  # a write gate of 0: every export is over capacity
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.Export(request([make_span(chat_attrs())]), timeout=10)
    finally:
        service.stop()
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    trailers = dict(error.trailing_metadata())  # type: ignore[attr-defined]
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    info = error_details_pb2.RetryInfo()
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0] and status.details[0].Unpack(info)
    assert info.retry_delay.seconds == 2 and trailers["retry-after"] == "2"
