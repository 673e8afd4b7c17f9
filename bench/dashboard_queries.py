"""Dashboard read times over a large store: the ``monitor.query`` / ``monitor.query_views`` calls the
Overview and Traces pages make, timed over ``--calls`` stored LLM calls (issue 8: each < 1 s at 1M
calls on PostgreSQL).

Seeding writes 30 days of traffic straight into ``spans`` (PostgreSQL ``COPY``, SQLite
``executemany``) in the ingest path's column layout (``monitor.store.rows.span_row``): 4 models,
2 services, segments ``variant`` and ``region``, tags, 5,000 users, 2 % errors, prompts and answers
of a few hundred to a few thousand characters. About 20 % of the calls sit in multi-span traces (a
non-LLM root span with 1–3 LLM children, a third of those wrapping the inference server's own LLM
span), so the "outermost call" filter has nested spans to drop. PostgreSQL is then vacuumed and
analysed, as autovacuum would have done; SQLite is left without statistics, as in production. The
worker's call-rollup round then runs at the time the data ends (``monitor.store.call_rollup``; its
last hour stays unrolled and is read from the spans, as in production); ``--no-rollup`` skips it
and reads every range from the spans, the figures before the rollups. Each
page query runs once to warm up and ``--runs`` times timed (fewer once ``--budget`` seconds are
spent), per time range and filter, exactly as the pages build them (``dashboard.filters.View`` →
``CallFilters``, ``pick_bucket_s`` for the charts). Results: docs/benchmarks.md, "Dashboard queries".

    .venv/bin/python -m bench.dashboard_queries --pg-database llm_monitor_bench_dash --skip search
    .venv/bin/python -m bench.dashboard_queries --reuse --only search --runs 3   # text search: seconds each
    .venv/bin/python -m bench.dashboard_queries --reuse --explain --only call_stats --ranges "All time"
    .venv/bin/python -m bench.dashboard_queries --db sqlite --sqlite-path /tmp/dash.db --skip search
    .venv/bin/python -m bench.dashboard_queries --reuse --no-rollup --ranges "All time"   # spans only, as before
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text

from monitor import query, query_views
from monitor.query import CallFilters

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
PROJECT = "bench-dashboard"
RANGES: dict[str, timedelta | None] = {"Last 24 hours": timedelta(hours=24), "Last 7 days": timedelta(days=7),
                                       "All time": None}  # labels and spans as in dashboard.filters.RANGES
DAYS = 30
MODELS = (  # (model, provider, share, $ per 1k input, $ per 1k output, latency median ms)
    ("gpt-4o", "openai", 0.30, 0.0025, 0.01, 1400.0),
    ("gpt-4o-mini", "openai", 0.40, 0.00015, 0.0006, 700.0),
    ("claude-3-5-sonnet", "anthropic", 0.20, 0.003, 0.015, 1800.0),
    ("llama-3.1-8b", "vllm", 0.10, 0.0, 0.0, 500.0),
)
SERVICES = (("support-bot", 0.6), ("search-assistant", 0.4))
REGIONS = ("eu", "us", "ap")
TAGS = ("prod", "beta", "rag", "tool-use", "long-context")
ERRORS = ("RateLimitError", "APITimeoutError", "InternalServerError")
SEARCH_BUDGET_S = 0.8  # dashboard.data.SEARCH_BUDGET_S (not imported: that module needs streamlit)
SEARCH_WORD = "invoice"  # in ~2 % of prompts: a search that finds a full page among recent calls
MISSING_WORD = "zebracorn"  # in no prompt: a search that scans the whole range
WORDS = ("the", "of", "and", "to", "a", "in", "is", "you", "that", "it", "for", "on", "with", "as", "this", "be",
         "are", "your", "we", "can", "please", "help", "me", "order", "account", "refund", "shipping",
         "delivery", "password", "reset", "subscription", "plan", "upgrade", "cancel", "billing", "charge",
         "error", "message", "screen", "login", "app", "settings", "profile", "email", "address", "phone",
         "number", "product", "price", "discount", "warranty", "return", "policy", "store", "location", "hours",
         "support", "ticket", "summary", "answer", "question", "context", "document", "section", "paragraph",
         "table", "figure", "report", "quarter", "revenue", "growth", "customer", "feedback", "review", "rating")


# --------------------------------------------------------------------------- seeding


@dataclass
class Traffic:
    """Deterministic fake traffic: one call at a time, each with its trace's extra spans."""

    calls: int
    end: datetime
    rng: random.Random = field(default_factory=lambda: random.Random(8))

    def __post_init__(self) -> None:
        words = [self.rng.choice(WORDS) for _ in range(60_000)]
        self.corpus = " ".join(words)
        self.step_us = DAYS * 86400e6 / self.calls
        self.start = self.end - timedelta(days=DAYS)

    def text(self, median: float, extra: str | None = None) -> str:
        size = int(min(max(self.rng.lognormvariate(0, 0.7) * median, 40), 6000))
        at = self.rng.randrange(0, len(self.corpus) - size)
        body = self.corpus[at:at + size]
        return f"{body} {extra}" if extra else body

    def spans(self) -> Iterator[Any]:
        """``monitor.domain.Span``s in start-time order (as ingest would store them)."""
        made = 0
        while made < self.calls:
            moment = self.start + timedelta(microseconds=made * self.step_us + self.rng.random() * self.step_us)
            if self.rng.random() < 0.1:  # a multi-span trace: ~2 calls each, so ~20 % of the calls
                children = min(self.rng.randint(1, 3), self.calls - made)
                yield from self._agent(moment, children)
                made += children
            else:
                yield self._call(os.urandom(16).hex(), None, moment)
                made += 1

    def _agent(self, moment: datetime, children: int) -> Iterator[Any]:
        from monitor.domain import Span

        trace_id, root_id = os.urandom(16).hex(), os.urandom(8).hex()
        calls, at = [], moment + timedelta(milliseconds=5)
        for _ in range(children):
            call = self._call(trace_id, root_id, at)
            calls.append(call)
            at += timedelta(milliseconds=call.duration_ms + 3)
            if self.rng.random() < 1 / 3:  # the inference server's own span inside the client's
                calls.append(self._call(trace_id, call.span_id, moment=None, outer=call))
        end_ns = max(c.end_ns for c in calls) + 2_000_000
        yield Span(trace_id, root_id, None, "agent.run", 1, _ns(moment), end_ns, 0, None, {}, {},
                   service_name=calls[0].service_name, tags=calls[0].tags, segment=calls[0].segment)
        yield from calls

    def _call(self, trace_id: str, parent: str | None, moment: datetime | None, outer: Any = None) -> Any:
        from monitor.domain import LLMCall, Span

        rng = self.rng
        if outer is not None:  # nested: same model and request, a little inside the outer span
            llm, start_ns = outer.llm, outer.start_ns + 1_000_000
            end_ns = max(outer.end_ns - 1_000_000, start_ns)
            return Span(trace_id, os.urandom(8).hex(), parent, f"vllm {llm.operation}", 2, start_ns, end_ns,
                        outer.status_code, None, {}, {}, service_name="vllm-server", tags=outer.tags,
                        segment=outer.segment, llm=llm)
        model, provider, _, usd_in, usd_out, median_ms = rng.choices(MODELS, [m[2] for m in MODELS])[0]
        service = rng.choices([s for s, _ in SERVICES], [w for _, w in SERVICES])[0]
        failed = rng.random() < 0.02
        tin, tout = int(rng.lognormvariate(5.8, 0.8)), 0 if failed else int(rng.lognormvariate(5.0, 0.7))
        duration_ms = rng.lognormvariate(0, 0.5) * median_ms * (0.3 if failed else 1.0)
        streamed = rng.random() < 0.6
        prompt = self.text(4 * tin, SEARCH_WORD if rng.random() < 0.02 else None)
        llm = LLMCall(
            operation="chat", provider=provider, request_model=model, response_model=None if failed else model,
            input_tokens=tin, output_tokens=tout, total_tokens=tin + tout, finish_reasons=None if failed else ["stop"],
            error_type=rng.choice(ERRORS) if failed else None,
            ttft_ms=duration_ms * rng.uniform(0.05, 0.3) if streamed and not failed else None,
            user_id=f"user-{rng.randrange(5000)}", session_id=f"session-{rng.randrange(200_000)}",
            response_id=None if failed else os.urandom(6).hex(), input_text=prompt,
            output_text=None if failed else self.text(4 * tout), system_instructions="You are a helpful assistant.",
            cost_usd=(tin * usd_in + tout * usd_out) / 1000 if usd_in else None,
            cost_source="price_table" if usd_in else None,
        )
        start_ns = _ns(moment)
        tags = rng.sample(TAGS, rng.randint(1, 2))
        segment = {"variant": rng.choice("AB"), "region": rng.choice(REGIONS)}
        return Span(trace_id, os.urandom(8).hex(), parent, f"chat {model}", 3, start_ns,
                    start_ns + int(duration_ms * 1e6), 2 if failed else 1, "rate limited" if failed else None,
                    {"gen_ai.request.model": model}, {"service.name": service}, service_name=service, tags=tags,
                    segment=segment, llm=llm)


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1e6) * 1000


