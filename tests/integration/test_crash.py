"""Crash (issue #9): SIGKILL the server, or restart PostgreSQL, while clients that retry keep sending.

Every span the server acknowledged must be in the database exactly once afterwards. The clients
are real: the OpenTelemetry SDK's OTLP/HTTP exporter in its own process (kill -9), and an HTTP
client that records every answer (PostgreSQL restart). The server is ``llm-monitor serve``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from monitor.store import make_engine
from monitor.store.keys import create_key
from tests.otlp_builders import chat_attrs, make_span, request
from tests.serve_process import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
KILLS = 5


def stored_counts(database_url: str) -> Counter[tuple[str, str]]:
    """How many rows each (trace_id, span_id) has in ``spans``."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT trace_id, span_id, count(*) FROM spans GROUP BY trace_id, span_id"))
        counts = Counter({(t, s): n for t, s, n in rows})
    engine.dispose()
    return counts


def acked_lines(out: Path) -> int:
    return len(out.read_text().splitlines()) if out.exists() else 0


def wait_for_acks(out: Path, lines: int, client: subprocess.Popen[bytes], client_log: Path,
                  timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while acked_lines(out) < lines:
        assert client.poll() is None, client_log.read_text()[-2000:]
        assert time.monotonic() < deadline, "the client made no progress"
        time.sleep(0.02)


@pytest.mark.slow
def test_kill_9_loses_nothing_acknowledged(db_url: str, tmp_path: Path) -> None:
    """SIGKILL the server 5 times while the OTel exporter sends batches of 50 spans back to back (each
    time after 3 more acknowledged batches, then 0-300 ms later, seeded); the server is started
    again on the same port each time."""
    server = ServeProcess(db_url, tmp_path)
    startup = [server.start()]
    out, stop = tmp_path / "acked.jsonl", tmp_path / "stop"
    with (tmp_path / "client.log").open("wb") as client_log:
        client = subprocess.Popen(
            [sys.executable, "-m", "tests.otel_retry_client", f"{server.base}/v1/traces", str(out), str(stop),
             "--batch", "50"], cwd=ROOT, stdout=client_log, stderr=subprocess.STDOUT)
    rng = random.Random(9)
    t0 = time.monotonic()
    try:
        for _ in range(KILLS):
            # kill mid-stream: once this incarnation has acknowledged 3 more batches, at a random moment
            wait_for_acks(out, acked_lines(out) + 3, client, tmp_path / "client.log")
            time.sleep(rng.uniform(0, 0.3))
            server.kill()
            startup.append(server.start())
        time.sleep(1.0)
        stop.touch()
        assert client.wait(timeout=120) == 0, (tmp_path / "client.log").read_text()[-2000:]
    finally:
        if client.poll() is None:
            client.kill()
        server.stop()
    elapsed = time.monotonic() - t0

    batches = [json.loads(line) for line in out.read_text().splitlines()]
    acked = [tuple(pair) for b in batches for pair in b["ids"]]
    counts = stored_counts(db_url)
    retried = sum(1 for b in batches if b["attempts"] > 1)
    lost = [pair for pair in acked if counts[pair] == 0]
    duplicated = {pair: n for pair, n in counts.items() if n > 1}
    print(f"\n{make_url(db_url).get_backend_name()}: {KILLS} × kill -9 in {elapsed:.1f} s "
          f"(restarts took {min(startup):.1f}-{max(startup):.1f} s); {len(batches)} batches / {len(acked)} spans "
          f"acknowledged, {retried} batches needed a retry, {sum(b['attempts'] for b in batches)} export calls; "
          f"stored {sum(counts.values())} rows: lost {len(lost)}, duplicated {len(duplicated)}")
    assert len(acked) == len(set(acked)) > 0
    assert not lost, f"{len(lost)} acknowledged spans are missing, e.g. {lost[:3]}"
    assert not duplicated, f"duplicated spans: {list(duplicated.items())[:3]}"
    # the client retries every batch until it is acknowledged, so nothing else is stored either
    assert set(counts) == set(acked)
    assert server.starts == KILLS + 1


def postgres_cluster() -> list[str] | None:
    """``pg_ctlcluster`` arguments for the local cluster, or None where there is none to restart."""
    clusters = Path("/etc/postgresql")
    if shutil.which("pg_ctlcluster") is None or not clusters.is_dir():
        return None
    versions = sorted(p.name for p in clusters.iterdir() if (p / "main").is_dir())
    if not versions or os.geteuid() not in (0, (clusters / versions[-1] / "main").stat().st_uid):
        return None  # only root or the cluster's owner may restart it
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"]


def ensure_postgres_up(cluster: list[str], url: str) -> None:
    """Whatever happened in the test, leave PostgreSQL running for the tests after it."""
    host, port = make_url(url).host or "127.0.0.1", str(make_url(url).port or 5432)
    for attempt in range(60):
        if subprocess.run(["pg_isready", "-q", "-h", host, "-p", port]).returncode == 0:
            return
        if attempt == 5:
            subprocess.run([*cluster, "start"], timeout=60)
        time.sleep(1)


class RetryingSender(threading.Thread):
    """Sends batches of 20 spans back to back, resending each until it gets a 200 (honouring
    ``Retry-After``), and records every answer: what a well-behaved OTLP client does."""

    def __init__(self, base: str, key: str) -> None:
        super().__init__(daemon=True)
        self.base, self.key = base, key
        self.answers: list[tuple[float, int | str, str | None]] = []  # (time, status or error, Retry-After)
        self.acked: list[tuple[str, str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.halt.is_set():
                spans = [make_span(chat_attrs()) for _ in range(20)]
                body = request(spans).SerializeToString()
                while True:
                    try:
                        resp = client.post(f"{self.base}/v1/traces", content=body,
                                           headers={"Content-Type": "application/x-protobuf",
                                                    "Authorization": f"Bearer {self.key}"})
                    except httpx.HTTPError as exc:  # the server itself must stay up: recorded, asserted on
                        self.answers.append((time.monotonic(), type(exc).__name__, None))
                        time.sleep(0.2)
                        continue
                    self.answers.append((time.monotonic(), resp.status_code, resp.headers.get("Retry-After")))
                    if resp.status_code == 200:
                        self.acked += [(s.trace_id.hex(), s.span_id.hex()) for s in spans]
                        break
                    if resp.status_code not in (429, 503):
                        break  # a wrong answer: recorded, the test fails on it
                    time.sleep(float(resp.headers.get("Retry-After", "1")))


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_restart_mid_ingest(pg_url: str, tmp_path: Path) -> None:
    """A real ``pg_ctlcluster restart`` (fast shutdown) while two clients send: the server answers
    503 + Retry-After while PostgreSQL is down (never 500, never a dropped connection), takes
    exports again by itself once it is back (pool_pre_ping), and loses nothing it acknowledged.
    Authentication is on and the key cache off, so every request also looks its key up."""
    cluster = postgres_cluster()
    if cluster is None or make_url(pg_url).host not in ("127.0.0.1", "localhost"):
        pytest.skip("needs the local PostgreSQL cluster and pg_ctlcluster")
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE projects, spans RESTART IDENTITY CASCADE"))
    key, _ = create_key(engine, "restart")
    engine.dispose()
    server = ServeProcess(pg_url, tmp_path,
                          {"LLM_MONITOR_AUTH": "required", "LLM_MONITOR_SERVER__KEY_CACHE_TTL_S": "0"})
    server.start()
    senders = [RetryingSender(server.base, key) for _ in range(2)]
    try:
        for s in senders:
            s.start()
        deadline = time.monotonic() + 60
        while sum(len(s.acked) for s in senders) < 200:
            assert time.monotonic() < deadline, "no progress before the restart"
            time.sleep(0.05)
        t_restart = time.monotonic()
        subprocess.run([*cluster, "restart"], check=True, timeout=120)  # waits until it accepts connections
        t_back = time.monotonic()
        acked_before = sum(len(s.acked) for s in senders)
        while sum(len(s.acked) for s in senders) < acked_before + 200:
            assert time.monotonic() < t_back + 60, "the server did not recover after PostgreSQL came back"
            time.sleep(0.05)
        readyz = httpx.get(f"{server.base}/readyz", timeout=10).status_code
    finally:
        for s in senders:
            s.halt.set()
        for s in senders:
            s.join(timeout=60)
        server.stop()
        ensure_postgres_up(cluster, pg_url)

    answers = sorted(a for s in senders for a in s.answers)
    codes = Counter(status for _, status, _ in answers)
    during = Counter(status for t, status, _ in answers if t_restart <= t <= t_back)
    first_ok = min((t for t, status, _ in answers if status == 200 and t > t_back), default=float("nan"))
    acked = [pair for s in senders for pair in s.acked]
    counts = stored_counts(pg_url)
    lost = [pair for pair in acked if counts[pair] == 0]
    print(f"\nPostgreSQL restart took {t_back - t_restart:.1f} s; answers {dict(codes)}, during the restart "
          f"{dict(during)}; first 200 {first_ok - t_back:.2f} s after PostgreSQL was back; {len(acked)} spans "
          f"acknowledged, lost {len(lost)}, duplicated {sum(1 for n in counts.values() if n > 1)}")
    assert set(codes) <= {200, 429, 503}, f"answers other than 200/429/503, or no answer: {codes}"
    assert codes[503] > 0, "PostgreSQL was restarted mid-ingest but no request saw it"
    assert all(ra for _, status, ra in answers if status in (429, 503)), "a 429/503 without Retry-After"
    assert readyz == 200
    assert not lost, f"{len(lost)} acknowledged spans are missing"
    assert all(n == 1 for n in counts.values())
    assert set(counts) == set(acked)  # every batch was resent until acknowledged
