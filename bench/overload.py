"""Overload benchmark: drive ``llm-monitor serve`` at ~10x its sustainable rate and check what it promises.

What it checks (docs/reliability.md, "Overload"): under a burst far beyond what it can store the
server answers only 200, or 429/503 with ``Retry-After``; its memory stays bounded; once the
burst ends every span it acknowledged (200) is in the database, exactly once, and nothing it
refused is.

How:

* The server is its own process (``llm-monitor migrate`` + ``serve``, as a user runs it, via
  ``bench.ingest.Server``), so the load generator does not share its GIL, and its peak RSS
  (``VmHWM`` in ``/proc/<pid>/status``) is the server's alone.
* Phase 1 measures the sustainable rate: 4 closed-loop keep-alive clients for a few seconds.
* Phase 2 is open loop: request ``i`` is due at ``start + i / rate`` with ``rate`` = factor x the
  sustainable rate, sent over a bounded pool of keep-alive connections (threads), whatever the
  server answers; refused requests are *not* resent, so the offered load stays at the factor.
* Payloads are the ingest benchmark's realistic 512-span requests (``bench.payloads``) with
  deterministic ids patched in place: request ``n`` holds spans ``(n, 1..512)``, so the ids of
  every acknowledged request are known without keeping the requests, and a copy costs
  microseconds instead of a protobuf round trip.
* Afterwards the stored ``(trace_id, span_id)`` pairs are compared with the acknowledged ones.

Run ``.venv/bin/python -m bench.overload --help``.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import random
import sqlite3
import struct
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.ingest import Server, recreate_pg_database
from bench.payloads import SPANS_PER_TRACE, build_request

HEADERS = {"Content-Type": "application/x-protobuf"}
DOCS = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- payloads with known ids


class IdPayloads:
    """Copies of one realistic request where request ``n`` gets ids derived from ``n``.

    The template's ids are random 8/16-byte strings, found once by byte search (they do not occur
    by chance elsewhere); a copy is the template with new ids written at those offsets.
    """

    def __init__(self, spans: int = 512, seed: int = 7) -> None:
        self.spans = spans
        self.nonce = os.urandom(8)  # distinct trace ids across runs on one database
        req = build_request(random.Random(seed), spans)
        self.template = req.SerializeToString()
        scope = req.resource_spans[0].scope_spans[0]
        self._span_at: list[tuple[int, int]] = []  # (offset, span index)
        self._trace_at: list[tuple[int, int]] = []  # (offset, trace index)
        for i, span in enumerate(scope.spans):
            self._span_at += [(o, i) for o in self._find(span.span_id)]
            if i % SPANS_PER_TRACE == 0:
                self._trace_at += [(o, i // SPANS_PER_TRACE) for o in self._find(span.trace_id)]
        assert len(self._trace_at) == spans, "every span carries its trace id once"

    def _find(self, needle: bytes) -> list[int]:
        out, start = [], 0
        while (at := self.template.find(needle, start)) >= 0:
            out.append(at)
            start = at + 1
        return out

    def span_id(self, n: int, i: int) -> bytes:
        return struct.pack(">II", n + 1, i + 1)

    def trace_id(self, n: int, k: int) -> bytes:
        return self.nonce + struct.pack(">II", n + 1, k + 1)

    def body(self, n: int) -> bytes:
        buf = bytearray(self.template)
        for at, i in self._span_at:
            buf[at:at + 8] = self.span_id(n, i)
        for at, k in self._trace_at:
            buf[at:at + 16] = self.trace_id(n, k)
        return bytes(buf)

    def ids(self, n: int) -> set[tuple[str, str]]:
        """The (trace_id, span_id) pairs of request ``n``, in the hex form the database stores."""
        return {(self.trace_id(n, i // SPANS_PER_TRACE).hex(), self.span_id(n, i).hex()) for i in range(self.spans)}


# --------------------------------------------------------------------------- measuring


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, rest = line.split(":", 1)
                values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def stored_ids(database_url: str) -> list[tuple[str, str]]:
    """Every (trace_id, span_id) row in ``spans``, duplicates kept."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return [(t, s) for t, s in conn.execute("SELECT trace_id, span_id FROM spans")]
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return [(t, s) for t, s in conn.execute("SELECT trace_id, span_id FROM spans")]


@dataclass
class Outcome:
    """One request of the burst."""

    n: int
    status: int | str  # HTTP status, or the exception name when there was no answer
    retry_after: str | None
    latency_s: float  # send to answer