def rows(project_rowid: int, traffic: Traffic, sqlite: bool) -> Iterator[tuple[Any, ...]]:
    """Ingest-path rows plus ``language`` (as if the worker's language job had labelled them)."""
    from monitor.store.rows import span_row
    from monitor.store.writer import sqlite_datetime

    received = traffic.end
    for span in traffic.spans():
        row = (*span_row(project_rowid, span, received), "en" if span.llm is not None else None)
        if sqlite:
            row = tuple(sqlite_datetime(v) if isinstance(v, datetime) else v for v in row)
        yield row


def seed(engine: Engine, traffic: Traffic) -> int:
    """Write the traffic; returns the number of spans stored."""
    from monitor.store.keys import get_or_create_project
    from monitor.store.rows import SPAN_COLUMNS

    project = get_or_create_project(engine, PROJECT).rowid
    cols = ", ".join((*SPAN_COLUMNS, "language"))
    sqlite = engine.dialect.name == "sqlite"
    written = 0
    batch: list[tuple[Any, ...]] = []
    for row in rows(project, traffic, sqlite):
        batch.append(row)
        if len(batch) == 20_000:
            written += _write(engine, cols, batch, sqlite)
            batch = []
            if written % 200_000 < 20_000:
                log(f"  {written:,} spans")
    written += _write(engine, cols, batch, sqlite)
    return written


