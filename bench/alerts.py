"""Alert rule evaluation time and webhook delivery throughput, on SQLite and PostgreSQL.

Evaluation: ``--calls`` LLM calls (5 models, 3 services, 2 % errors) spread over 24 hours are
written through the real span writer; ``--rules`` rules (latency/TTFT percentiles, error rate,
request rate, tokens per minute, cost per hour, absence; windows of 5 m, 15 m and 1 h; a third
grouped by model) are evaluated by ``AlertService.evaluate_once`` at the end of the data, as the
worker does each round. Reported: the median of ``--rounds`` rounds, per round and per rule.

Delivery: ``--notifications`` outbox rows are sent by ``AlertService.send_once`` (signed, URL
checked, one HTTP POST each, settled in the database) to a ``ThreadingHTTPServer`` on loopback.

    .venv/bin/python -m bench.alerts [--db sqlite|postgres|both] [--calls 200000] [--rules 50]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "llm_monitor_alerts_bench"
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet", "gemini-flash", "llama-8b"]
SERVICES = ["support-bot", "search", "summariser"]
END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def database_url(kind: str, tmp: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'alerts-bench.db'}"
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB}")
        conn.execute(f"CREATE DATABASE {PG_DB}")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"


def write_traffic(engine: Any, calls: int, rng: random.Random) -> None:
    from monitor.domain import LLMCall, Span
    from monitor.store import SpanWriter
    from monitor.store.keys import get_or_create_project

    project = get_or_create_project(engine, "default").rowid
    writer, step_ns = SpanWriter(engine), int(86400e9 / calls)
    start_ns = int((END - timedelta(days=1)).timestamp() * 1e9)
    batch: list[Span] = []
    for i in range(calls):
        begin = start_ns + i * step_ns
        model, error = rng.choice(MODELS), rng.random() < 0.02
        batch.append(Span(os.urandom(16).hex(), os.urandom(8).hex(), None, "chat", 3, begin,
                          begin + int(rng.lognormvariate(6.5, 0.6) * 1e6), 2 if error else 1, None, {}, {},
                          service_name=rng.choice(SERVICES),
                          llm=LLMCall(operation="chat", provider="openai", request_model=model, response_model=model,
                                      input_tokens=rng.randint(50, 2000), output_tokens=rng.randint(10, 800),
                                      ttft_ms=rng.uniform(50, 900), cost_usd=rng.uniform(1e-5, 1e-2),
                                      error_type="timeout" if error else None)))
        if len(batch) == 5000:
            writer.write_spans(project, batch)
            batch = []
    if batch:
        writer.write_spans(project, batch)


def rule_specs(count: int) -> list[dict[str, Any]]:
    shapes = [
        {"metric": "latency_ms", "aggregate": "p95", "threshold": 2000},
        {"metric": "ttft_ms", "aggregate": "p99", "threshold": 800},
        {"metric": "error_rate", "threshold": 0.05},
        {"metric": "request_rate", "threshold": 1000},
        {"metric": "tokens_per_minute", "threshold": 1e6},
        {"metric": "cost_per_hour", "threshold": 10},
        {"kind": "absence", "metric": ""},
    ]
    windows = ["5m", "15m", "1h"]
    out = []
    for i in range(count):
        spec = {"name": f"rule-{i}", **shapes[i % len(shapes)], "window": windows[i % 3], "for": "2m"}
        if i % 3 == 0 and spec.get("kind") != "absence":
            spec["group_by"] = "model"
        out.append(spec)
    return out


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def bench_db(kind: str, calls: int, rules: int, rounds: int, notifications: int) -> dict[str, Any]:
    from sqlalchemy import text

    from monitor.alerts import RuleSpec
    from monitor.alerts.payloads import AlertNotice
    from monitor.alerts.rulestore import create_rule
    from monitor.alerts.service import AlertService
    from monitor.config import Settings
    from monitor.migrate import upgrade
    from monitor.store import make_engine

    with tempfile.TemporaryDirectory() as tmp:
        url = database_url(kind, Path(tmp))
        upgrade(url)
        engine = make_engine(url)
        t = time.perf_counter()
        write_traffic(engine, calls, random.Random(7))
        load_s = time.perf_counter() - t
        if kind == "postgres":  # as autovacuum would have by then; a fresh table has no statistics
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE spans"))
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        Thread(target=server.serve_forever, daemon=True).start()
        settings = Settings(database_url=url, alerts={"allow_networks": ["127.0.0.0/8"]},
                            webhooks={"bench": {"url": f"http://127.0.0.1:{server.server_address[1]}/"}})
        service = AlertService(engine, settings, {"bench": "bench-secret"})
        for spec in rule_specs(rules):
            create_rule(engine, "default", RuleSpec.model_validate(spec))
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            service.evaluate_once(END)
            times.append(time.perf_counter() - t)
        with engine.begin() as conn:  # notifications as the state machine writes them
            from monitor.alerts.outbox import enqueue

            for i in range(notifications):
                notice = AlertNotice("firing", f"bench-{i}", "default", "rule", None, None, "warning", "firing",
                                     {"model": MODELS[i % 5]}, 1.0, 0.5, "bench", END, END, None, END)
                enqueue(conn, 1, notice, {"bench": "json"}, END)
        t = time.perf_counter()
        delivered = 0
        while delivered < notifications:
            sent = service.send_once(END, limit=100)["delivered"]
            if not sent:
                break
            delivered += sent
        send_s = time.perf_counter() - t
        with engine.connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM outbox WHERE status <> 'delivered'")).scalar_one()
        server.shutdown()
        engine.dispose()
    per_round = statistics.median(times)
    return {"db": kind, "calls": calls, "rules": rules, "load_s": load_s, "round_s": per_round,
            "per_rule_ms": per_round / rules * 1000, "delivered": delivered, "undelivered": left,
            "deliveries_per_s": delivered / send_s if send_s else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--notifications", type=int, default=1000)
    args = parser.parse_args()
    for kind in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        r = bench_db(kind, args.calls, args.rules, args.rounds, args.notifications)
        print(f"{r['db']:9} {r['calls']:,} calls (written in {r['load_s']:.0f} s), {r['rules']} rules: "
              f"evaluation round {r['round_s'] * 1000:.0f} ms median ({r['per_rule_ms']:.1f} ms/rule); "
              f"delivery {r['deliveries_per_s']:.0f} notifications/s ({r['delivered']} delivered, "
              f"{r['undelivered']} left)", flush=True)


if __name__ == "__main__":
    main()
