"""Ingest benchmark: llm-monitor's OTLP/HTTP ingest against a decode+COPY reference, in one run.

Why it is built this way:

* The target is relative ("at least half of what decode + COPY does on this machine"), so the
  reference is measured in the same run, on the same payloads, right before and right after the
  PostgreSQL phases (background load that drifts weighs on both). Absolute numbers from another
  day or another machine would not say whether the service is good.
* The server runs as its own process (``llm-monitor serve``), started exactly as a user would,
  because a load generator sharing the server's interpreter would share its GIL and slow it down.
* Phase 1 measures the maximum with a fixed number of closed-loop clients (keep-alive
  connections). Phase 2 offers half of that at a fixed rate (open loop: requests are sent on a
  schedule whatever the server does), and latency is counted from the *scheduled* send time, so a
  slow server cannot hide its queueing by slowing the client down (coordinated omission).
* 429/503 answers are honoured (Retry-After), counted and resent: a benchmark that loses spans
  measures nothing, and the stored row count is checked against what was sent.

Run ``.venv/bin/python -m bench.ingest --help``.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import platform
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.cpu import BackendCpu, tree_cpu_s
from bench.payloads import SPANS_PER_REQUEST, PayloadFactory
from bench.reference_copy import ReferenceResult, run_reference

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
PG_TARGET_RATIO = 0.5
SQLITE_TARGET_SPS = 5000.0
P99_TARGET_MS = 250.0
HEADERS = {"Content-Type": "application/x-protobuf"}


def log(message: str) -> None:
    """Progress goes to stderr so stdout holds only the result table."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- databases


def pg_conninfo(admin_url: str, database: str) -> str:
    return f"{admin_url.rstrip('/')}/{database}"


def recreate_pg_database(admin_url: str, database: str) -> None:
    """A fresh database per run: leftovers from an earlier run would change index sizes and timings."""
    with psycopg.connect(pg_conninfo(admin_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')


def count_spans(db: str, url: str) -> int:
    if db == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return int(conn.execute("SELECT count(*) FROM spans").fetchone()[0])
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute("SELECT count(*) FROM spans").fetchone()
        return int(row[0]) if row else 0


# --------------------------------------------------------------------------- the server process


class Server:
    """``llm-monitor migrate`` + ``llm-monitor serve`` as a child process on free ports."""

    def __init__(self, database_url: str, workdir: Path, env_extra: dict[str, str],
                 after_migrate: str | None = None) -> None:
        from monitor.server import free_port

        self.port, self.grpc_port = free_port(), free_port()
        self.database_url = database_url
        self.log_path = workdir / "server.log"
        cli = Path(sys.executable).parent / "llm-monitor"
        # A config file in the current directory must not change the measured setup.
        self.env = {**os.environ, "LLM_MONITOR_DATABASE_URL": database_url,
                    "LLM_MONITOR_CONFIG": str(workdir / "absent.toml"), **env_extra}
        subprocess.run([str(cli), "migrate"], env=self.env, cwd=workdir, check=True, capture_output=True)
        if after_migrate:  # e.g. an index under evaluation (--pg-after-migrate)
            with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"),
                                 autocommit=True) as conn:
                conn.execute(after_migrate)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(cli), "serve", "--port", str(self.port), "--grpc-port", str(self.grpc_port)],
            env=self.env, cwd=workdir, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}); see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout_s}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# --------------------------------------------------------------------------- clients