def _write(engine: Engine, cols: str, batch: list[tuple[Any, ...]], sqlite: bool) -> int:
    with engine.begin() as conn:
        raw: Any = conn.connection.driver_connection
        if sqlite:
            raw.executemany(f"INSERT INTO spans ({cols}) VALUES ({', '.join('?' * len(batch[0]))})", batch)
        else:
            with raw.cursor() as cur, cur.copy(f"COPY spans ({cols}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
    return len(batch)


# --------------------------------------------------------------------------- databases


def pg_url(admin: str, database: str) -> str:
    return f"{admin.replace('postgresql://', 'postgresql+psycopg://')}/{database}"


def recreate_pg(admin: str, database: str) -> None:
    import psycopg

    with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        conn.execute(f'CREATE DATABASE "{database}"')


def drop_pg(admin: str, database: str) -> None:
    import psycopg

    with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}"')


def prepare(url: str, calls: int, reuse: bool, revision: str = "head", rollup: bool = True
            ) -> tuple[Engine, int, dict[str, Any]]:
    """Migrate, seed (unless reusing), analyse and roll up as the worker would; returns the engine, project
    and seeding facts."""
    from monitor.migrate import upgrade
    from monitor.store import make_engine
    from monitor.store.keys import get_or_create_project

    upgrade(url, revision)
    engine = make_engine(url)
    facts: dict[str, Any] = {}
    if not reuse:
        t = time.perf_counter()
        facts["spans"] = seed(engine, Traffic(calls, datetime.now(UTC).replace(microsecond=0)))
        facts["seed_s"] = time.perf_counter() - t
    t = time.perf_counter()
    if engine.dialect.name == "postgresql":  # as autovacuum would have by then (and sets the visibility map)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE spans"))
    facts["analyze_s"] = time.perf_counter() - t
    with engine.connect() as conn:
        facts["total_spans"] = conn.execute(text("SELECT count(*) FROM spans")).scalar()
        facts["llm_spans"] = conn.execute(text("SELECT count(*) FROM spans WHERE is_llm")).scalar()
    project = get_or_create_project(engine, PROJECT).rowid
    if rollup:
        facts.update(roll_up(engine, project))
    else:  # every read from the spans, as before the call rollups (ranges never reach the threshold)
        query_views.ROLLUP_MIN_HOURS = 10**9
    return engine, project, facts