@dataclass
class OverloadResult:
    database: str
    spans_per_request: int
    sustainable_rps: float
    factor: float
    connections: int
    duration_s: float
    offered_rps: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    baseline_rss_kib: int = 0
    peak_rss_kib: int = 0
    drain_s: float = 0.0
    recovery_s: float = 0.0
    acked_ids: set[tuple[str, str]] = field(default_factory=set)
    stored: list[tuple[str, str]] = field(default_factory=list)

    @property
    def codes(self) -> Counter:
        return Counter(o.status for o in self.outcomes)

    @property
    def accepted_rps(self) -> float:
        return sum(1 for o in self.outcomes if o.status == 200) / self.duration_s

    @property
    def refused_without_retry_after(self) -> int:
        return sum(1 for o in self.outcomes if o.status in (429, 503) and not o.retry_after)

    @property
    def unexpected(self) -> Counter:
        """Answers other than 200/429/503, and requests with no answer at all."""
        return Counter(o.status for o in self.outcomes if o.status not in (200, 429, 503))

    def ack_latency_ms(self, q: float) -> float:
        lat = sorted(o.latency_s for o in self.outcomes if o.status == 200)
        return 1000 * lat[min(len(lat) - 1, math.ceil(q * len(lat)) - 1)] if lat else float("nan")

    @property
    def lost(self) -> int:
        """Acknowledged spans missing from the database (must be 0)."""
        return len(self.acked_ids - set(self.stored))

    @property
    def duplicates(self) -> int:
        return len(self.stored) - len(set(self.stored))

    @property
    def unacked_stored(self) -> int:
        """Stored spans that were never acknowledged (a refused request stores nothing: 0)."""
        return len(set(self.stored) - self.acked_ids)

    def table_row(self) -> str:
        codes = ", ".join(f"{k} × {v:,}" for k, v in sorted(self.codes.items(), key=lambda kv: str(kv[0])))
        spr = self.spans_per_request
        return (f"| {self.database} | {self.sustainable_rps * spr:,.0f} | {self.offered_rps * spr:,.0f} "
                f"({self.offered_rps / self.sustainable_rps:.1f}×) | {self.accepted_rps * spr:,.0f} | {codes} | "
                f"{self.refused_without_retry_after} | {self.ack_latency_ms(0.5):,.0f} / "
                f"{self.ack_latency_ms(0.99):,.0f} | {self.baseline_rss_kib / 1024:,.0f} → "
                f"{self.peak_rss_kib / 1024:,.0f} | {self.drain_s:.2f} / {self.recovery_s:.2f} | "
                f"{len(self.acked_ids):,} / {self.lost} / {self.duplicates} / {self.unacked_stored} |")


TABLE_HEADER = (
    "| Database | Sustainable (spans/s) | Offered (spans/s) | Acknowledged (spans/s) | Answers | 429/503 without "
    "Retry-After | Ack latency p50 / p99 (ms) | Server RSS: idle → peak (MiB) | Drain / recovery (s) | Acked spans "
    "/ lost / duplicated / stored unacked |\n"
    "|---|---:|---:|---:|---|---:|---:|---:|---:|---|"
)


# --------------------------------------------------------------------------- load


class _Conn:
    """A keep-alive connection that reconnects after any failure."""

    def __init__(self, port: int, timeout_s: float) -> None:
        self.port, self.timeout_s = port, timeout_s
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)

    def post(self, body: bytes) -> tuple[int, str | None]:
        try:
            self.conn.request("POST", "/v1/traces", body, HEADERS)
            resp = self.conn.getresponse()
            resp.read()
            return resp.status, resp.getheader("Retry-After")
        except BaseException:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout_s)
            raise

    def close(self) -> None:
        self.conn.close()


def sustainable_rate(port: int, payloads: IdPayloads, first_n: int, seconds: float, clients: int = 4) -> tuple[
        float, list[int]]:
    """Requests/s that ``clients`` closed-loop clients get acknowledged (429/503 honoured and resent)."""
    lock = threading.Lock()
    state = {"n": first_n}
    acked: list[int] = []
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        conn = _Conn(port, 120)
        try:
            while time.perf_counter() < deadline:
                with lock:
                    n = state["n"]
                    state["n"] += 1
                body = payloads.body(n)
                while True:
                    status, retry_after = conn.post(body)
                    if status == 200:
                        with lock:
                            acked.append(n)
                        break
                    if status not in (429, 503):
                        raise RuntimeError(f"HTTP {status} while measuring the sustainable rate")
                    time.sleep(float(retry_after or 1))
        finally:
            conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(acked) / (time.perf_counter() - t0), acked