@dataclass
class Counters:
    """Shared by the client threads; guarded by ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent_requests: int = 0
    backpressure: int = 0  # 429/503 answers, each followed by a resend
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)


class Client:
    """One keep-alive connection; ``send`` returns only once the request is acknowledged (200)."""

    def __init__(self, port: int, counters: Counters) -> None:
        self.port = port
        self.counters = counters
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def send(self, body: bytes) -> None:
        attempts = 0
        while True:
            attempts += 1
            try:
                self.conn.request("POST", "/v1/traces", body, HEADERS)
                resp = self.conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException) as exc:
                with self.counters.lock:
                    self.counters.reconnects += 1
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempts > 20:
                    raise RuntimeError(f"giving up after {attempts} attempts: {exc!r}") from exc
                time.sleep(0.05)
                continue
            if resp.status == 200:
                with self.counters.lock:
                    self.counters.sent_requests += 1
                return
            if resp.status in (429, 503):
                with self.counters.lock:
                    self.counters.backpressure += 1
                time.sleep(float(resp.getheader("Retry-After") or "1"))
                continue
            raise RuntimeError(f"unexpected HTTP {resp.status}")

    def close(self) -> None:
        self.conn.close()


def _run_threads(count: int, target: Callable[[], None], name: str) -> None:
    """Run ``target`` in ``count`` threads and re-raise the first failure (a lost request must fail the run)."""
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, name=f"{name}-{i}", daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def closed_loop(port: int, payloads: Sequence[bytes], concurrency: int, counters: Counters) -> float:
    """Send every payload with ``concurrency`` clients, each sending its next request on the last ack;
    returns the elapsed seconds from the first send to the last ack."""
    lock = threading.Lock()
    cursor = iter(payloads)

    def worker() -> None:
        client = Client(port, counters)
        try:
            while True:
                with lock:
                    body = next(cursor, None)
                if body is None:
                    return
                client.send(body)
        finally:
            client.close()

    t0 = time.perf_counter()
    _run_threads(concurrency, worker, "closed")
    return time.perf_counter() - t0


def open_loop(port: int, payloads: Sequence[bytes], rate_rps: float, workers: int,
              counters: Counters) -> tuple[list[float], float]:
    """Send request i at ``start + i / rate_rps`` whatever the server does; latencies (s) are from the
    scheduled time to the ack. Returns (latencies, achieved seconds)."""
    latencies: list[float] = [0.0] * len(payloads)
    lock = threading.Lock()
    state = {"next": 0}
    start = time.perf_counter() + 0.2

    def worker() -> None:
        client = Client(port, counters)
        try:
            while True:
                with lock:
                    i = state["next"]
                    state["next"] += 1
                if i >= len(payloads):
                    return
                due = start + i / rate_rps
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                client.send(payloads[i])
                latencies[i] = time.perf_counter() - due
        finally:
            client.close()

    _run_threads(workers, worker, "open")
    return latencies, time.perf_counter() - start


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 100 samples is the 99th value)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


# --------------------------------------------------------------------------- one database


@dataclass
class DbResult:
    db: str
    spans: int
    seconds: float
    offered_sps: float
    latencies_ms: list[float]
    backpressure: int
    stored: int
    expected: int
    phase2_seconds: float
    server_cpu_s: float  # the llm-monitor process during phase 1
    db_cpu_s: float  # its PostgreSQL backends during phase 1 (SQLite runs inside the server: 0)

    @property
    def cpu_us_per_span(self) -> float:
        return (self.server_cpu_s + self.db_cpu_s) * 1e6 / self.spans

    @property
    def spans_per_s(self) -> float:
        return self.spans / self.seconds

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def bench_db(db: str, args: argparse.Namespace, factory: PayloadFactory, phase1: Sequence[bytes],
             workdir: Path) -> DbResult:
    if db == "postgres":
        recreate_pg_database(args.pg_admin_url, args.pg_database)
        url = "postgresql+psycopg://" + pg_conninfo(args.pg_admin_url, args.pg_database).split("://", 1)[1]
    else:
        path = workdir / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    env = {}
    if args.write_threads:
        env["LLM_MONITOR_SERVER__WRITE_THREADS"] = str(args.write_threads)
    if args.max_pending:
        env["LLM_MONITOR_SERVER__MAX_PENDING_WRITES"] = str(args.max_pending)
    if args.workers:
        env["LLM_MONITOR_SERVER__WORKERS"] = str(args.workers)
    if args.requests_per_connection is not None:
        env["LLM_MONITOR_SERVER__REQUESTS_PER_CONNECTION"] = str(args.requests_per_connection)
    env["LLM_MONITOR_SERVER__FREEZE_HEAP"] = "true" if args.freeze_heap == "on" else "false"
    log(f"{db}: migrating a fresh database and starting `llm-monitor serve`")
    server = Server(url, workdir, env, args.pg_after_migrate if db == "postgres" else None)
    counters = Counters()
    profiler: subprocess.Popen[bytes] | None = None
    try:
        warm = factory.take(args.concurrency)
        closed_loop(server.port, warm, args.concurrency, counters)
        log(f"{db}: warmed up with {len(warm)} requests; phase 1: {len(phase1)} requests x {SPANS_PER_REQUEST} "
            f"spans, {args.concurrency} keep-alive clients")
        if args.profile:
            profiler = start_profiler(server.proc.pid, db)
        backends = BackendCpu(pg_conninfo(args.pg_admin_url, "postgres"), args.pg_database) if db == "postgres" \
            else None
        server_cpu0 = tree_cpu_s(server.proc.pid)
        seconds = closed_loop(server.port, phase1, args.concurrency, counters)
        server_cpu = tree_cpu_s(server.proc.pid) - server_cpu0
        db_cpu = backends.used() if backends is not None else 0.0
        if profiler is not None:
            stop_profiler(profiler)
            profiler = None
        spans = len(phase1) * SPANS_PER_REQUEST
        max_sps = spans / seconds
        log(f"{db}: phase 1: {spans} spans in {seconds:.2f}s = {max_sps:,.0f} spans/s "
            f"({counters.backpressure} backpressure answers); CPU per span: server "
            f"{server_cpu * 1e6 / spans:.0f} µs, database backends {db_cpu * 1e6 / spans:.0f} µs")
        offered_sps = args.rate_sps or max_sps * args.load_fraction
        rate_rps = offered_sps / SPANS_PER_REQUEST
        n2 = max(10, math.ceil(rate_rps * args.seconds))
        log(f"{db}: building {n2} more unique payloads for phase 2")
        phase2 = factory.take(n2)
        before = counters.backpressure
        log(f"{db}: phase 2: offering {rate_rps * SPANS_PER_REQUEST:,.0f} spans/s ({rate_rps:.1f} requests/s, "
            f"{offered_sps / max_sps:.0%} of the maximum) for {n2 / rate_rps:.1f}s, open loop")
        latencies, phase2_s = open_loop(server.port, phase2, rate_rps, args.open_workers, counters)
        lat_ms = [x * 1000 for x in latencies]
        log(f"{db}: phase 2: ack p50 {percentile(lat_ms, 50):.0f} ms, p95 {percentile(lat_ms, 95):.0f} ms, "
            f"p99 {percentile(lat_ms, 99):.0f} ms, max {max(lat_ms):.0f} ms over {len(lat_ms)} requests "
            f"({counters.backpressure - before} backpressure answers)")
    finally:
        if profiler is not None:
            stop_profiler(profiler)
        server.stop()
    expected = (len(warm) + len(phase1) + len(phase2)) * SPANS_PER_REQUEST
    stored = count_spans(db, url)
    log(f"{db}: stored {stored} spans, sent {expected}: {'OK' if stored == expected else 'MISMATCH'}")
    return DbResult(db, spans, seconds, rate_rps * SPANS_PER_REQUEST, lat_ms, counters.backpressure, stored,
                    expected, phase2_s, server_cpu, db_cpu)


def start_profiler(pid: int, db: str) -> subprocess.Popen[bytes] | None:
    """py-spy (sampling, outside the server's process) on the server during phase 1, if installed."""
    exe = os.environ.get("PY_SPY") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        log("py-spy not found (set PY_SPY or `pip install py-spy`); not profiling")
        return None
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile-{db}.txt"
    log(f"profiling pid {pid} with py-spy into {out}")
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "--threads", "--rate", "200",
                             "--nonblocking", "-o", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop_profiler(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


# --------------------------------------------------------------------------- report


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}"


def pg_version(admin_url: str) -> str:
    try:
        with psycopg.connect(pg_conninfo(admin_url, "postgres")) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return f"PostgreSQL {row[0].split()[0]}" if row else "PostgreSQL"
    except psycopg.Error:
        return "PostgreSQL (unreachable)"


@dataclass(frozen=True)
class Reference:
    """The reference measured right before and right after the PostgreSQL phases; the ratio uses both,
    so background load that drifts during the run weighs on the reference and the service alike."""

    runs: list[ReferenceResult]

    @property
    def spans_per_s(self) -> float:
        return sum(r.spans for r in self.runs) / sum(r.seconds for r in self.runs)

    @property
    def cpu_us_per_span(self) -> float:
        return sum(r.client_cpu_s + r.backend_cpu_s for r in self.runs) * 1e6 / sum(r.spans for r in self.runs)

    def describe(self) -> str:
        each = " and ".join(f"{r.spans_per_s:,.0f}" for r in self.runs)
        r0 = self.runs[0]
        cpu = ", ".join(f"{r.client_cpu_s * 1e6 / r.spans:.0f} + {r.backend_cpu_s * 1e6 / r.spans:.0f}"
                        for r in self.runs)
        return (f"Reference: {r0.spans:,} spans decoded and COPYed {len(self.runs)}x ({each} spans/s; one process, "
                f"one transaction per request, attributes as {r0.json_type}, every row stored; CPU µs/span "
                f"client + PostgreSQL backend: {cpu}).")


def table(reference: Reference | None, results: list[DbResult]) -> str:
    """One row per database; the CPU columns are the noise-resistant view of the same comparison."""
    head = ("| database | reference decode+COPY (spans/s) | llm-monitor (spans/s) | ratio | target | "
            "CPU µs/span, reference → llm-monitor (service + DB) | phase 2 offered (spans/s) | ack p50 (ms) | "
            "ack p95 (ms) | ack p99 (ms) | 429/503 resent | stored = sent |")
    lines = [head, "|" + "|".join(["---"] * 12) + "|"]
    for r in results:
        if r.db == "postgres" and reference is not None:
            ratio = r.spans_per_s / reference.spans_per_s
            ref = f"{reference.spans_per_s:,.0f}"
            target = f"≥ {PG_TARGET_RATIO}× ref: {'met' if ratio >= PG_TARGET_RATIO else 'MISSED'}"
            ratio_s = f"{math.floor(ratio * 100) / 100:.2f}×"  # floored, so 0.498 never reads as 0.50
            cpu = f"{reference.cpu_us_per_span:.0f} → {r.cpu_us_per_span:.0f}"
        else:
            ref, ratio_s = "n/a", "n/a"
            target = f"≥ {SQLITE_TARGET_SPS:,.0f}/s: {'met' if r.spans_per_s >= SQLITE_TARGET_SPS else 'MISSED'}"
            cpu = f"{r.cpu_us_per_span:.0f}"
        p99 = r.p(99)
        p99_s = f"{p99:.0f} {'(met)' if p99 < P99_TARGET_MS else '(MISSED < 250)'}"
        lines.append(
            f"| {r.db} | {ref} | {r.spans_per_s:,.0f} | {ratio_s} | {target} | {cpu} | {r.offered_sps:,.0f} | "
            f"{r.p(50):.0f} | {r.p(95):.0f} | {p99_s} | {r.backpressure} | "
            f"{'yes' if r.stored == r.expected else 'NO'} ({r.stored:,}) |")
    return "\n".join(lines)


def report(args: argparse.Namespace, reference: Reference | None, results: list[DbResult], load: float) -> str:
    cmd = shlex.join([".venv/bin/python", "-m", "bench.ingest", *sys.argv[1:]])
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"#### {when}",
        "",
        f"`{cmd}`",
        "",
        f"Machine: {machine()}, {pg_version(args.pg_admin_url)}, SQLite {sqlite3.sqlite_version}. "
        f"Payload: {SPANS_PER_REQUEST}-span OTLP/protobuf requests, 16 GenAI attributes a span, "
        f"{args.requests} requests in phase 1 with {args.concurrency} keep-alive clients; phase 2 offered "
        f"{f'{args.rate_sps:,.0f} spans/s' if args.rate_sps else f'{args.load_fraction:.0%} of the phase-1 maximum'} "
        f"for {args.seconds:.0f}s (open loop, "
        "latency from the scheduled send time to the 200). "
        f"1-minute load average just before the run (other work on the machine): {load:.1f}.",
        "",
        table(reference, results),
    ]
    if reference is not None:
        lines += ["", reference.describe()]
    return "\n".join(lines)