def roll_up(engine: Engine, project: int) -> dict[str, Any]:
    """The worker's call-rollup round at the time the data ends (so its last, unrolled hour is read from the
    spans, as in production), unless an earlier run already did it."""
    from monitor.store import call_rollup

    now = (query_views.time_bounds(engine, project, CallFilters())[1] or datetime.now(UTC)) + timedelta(seconds=1)
    with engine.connect() as conn:
        done = call_rollup.rolled_until(conn, project)
    if done is not None and done >= call_rollup.floor_to(now - timedelta(seconds=120), call_rollup.HOUR):
        return {"rollup": "reused"}
    t = time.perf_counter()
    stats = call_rollup.roll_up_calls(engine, now, grace_s=120)
    facts = {"rollup_s": time.perf_counter() - t, "rollup_rows": stats.rows}
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE call_rollups"))
    return facts


# --------------------------------------------------------------------------- the pages' reads


@dataclass(frozen=True)
class Case:
    page: str
    query: str
    run: Callable[[], Any]


def page_cases(engine: Engine, project: int, filters: CallFilters, now: datetime, group_by: str) -> list[Case]:
    """What Overview and Traces call on one render (dashboard/overview.py, traces.py, ui.py, data.py)."""
    def bounds() -> Any:
        return query_views.time_bounds(engine, project, filters)

    start = filters.start or bounds()[0] or now
    bucket_s = query_views.pick_bucket_s(start, now)
    trace_id = (query_views.list_traces(engine, project, filters, None, 100) or [{"trace_id": "0" * 32}])[0]["trace_id"]
    errors = CallFilters(**{**filters.__dict__, "has_error": True})
    return [
        Case("both", "time_bounds", bounds),
        Case("both", "filter_options", lambda: query_views.filter_options(engine, project)),
        Case("Overview", "call_stats", lambda: query_views.call_stats(engine, project, filters)),
        Case("Overview", f"call_series {bucket_s}s", lambda: query_views.call_series(engine, project, filters,
                                                                                      bucket_s)),
        Case("Overview", f"call_series {bucket_s}s by {group_by}",
             lambda: query_views.call_series(engine, project, filters, bucket_s, group_by)),
        Case("Overview", f"call_stats by {group_by}", lambda: query_views.call_stats(engine, project, filters,
                                                                                    group_by)),
        Case("Traces", "list_traces", lambda: query_views.list_traces(engine, project, filters, None, 100)),
        Case("Traces", "list_traces errors only", lambda: query_views.list_traces(engine, project, errors, None, 100)),
        Case("Traces", f"list_traces search {SEARCH_WORD!r}",
             lambda: query_views.list_traces(engine, project, filters, SEARCH_WORD, 100)),
        Case("Traces", "list_traces search trace id",
             lambda: query_views.list_traces(engine, project, filters, trace_id, 100)),
        Case("Traces", f"list_traces search {MISSING_WORD!r} (no match)",
             lambda: query_views.list_traces(engine, project, filters, MISSING_WORD, 100)),
        # what the Traces page calls (dashboard.data.traces): the same search within its time budget
        Case("Traces", f"search_traces {SEARCH_WORD!r}, page budget",
             lambda: query_views.search_traces(engine, project, filters, SEARCH_WORD, 100, SEARCH_BUDGET_S).traces),
        Case("Traces", f"search_traces {MISSING_WORD!r} (no match), page budget",
             lambda: query_views.search_traces(engine, project, filters, MISSING_WORD, 100, SEARCH_BUDGET_S).traces),
        Case("Traces", "get_trace", lambda: query.get_trace(engine, project, trace_id)),
        Case("Traces", "trace_scores", lambda: query_views.trace_scores(engine, project, trace_id)),
    ]