def burst(port: int, payloads: IdPayloads, first_n: int, rate_rps: float, seconds: float, connections: int,
          pid: int) -> tuple[list[Outcome], float, float, int]:
    """Open-loop load: request ``first_n + i`` is due at ``start + i / rate_rps``, for ``seconds``.

    ``rate_rps = math.inf`` makes every connection send its next request as soon as it has an
    answer (a closed loop over ``connections``: the most simultaneous requests the pool can make).
    Returns (outcomes, offered rps, drain seconds after the end of the burst, peak RSS sampled in KiB).
    """
    lock = threading.Lock()
    state = {"i": 0}
    outcomes: list[Outcome] = []
    start = time.perf_counter() + 0.2
    end = start + seconds
    last_answer = [start]

    def worker() -> None:
        conn = _Conn(port, 60)
        try:
            while True:
                with lock:
                    i = state["i"]
                    state["i"] += 1
                due = start + i / rate_rps
                if due >= end or time.perf_counter() >= end:
                    return
                if (delay := due - time.perf_counter()) > 0:
                    time.sleep(delay)
                body = payloads.body(first_n + i)
                t0 = time.perf_counter()
                try:
                    status, retry_after = conn.post(body)
                except Exception as exc:  # no answer at all: recorded, never hidden
                    status, retry_after = type(exc).__name__, None
                now = time.perf_counter()
                with lock:
                    outcomes.append(Outcome(first_n + i, status, retry_after, now - t0))
                    last_answer[0] = max(last_answer[0], now)
        finally:
            conn.close()

    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_kib(pid)[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    sampler.join()
    return outcomes, len(outcomes) / seconds, max(0.0, last_answer[0] - end), peak[0]


def recovery(port: int, payloads: IdPayloads, n: int, timeout_s: float = 60) -> float:
    """Seconds until a plain request is acknowledged again (429/503 honoured)."""
    conn = _Conn(port, 60)
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < timeout_s:
            status, retry_after = conn.post(payloads.body(n))
            if status == 200:
                return time.perf_counter() - t0
            if status not in (429, 503):
                raise RuntimeError(f"HTTP {status} after the burst")
            time.sleep(min(float(retry_after or 1), 0.2))
    finally:
        conn.close()
    raise RuntimeError("the server did not recover after the burst")


def run_overload(database_url: str, workdir: Path, *, factor: float = 10.0, seconds: float = 15.0,
                 connections: int = 64, spans: int = 512, sustain_s: float = 5.0,
                 env_extra: dict[str, str] | None = None) -> OverloadResult:
    """Start a server on ``database_url`` (migrated here), measure, burst, drain, then read back the store."""
    payloads = IdPayloads(spans)
    server = Server(database_url, workdir, {"LLM_MONITOR_SERVER__GRPC_ENABLED": "false", **(env_extra or {})})
    database = "SQLite" if database_url.startswith("sqlite") else "PostgreSQL"
    try:
        pid = server.proc.pid
        # warm-up (imports, pools, caches), then the sustainable rate
        _, warm = sustainable_rate(server.port, payloads, 0, 1.0)
        rps, acked = sustainable_rate(server.port, payloads, 1_000, sustain_s)
        acked_ns = set(warm) | set(acked)
        baseline = rss_kib(pid)[0]
        rate = factor * rps
        log(f"{database}: sustainable {rps:.1f} req/s ({rps * spans:,.0f} spans/s); bursting at {rate:.1f} req/s "
            f"for {seconds:.0f} s over {connections} connections")
        result = OverloadResult(database, spans, rps, factor, connections, seconds, baseline_rss_kib=baseline)
        outcomes, offered, drain, _peak_seen = burst(server.port, payloads, 100_000, rate, seconds, connections, pid)
        result.outcomes, result.offered_rps, result.drain_s = outcomes, offered, drain
        result.recovery_s = recovery(server.port, payloads, 99_999)
        result.peak_rss_kib = rss_kib(pid)[1]
        acked_ns |= {o.n for o in outcomes if o.status == 200} | {99_999}
    finally:
        server.stop()
    result.acked_ids = set().union(*(payloads.ids(n) for n in acked_ns))
    result.stored = stored_ids(database_url)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--pg-database", default="llm_monitor_overload")
    parser.add_argument("--factor", type=float, default=10.0, help="offered load / sustainable rate")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the burst")
    parser.add_argument("--connections", type=int, default=64, help="load generator's connection pool")
    parser.add_argument("--spans", type=int, default=512, help="spans per request")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="llm-monitor-overload-") as tmp:
        for db in (["postgresql", "sqlite"] if args.db == "both" else [args.db]):
            if db == "postgresql":
                recreate_pg_database(args.pg_admin_url, args.pg_database)
                url = f"{args.pg_admin_url.replace('postgresql://', 'postgresql+psycopg://')}/{args.pg_database}"
            else:
                url = f"sqlite:///{tmp}/overload.db"
            workdir = Path(tmp) / db
            workdir.mkdir()
            r = run_overload(url, workdir, factor=args.factor, seconds=args.seconds,
                             connections=args.connections, spans=args.spans)
            log(f"{r.database}: codes {dict(r.codes)}; lost {r.lost}, duplicated {r.duplicates}")
            rows.append(r.table_row())
    print(TABLE_HEADER)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