def append_docs(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n" + text + "\n")


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--requests", type=int, default=120, help="512-span requests in phase 1 (and the reference)")
    p.add_argument("--concurrency", type=int, default=4, help="closed-loop clients in phase 1")
    p.add_argument("--seconds", type=float, default=60.0,
                   help="length of the fixed-rate latency phase (60 s: ~300 requests at 2,500 spans/s, so p99 is "
                        "the 3rd slowest; with 15 s it was the slowest of ~75)")
    p.add_argument("--load-fraction", type=float, default=0.5, help="phase-2 rate as a fraction of the maximum")
    p.add_argument("--rate-sps", type=float, default=0.0,
                   help="phase-2 rate in spans/s instead of a fraction of the maximum (e.g. 2500: half of "
                        "SQLite's 5k target)")
    p.add_argument("--open-workers", type=int, default=16, help="threads available to the open-loop schedule")
    p.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--pg-database", default="llm_monitor_bench", help="dropped and recreated on every run")
    p.add_argument("--write-threads", type=int, default=0, help="LLM_MONITOR_SERVER__WRITE_THREADS (0: default)")
    p.add_argument("--max-pending", type=int, default=0, help="LLM_MONITOR_SERVER__MAX_PENDING_WRITES (0: default)")
    p.add_argument("--workers", type=int, default=0,
                   help="LLM_MONITOR_SERVER__WORKERS: serve processes (0: the default, one per core up to 4)")
    p.add_argument("--requests-per-connection", type=int, default=None, metavar="N",
                   help="LLM_MONITOR_SERVER__REQUESTS_PER_CONNECTION (default: the server's, 8; 0: never close)")
    p.add_argument("--freeze-heap", choices=("on", "off"), default="on",
                   help="LLM_MONITOR_SERVER__FREEZE_HEAP: gc.freeze() after start-up (off: the old behaviour)")
    p.add_argument("--reference-json", choices=("text", "jsonb"), default="text",
                   help="column type of the reference's attributes (text: the issue's definition, stricter)")
    p.add_argument("--pg-after-migrate", default=None, metavar="SQL",
                   help="SQL run on the PostgreSQL database after migrating it (e.g. to measure an extra index)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--profile", action="store_true", help="py-spy the server during phase 1 (bench/results/)")
    p.add_argument("--append-docs", nargs="?", const=str(DOCS), default=None, metavar="PATH",
                   help="append the result block to docs/benchmarks.md (or PATH)")
    return p.parse_args(argv)


def reference_run(args: argparse.Namespace, payloads: Sequence[bytes]) -> ReferenceResult:
    log(f"reference: decode + COPY of the same {len(payloads)} payloads into PostgreSQL, one process")
    recreate_pg_database(args.pg_admin_url, args.pg_database)
    result = run_reference(pg_conninfo(args.pg_admin_url, args.pg_database), payloads, args.reference_json)
    log(f"reference: {result.spans_per_s:,.0f} spans/s ({result.stored} rows)")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    dbs = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    log(f"building {args.requests} payloads of {SPANS_PER_REQUEST} spans (seed {args.seed})")
    factory = PayloadFactory(args.seed)
    phase1 = factory.take(args.requests)
    load_before = os.getloadavg()[0]
    refs: list[ReferenceResult] = []
    results = []
    with tempfile.TemporaryDirectory(prefix="llm-monitor-bench-") as tmp:
        # PostgreSQL first, bracketed by the reference before and after it.
        for db in sorted(dbs, key=lambda d: d != "postgres"):
            if db == "postgres":
                refs.append(reference_run(args, phase1))
            # Phase-1 payloads are reused per database (each database is fresh); phase 2 takes new ones.
            results.append(bench_db(db, args, factory, phase1, Path(tmp)))
            if db == "postgres":
                refs.append(reference_run(args, phase1))
    reference = Reference(refs) if refs else None
    if reference is not None and any(r.stored != r.spans for r in refs):
        log("reference: stored rows differ from decoded spans")
        return 1
    text = report(args, reference, results, load_before)
    print(text)
    if args.append_docs:
        append_docs(Path(args.append_docs), text)
        log(f"appended to {args.append_docs}")
    ok = all(r.stored == r.expected for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