def views(now: datetime, ranges: Sequence[str], variants: Sequence[str]) -> Iterator[tuple[str, str, CallFilters,
                                                                                           str]]:
    """(range, filter label, filters, breakdown) as ``dashboard.filters.View.filters`` makes them."""
    for label in ranges:
        delta = RANGES[label]
        start = None if delta is None else (now - delta).replace(second=0, microsecond=0)
        for variant in variants:
            if variant == "none":
                yield label, "none", CallFilters(start=start), "model"
            elif variant == "model":
                yield label, "model = gpt-4o", CallFilters(start=start, model="gpt-4o"), "segment.variant"
            else:
                yield label, "variant = B", CallFilters(start=start, segment={"variant": ["B"]}), "model"


@dataclass
class Timing:
    range: str
    filters: str
    page: str
    query: str
    rows: int
    best_ms: float
    median_ms: float
    runs: int


def time_case(case: Case, runs: int, budget_s: float) -> tuple[int, list[float]]:
    """Warm-up, then ``runs`` timed runs, or fewer once ``budget_s`` is spent (a query of many seconds)."""
    result = case.run()
    times: list[float] = []
    while len(times) < runs and sum(times) < budget_s * 1000:
        t = time.perf_counter()
        case.run()
        times.append((time.perf_counter() - t) * 1000)
    size = len(result) if isinstance(result, list | tuple) else 1
    return size, times


