"""``llm-monitor serve --workers N``: a supervisor process and N workers sharing the ports.

Everything runs as a user runs it (the ``llm-monitor`` command as a child process); spans come from
the real OpenTelemetry SDK exporters, OTLP/HTTP and OTLP/gRPC, and are read back through the REST
API (and counted in the database). Checked: the worker processes exist and all take part in the
load; a worker killed with SIGKILL is replaced while the service keeps answering and loses nothing
it acknowledged; SIGTERM/SIGINT stop everything cleanly, a SIGKILL of the supervisor takes its
workers with it (the ports are free again); a taken port is a clear error, not a crash loop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from monitor.server import free_port
from monitor.supervisor import ensure_port_free
from tests.integration.test_crash import stored_counts

CLI = Path(sys.executable).parent / "llm-monitor"
TICK = os.sysconf("SC_CLK_TCK")
SpanId = tuple[str, str]  # (trace_id hex, span_id hex)
ServeFactory = Callable[..., "Workers"]


# --- processes -------------------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (threads of a process share its children file; pid's own task)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15)


def gone(pid: int) -> bool:
    """No such process, or only a zombie left (the container's init may not reap orphans) whose
    threads have all exited: until the last one has, its files (the listening sockets) stay open."""
    try:
        tasks = [Path(f"/proc/{pid}/task/{t}/stat").read_text() for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return True
    return all(stat.rsplit(")", 1)[1].split()[0] in ("Z", "X") for stat in tasks)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, interval: float = 0.05) -> float:
    """Poll ``condition`` until it is true; returns the seconds it took, fails the test after ``timeout_s``."""
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout_s:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - t0


class Workers:
    """``llm-monitor serve --workers N`` on free ports (OTLP/HTTP + REST, and OTLP/gRPC)."""

    def __init__(self, database_url: str, tmp: Path, workers: int = 2, *, via_env: bool = False,
                 port: int | None = None, extra_env: dict[str, str] | None = None) -> None:
        self.workers = workers
        self.port, self.grpc_port = port or free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "serve.log"
        env = {**os.environ, "LLM_MONITOR_DATABASE_URL": database_url, "LLM_MONITOR_AUTH": "disabled",
               "LLM_MONITOR_CONFIG": str(tmp / "absent.toml"), **(extra_env or {})}
        args = [str(CLI), "serve", "--port", str(self.port), "--grpc-port", str(self.grpc_port)]
        if via_env:
            env["LLM_MONITOR_SERVER__WORKERS"] = str(workers)
        else:
            args += ["--workers", str(workers)]
        self.args, self.env = args, env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> None:
        """Start; return once every worker has completed its startup and ``/healthz`` answers."""
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(self.args, env=self.env, cwd=self.log.parent, stdout=out,
                                         stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is not None or self.started() >= self.workers, timeout_s,
                   f"{self.workers} workers to start ({self.output()[-2000:]})")
        assert self.proc.poll() is None, f"serve exited with {self.proc.returncode}: {self.output()[-3000:]}"
        assert httpx.get(f"{self.base}/healthz", timeout=10).status_code == 200

    def started(self) -> int:
        return self.output().count("Application startup complete")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def children(self) -> list[int]:
        return children(self.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        kids = self.children()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in kids:  # never leave a worker behind, whatever the test did
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# --- the clients: the OpenTelemetry SDK and its OTLP exporters -------------------------------------

class SpanSource:
    """LLM-call spans made by a real ``TracerProvider`` (SDK ids and timestamps), handed out in batches."""

    def __init__(self, name: str) -> None:
        self.memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = provider.get_tracer("tests.test_serve_workers")

    def batch(self, size: int) -> list[ReadableSpan]:
        for i in range(size):
            span = self.tracer.start_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 100 + i,
                "gen_ai.usage.output_tokens": 20,
                "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"Where is my order?"}]}]'})
            span.end()
        spans = list(self.memory.get_finished_spans())
        self.memory.clear()
        return spans


def ids(spans: list[ReadableSpan]) -> list[SpanId]:
    return [(f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}") for s in spans]


def export_until_acked(exporter: SpanExporter, spans: list[ReadableSpan], timeout_s: float = 90) -> int:
    """``export`` until SUCCESS (the exporter itself retries 429/503 and resets for a while); returns
    the number of calls it took."""
    deadline = time.monotonic() + timeout_s
    for attempt in range(1, 10_000):
        if exporter.export(spans) is SpanExportResult.SUCCESS:
            return attempt
        assert time.monotonic() < deadline, "a batch was never acknowledged"
        time.sleep(0.1)
    raise AssertionError("unreachable")


class Sender(threading.Thread):
    """Exports batches, each through a *new* exporter (so a new connection, which either worker may
    accept) or, with ``reuse``, all through one (a kept-alive connection, as an application has),
    until ``rounds`` are done or ``halt`` is set; keeps the ids of what was acknowledged."""

    def __init__(self, make_exporter: Callable[[], SpanExporter], name: str, batch: int,
                 rounds: int | None = None, reuse: bool = False) -> None:
        super().__init__(daemon=True, name=name)
        self.make_exporter, self.batch, self.rounds = make_exporter, batch, rounds
        self.shared = make_exporter() if reuse else None
        self.source = SpanSource(name)
        self.acked: list[SpanId] = []
        self.calls = 0
        self.error: BaseException | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            done = 0
            while not self.halt.is_set() and (self.rounds is None or done < self.rounds):
                spans = self.source.batch(self.batch)
                exporter = self.shared or self.make_exporter()
                try:
                    self.calls += export_until_acked(exporter, spans)
                finally:
                    if exporter is not self.shared:
                        exporter.shutdown()
                self.acked += ids(spans)
                done += 1
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            if self.shared is not None:
                self.shared.shutdown()


def http_exporter(server: Workers) -> Callable[[], SpanExporter]:
    return lambda: HttpExporter(endpoint=f"{server.base}/v1/traces", timeout=10)


def grpc_exporter(server: Workers) -> Callable[[], SpanExporter]:
    return lambda: GrpcExporter(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True, timeout=10)


def run_senders(senders: list[Sender], timeout_s: float = 120) -> list[SpanId]:
    for s in senders:
        s.start()
    return run_senders_started(senders, timeout_s)


def run_senders_started(senders: list[Sender], timeout_s: float = 120) -> list[SpanId]:
    """Wait for started senders; fails on one that did not finish or failed; returns what was acknowledged."""
    for s in senders:
        s.join(timeout=timeout_s)
        assert not s.is_alive(), f"{s.name} did not finish"
        assert s.error is None, f"{s.name}: {s.error!r}"
    return [pair for s in senders for pair in s.acked]


def stored_via_api(base: str) -> Counter[SpanId]:
    """Every call the REST API lists, page by page."""
    seen: Counter[SpanId] = Counter()
    cursor = None
    with httpx.Client(timeout=30) as client:
        while True:
            page = client.get(f"{base}/api/v1/calls", params={"limit": 1000, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            body = page.json()
            seen.update((c["trace_id"], c["span_id"]) for c in body["items"])
            cursor = body["next_cursor"]
            if not cursor:
                return seen


def assert_stored_exactly_once(server: Workers, database_url: str, acked: list[SpanId]) -> None:
    assert len(acked) == len(set(acked)) > 0
    via_api = stored_via_api(server.base)
    missing = set(acked) - set(via_api)
    assert not missing, f"{len(missing)} acknowledged spans are not listed, e.g. {sorted(missing)[:3]}"
    assert not [p for p, n in via_api.items() if n > 1], "a span is listed twice"
    assert set(via_api) == set(acked), "the API lists spans nobody sent"
    in_db = stored_counts(database_url)
    assert set(in_db) == set(acked) and set(in_db.values()) == {1}, "spans table disagrees with the API"


def cpu_per_worker_during(kids: list[int], load: Callable[[], list[SpanId]]
                          ) -> tuple[list[SpanId], dict[int, float], dict[int, float]]:
    """Run ``load``; returns what it acknowledged, the CPU seconds each worker used meanwhile, and, for
    scale, what each burned idle (timers, the checkpointer) in 2 s just before."""
    idle_before = {pid: cpu_seconds(pid) for pid in kids}
    time.sleep(2)
    idle = {pid: cpu_seconds(pid) - idle_before[pid] for pid in kids}
    cpu_before = {pid: cpu_seconds(pid) for pid in kids}
    acked = load()
    return acked, {pid: cpu_seconds(pid) - cpu_before[pid] for pid in kids}, idle


def assert_every_worker_worked(used: dict[int, float], idle: dict[int, float]) -> None:
    """A worker that took no connections would have used (almost) no CPU: each must have done a real
    share of the work (an even split is 50 %; connections are handed out by the kernel, not round-robin)."""
    total = sum(used.values())
    for pid, seconds in used.items():
        assert seconds >= 0.15 + idle[pid] and seconds >= 0.1 * total, \
            f"worker {pid} barely worked: {used}, idle {idle}"


@pytest.fixture
def serve_factory(tmp_path: Path) -> Iterator[ServeFactory]:
    started: list[Workers] = []

    def make(database_url: str, **kwargs: Any) -> Workers:
        server = Workers(database_url, tmp_path, **kwargs)
        started.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.stop()


# --- tests -------------------------------------------------------------------------------------------

HTTP_SENDERS, HTTP_ROUNDS, GRPC_SENDERS, GRPC_ROUNDS, BATCH = 4, 12, 2, 6, 100


@pytest.mark.slow
def test_two_workers_share_the_load_and_store_every_span_once(db_url: str, serve_factory: ServeFactory) -> None:
    """4 OTLP/HTTP and 2 OTLP/gRPC exporters at once (a new connection per batch of 100): both workers
    burn CPU on it, and every acknowledged span is listed by the REST API exactly once."""
    server = serve_factory(db_url, workers=2)
    kids = server.children()
    assert len(kids) == 2, f"expected 2 worker processes, found {kids}"
    senders = [Sender(http_exporter(server), f"http-{i}", BATCH, HTTP_ROUNDS) for i in range(HTTP_SENDERS)]
    senders += [Sender(grpc_exporter(server), f"grpc-{i}", BATCH, GRPC_ROUNDS) for i in range(GRPC_SENDERS)]
    acked, used, idle = cpu_per_worker_during(kids, lambda: run_senders(senders))

    assert server.children() == kids, "a worker was restarted during the load"
    print(f"\n{len(acked)} spans over 2 workers; CPU s per worker: "
          + ", ".join(f"{pid}: {s:.2f} (idle 2 s: {idle[pid]:.2f})" for pid, s in used.items()))
    assert_every_worker_worked(used, idle)
    assert len(acked) == (HTTP_SENDERS * HTTP_ROUNDS + GRPC_SENDERS * GRPC_ROUNDS) * BATCH
    assert_stored_exactly_once(server, db_url, acked)


@pytest.mark.slow
def test_one_kept_alive_exporter_is_spread_over_every_worker(sqlite_url: str, serve_factory: ServeFactory) -> None:
    """One exporter on one kept-alive connection (as an application has) would stay on the worker the
    kernel hashed it to; closed every 4 requests (``requests_per_connection``), it reconnects 12 times
    in 48 batches and both workers do a real share (all 12 on one worker: 1 run in 2,048)."""
    server = serve_factory(sqlite_url, workers=2, extra_env={"LLM_MONITOR_SERVER__REQUESTS_PER_CONNECTION": "4"})
    sender = Sender(http_exporter(server), "kept-alive", BATCH, 48, reuse=True)
    acked, used, idle = cpu_per_worker_during(server.children(), lambda: run_senders([sender]))
    assert_every_worker_worked(used, idle)
    assert_stored_exactly_once(server, sqlite_url, acked)


@pytest.mark.slow
def test_one_grpc_exporter_is_spread_over_every_worker(sqlite_url: str, serve_factory: ServeFactory) -> None:
    """The same for OTLP/gRPC, whose one HTTP/2 connection carries every export: connections older than
    ``grpc_max_connection_age_s`` (0.5 s here) get a GOAWAY, the exporter reconnects, nothing fails."""
    server = serve_factory(sqlite_url, workers=2, extra_env={"LLM_MONITOR_SERVER__GRPC_MAX_CONNECTION_AGE_S": "0.5"})
    sender = Sender(grpc_exporter(server), "grpc-kept", BATCH, reuse=True)

    def for_8_seconds() -> list[SpanId]:
        sender.start()
        time.sleep(8)
        sender.halt.set()
        return run_senders_started([sender])

    acked, used, idle = cpu_per_worker_during(server.children(), for_8_seconds)
    assert_every_worker_worked(used, idle)
    assert_stored_exactly_once(server, sqlite_url, acked)


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_nothing_acknowledged_is_lost(sqlite_url: str,
                                                                      serve_factory: ServeFactory) -> None:
    """SIGKILL one worker in the middle of the load: the supervisor starts a new one, ``/healthz``
    answers throughout, the exporters' retries land, and spans sent afterwards are stored."""
    server = serve_factory(sqlite_url, workers=2)
    victim, survivor = server.children()
    # new connections per batch, and kept-alive ones: those on the victim break under the exporter
    senders = [Sender(http_exporter(server), f"http-{i}", 50, reuse=i % 2 == 1) for i in range(4)]
    senders += [Sender(grpc_exporter(server), f"grpc-{i}", 50, reuse=i % 2 == 1) for i in range(2)]
    for s in senders:
        s.start()
    try:
        wait_until(lambda: sum(len(s.acked) for s in senders) >= 400, 60, "load before the kill")
        os.kill(victim, signal.SIGKILL)
        health: list[int | str] = []

        def replaced() -> bool:
            try:
                health.append(httpx.get(f"{server.base}/healthz", timeout=5).status_code)
            except httpx.HTTPError as exc:
                health.append(type(exc).__name__)
            kids = server.children()
            return len(kids) == 2 and victim not in kids

        took = wait_until(replaced, 15, "a replacement worker", interval=0.1)
        (replacement,) = set(server.children()) - {survivor}
        assert survivor in server.children(), "the surviving worker was restarted too"
        assert health and set(health) == {200}, f"/healthz while a worker was down: {Counter(health)}"
        wait_until(lambda: f"Started server process [{replacement}]" in server.output(), 30,
                   "the replacement to start serving")
        after = sum(len(s.acked) for s in senders)
        wait_until(lambda: sum(len(s.acked) for s in senders) >= after + 400, 60, "load after the restart")
        print(f"\nreplacement {replacement} for {victim} appeared after {took:.2f} s; /healthz polled "
              f"{len(health)}×; export calls so far {sum(s.calls for s in senders)} for "
              f"{sum(len(s.acked) for s in senders) // 50} batches")
    finally:
        for s in senders:
            s.halt.set()
        for s in senders:
            s.join(timeout=60)
    assert all(s.error is None for s in senders), [s.error for s in senders]
    assert "worker 0 exited (signal SIGKILL); starting it again" in server.output() \
        or "worker 1 exited (signal SIGKILL); starting it again" in server.output()
    assert httpx.get(f"{server.base}/healthz", timeout=10).status_code == 200
    assert_stored_exactly_once(server, sqlite_url, [p for s in senders for p in s.acked])


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_stop_every_worker_with_exit_code_0(sqlite_url: str, serve_factory: ServeFactory,
                                                               sig: signal.Signals) -> None:
    """Worker count from ``LLM_MONITOR_SERVER__WORKERS`` this time (3, more than the cores here)."""
    server = serve_factory(sqlite_url, workers=3, via_env=True)
    kids = server.children()
    assert len(kids) == 3
    assert "3 worker(s)" in server.output()
    exporter = HttpExporter(endpoint=f"{server.base}/v1/traces", timeout=10)
    spans = SpanSource("before-stop").batch(50)
    assert export_until_acked(exporter, spans) == 1
    exporter.shutdown()
    t0 = time.monotonic()
    server.proc.send_signal(sig)
    code = server.proc.wait(timeout=15)
    took = time.monotonic() - t0
    assert code == 0, server.output()[-3000:]
    assert all(gone(pid) for pid in kids), f"workers left behind: {[p for p in kids if not gone(p)]}"
    assert f"received {sig.name}: stopping 3 worker(s)" in server.output()
    assert server.output().count("Finished server process") == 3, server.output()[-3000:]
    print(f"\n{sig.name}: supervisor and 3 workers exited in {took:.2f} s")
    assert set(stored_counts(sqlite_url)) == set(ids(spans))


@pytest.mark.slow
def test_kill_9_of_the_supervisor_takes_the_workers_with_it(sqlite_url: str, serve_factory: ServeFactory) -> None:
    server = serve_factory(sqlite_url, workers=2)
    kids = server.children()
    assert len(kids) == 2
    with pytest.raises(OSError):  # the ports are really held while it runs (else the check below proves nothing)
        ensure_port_free("127.0.0.1", server.port, wait_s=0)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    took = wait_until(lambda: all(gone(pid) for pid in kids), 5, "the workers to die with the supervisor")
    # nothing holds the ports any more: a new server could start (HTTP: no listener left; gRPC: no
    # SO_REUSEPORT socket left, which a plain bind would collide with)
    ensure_port_free("127.0.0.1", server.port, wait_s=0)
    with socket.socket() as grpc_sock:
        grpc_sock.bind(("127.0.0.1", server.grpc_port))
        grpc_sock.listen()
    print(f"\nworkers gone {took:.2f} s after the supervisor's SIGKILL")


def test_a_taken_port_is_an_error_not_a_crash_loop(sqlite_url: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Workers(sqlite_url, tmp_path, workers=2, port=port)
        t0 = time.monotonic()
        result = subprocess.run(server.args, env=server.env, cwd=tmp_path, capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - t0 < 30  # no worker was started and retried
    assert "Started server process" not in result.stdout + result.stderr


def test_a_taken_grpc_port_is_an_error_before_any_worker_starts(sqlite_url: str, tmp_path: Path) -> None:
    """The HTTP port is free, but OTLP/gRPC's is held by another program (without SO_REUSEPORT): the
    supervisor finds out before forking and exits 1 with the port named, instead of starting workers
    that would each fail and be restarted (the crash-loop give-up is covered in tests/unit)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = Workers(sqlite_url, tmp_path, workers=2)
        server.grpc_port = taken.getsockname()[1]
        server.args[server.args.index("--grpc-port") + 1] = str(server.grpc_port)
        result = subprocess.run(server.args, env=server.env, cwd=tmp_path, capture_output=True, text=True,
                                timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert f"cannot listen on 127.0.0.1:{server.grpc_port}" in result.stderr
    assert "Traceback" not in output
    assert "Started server process" not in output