def explain(engine: Engine, case: Case) -> None:
    """Print EXPLAIN ANALYZE of every statement the case runs (PostgreSQL)."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "SET")):
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        case.run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    with engine.connect() as conn:  # one transaction: the case's SET LOCALs apply to what follows them
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur:
            for statement, params in seen:
                if statement.lstrip().upper().startswith("SET"):
                    cur.execute(statement, params)
                    continue
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                print(f"\n--- {case.query}\n{statement}\n{params}\n" + "\n".join(r[0] for r in cur.fetchall()))


def bench(engine: Engine, project: int, args: argparse.Namespace, facts: dict[str, Any]) -> list[Timing]:
    facts["load_before_timing"] = os.getloadavg()[0]
    last = query_views.time_bounds(engine, project, CallFilters())[1]
    now = (last or datetime.now(UTC)) + timedelta(seconds=1)  # the data ends "now", reused or fresh
    out = []
    for label, flabel, filters, group_by in views(now, args.ranges, args.filters):
        for case in page_cases(engine, project, filters, now, group_by):
            if args.only and not any(o in case.query for o in args.only):
                continue
            if args.skip and any(o in case.query for o in args.skip):
                continue
            if args.explain:
                explain(engine, case)
                continue
            size, times = time_case(case, args.runs, args.budget)
            out.append(Timing(label, flabel, case.page, case.query, size, min(times), statistics.median(times),
                              len(times)))
            log(f"{label:14} {flabel:15} {case.query:45} {size:6} rows  best {min(times):8.1f} ms  "
                f"median {statistics.median(times):8.1f} ms")
    return out


# --------------------------------------------------------------------------- report


def table(db: str, timings: list[Timing]) -> str:
    lines = ["| database | range | filter | page | query | rows | best (ms) | median (ms) | runs | < 1 s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for t in timings:
        ok = "yes" if t.median_ms < 1000 else "**no**"
        lines.append(f"| {db} | {t.range} | {t.filters} | {t.page} | {t.query} | {t.rows:,} | {t.best_ms:,.0f} "
                     f"| {t.median_ms:,.0f} | {t.runs} | {ok} |")
    return "\n".join(lines)


def report(args: argparse.Namespace, results: dict[str, tuple[dict[str, Any], list[Timing]]], load: float) -> str:
    import sqlite3

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cmd = "python -m bench.dashboard_queries " + shlex.join(sys.argv[1:])
    lines = [f"#### {when}", "", f"`.venv/bin/{cmd}`", "",
             f"Machine: {os.cpu_count()} cores shared with other work ({platform.processor() or platform.machine()}), "
             f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; 1-minute load average "
             f"at the start: {load:.1f}. Warm-up run, then best and median of {args.runs}.", ""]
    for db, (facts, _) in results.items():
        lines.append(f"{db}: {facts.get('llm_spans', 0):,} LLM spans, {facts.get('total_spans', 0):,} spans"
                     + (f", seeded in {facts['seed_s']:.0f} s" if "seed_s" in facts else " (reused)")
                     + (f" ({facts['server']})" if "server" in facts else "")
                     + f"; load average before its timings {facts.get('load_before_timing', 0):.1f}.")
        if "rollup_s" in facts:
            lines.append(f"{db}: call rollups built in {facts['rollup_s']:.0f} s ({facts['rollup_rows']:,} rows), "
                         "as the worker's first round would.")
    lines.append("")
    lines += [table(db, timings) for db, (_, timings) in results.items()]
    return "\n".join(lines)


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.dashboard_queries", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--db", choices=("postgres", "sqlite", "both"), default="postgres")
    p.add_argument("--calls", type=int, default=1_000_000, help="outermost LLM calls to store")
    p.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--pg-database", default="llm_monitor_bench_dash", help="dropped and recreated unless --reuse")
    p.add_argument("--sqlite-path", default="/tmp/llm_monitor_bench_dash.db")
    p.add_argument("--reuse", action="store_true", help="time the database left by an earlier run")
    p.add_argument("--drop", action="store_true", help="drop the database (delete the file) at the end")
    p.add_argument("--revision", default="head", help="migrate to this schema revision (e.g. 0007)")
    p.add_argument("--no-rollup", action="store_true",
                   help="do not roll calls up, and read every range from the spans (the figures before rollups)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--budget", type=float, default=15.0, help="seconds of timed runs per query before stopping early")
    p.add_argument("--ranges", nargs="+", default=list(RANGES), choices=list(RANGES))
    p.add_argument("--filters", nargs="+", default=["none", "model", "segment"], choices=["none", "model", "segment"])
    p.add_argument("--only", nargs="+", default=None, help="time only queries whose name contains one of these")
    p.add_argument("--skip", nargs="+", default=None, help="leave out queries whose name contains one of these")
    p.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of each query instead of timing")
    p.add_argument("--append-docs", nargs="?", const=str(DOCS), default=None, metavar="PATH",
                   help="append the result block to docs/benchmarks.md (or PATH)")
    return p.parse_args(argv)


def run_db(db: str, args: argparse.Namespace) -> tuple[dict[str, Any], list[Timing]]:
    if db == "postgres":
        if not args.reuse:
            recreate_pg(args.pg_admin_url, args.pg_database)
        url = pg_url(args.pg_admin_url, args.pg_database)
    else:
        if not args.reuse:
            Path(args.sqlite_path).unlink(missing_ok=True)
        url = f"sqlite:///{args.sqlite_path}"
    log(f"{db}: {'reusing' if args.reuse else f'seeding {args.calls:,} calls into'} {url}")
    engine, project, facts = prepare(url, args.calls, args.reuse, args.revision, not args.no_rollup)
    log(f"{db}: {facts}")
    if db == "postgres":
        with engine.connect() as conn:
            facts["server"] = "PostgreSQL " + str(conn.execute(text("SHOW server_version")).scalar()).split()[0]
    try:
        return facts, bench(engine, project, args, facts)
    finally:
        engine.dispose()
        if args.drop:
            drop_pg(args.pg_admin_url, args.pg_database) if db == "postgres" else Path(args.sqlite_path).unlink()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    dbs = ("postgres", "sqlite") if args.db == "both" else (args.db,)
    load = os.getloadavg()[0]
    results = {db: run_db(db, args) for db in dbs}
    if args.explain:
        return 0
    text_ = report(args, results, load)
    print(text_)
    if args.append_docs:
        with Path(args.append_docs).open("a", encoding="utf-8") as fh:
            fh.write("\n" + text_ + "\n")
        log(f"appended to {args.append_docs}")
    return 0 if all(t.median_ms < 1000 for db, (_, ts) in results.items() if db == "postgres" for t in ts) else 1


if __name__ == "__main__":
    sys.exit(main())
