"""Retention benchmark: dropping day partitions (PostgreSQL) against DELETE, and SQLite's batched deletes.

The same spans (``--rows`` LLM calls spread evenly over ``--days`` days up to now, each with ~250
characters of prompt and answer; a score and a queue row for every tenth) are written once at schema
0007 (plain tables), copied to a second database (``CREATE DATABASE … TEMPLATE``), which is then
migrated to head (partitioned: the migration time is reported too). Then everything older than the
start of the day ``--expire-days`` ago is removed:

- partitioned: ``monitor.store.partitions.span_retention`` (drops whole day partitions, with the scores and
  queue rows of their spans);
- plain: one ``DELETE FROM spans WHERE start_time < cutoff`` (the foreign keys cascade to scores and queue
  rows), then the ``VACUUM`` that must follow before the space can be reused.

SQLite (``--sqlite-rows``): ``span_retention`` with 5,000-row batches (reporting the longest batch, i.e.
the longest the ingest writer waits) against one ``DELETE`` on a copy of the same file.

Ingest A/B (``--ingest-requests``): the ingest benchmark's 512-span requests, decoded and normalised once,
then written with the real writer (``SpanWriter``: COPY, one transaction per request) into a plain
``spans`` (schema 0007) and a partitioned one (head), alternating A B B A … so that background load
weighs on both alike. Only the database write differs between the two, so that is what is timed.

Run ``.venv/bin/python -m bench.retention --help``.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import Engine, event

from monitor.migrate import upgrade
from monitor.store import make_engine
from monitor.store.partitions import span_retention

CONTENT = "repeat('lorem ipsum dolor ', 12)"


def _pg_fill(url: str, rows: int, days: float, now: datetime) -> None:
    step = days * 86400 / rows
    t0 = now - timedelta(days=days)
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        pid = conn.execute("INSERT INTO projects (name, created_at) VALUES ('bench', now()) RETURNING id").fetchone()[0]
        conn.execute(
            "INSERT INTO spans (project_rowid, trace_id, span_id, name, kind, start_time, end_time, duration_ms, "
            "status_code, attributes, resource, is_llm, operation, response_model, input_tokens, output_tokens, "
            "input_text, output_text, service_name, received_at) "
            "SELECT %(p)s, md5(g::text), left(md5('s' || g), 16), 'chat model-a', 3, ts, ts + interval '200 ms', "
            "200, 0, '{\"gen_ai.operation.name\": \"chat\"}', '{\"service.name\": \"bench\"}', true, 'chat', "
            f"'model-a', 100, 50, 'Question ' || g || ': ' || {CONTENT}, 'Answer ' || g || ': ' || {CONTENT}, "
            "'bench', ts FROM (SELECT g, %(t0)s + g * %(step)s * interval '1 second' AS ts "
            "FROM generate_series(0, %(n)s - 1) g) s", {"p": pid, "t0": t0, "step": step, "n": rows})
        conn.execute("INSERT INTO scores (project_rowid, span_rowid, trace_id, span_id, name, value, source, "
                     "created_at) SELECT project_rowid, id, trace_id, span_id, 'toxicity', 0.1, 'evaluator', "
                     "start_time FROM spans WHERE id % 10 = 0")
        conn.execute("INSERT INTO eval_queue (project_rowid, span_rowid, evaluator, state, attempts, call_time, "
                     "next_attempt_at, created_at, updated_at) SELECT project_rowid, id, 'toxicity', 'done', 1, "
                     "start_time, start_time, start_time, start_time FROM spans WHERE id % 10 = 0")
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _cutoff(args: argparse.Namespace, now: datetime) -> datetime:
    """The end of the ``--expire-days`` oldest (UTC) days of the data."""
    first = (now - timedelta(days=args.days)).replace(hour=0, minute=0, second=0, microsecond=0)
    return first + timedelta(days=args.expire_days)


def _recreate(admin: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def _size(url: str) -> str:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        return conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]


def bench_postgres(args: argparse.Namespace, now: datetime) -> dict[str, object]:
    base = args.pg_admin_url.rstrip("/")
    admin = f"{base}/postgres"
    plain_db, part_db = f"{args.pg_database}_plain", f"{args.pg_database}_part"
    plain, part = (f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{d}" for d in (plain_db, part_db))
    _recreate(admin, plain_db)
    upgrade(plain, "0007")
    t = time.perf_counter()
    _pg_fill(plain, args.rows, args.days, now)
    fill_s = time.perf_counter() - t
    _recreate(admin, part_db, template=plain_db)
    t = time.perf_counter()
    upgrade(part)
    migrate_s = time.perf_counter() - t
    size = _size(part)
    cutoff = _cutoff(args, now)
    engine = make_engine(part)
    t = time.perf_counter()
    result = span_retention(engine, now, (now - cutoff).total_seconds() / 86400)
    drop_s = time.perf_counter() - t
    engine.dispose()
    with psycopg.connect(plain.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("CREATE INDEX ix_scores_span_rowid ON scores (span_rowid)")  # as 0008 adds; else quadratic
        t = time.perf_counter()
        deleted = conn.execute("DELETE FROM spans WHERE start_time < %s", (cutoff,)).rowcount
        delete_s = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute("VACUUM spans")
        vacuum_s = time.perf_counter() - t
    return {"rows": args.rows, "days": args.days, "fill_s": fill_s, "migrate_s": migrate_s, "size": size,
            "expired": result["spans"], "dropped": len(result["dropped"]), "scores": result["scores"],
            "locked_ms": result["locked_s"] * 1000,
            "drop_s": drop_s, "deleted": deleted, "delete_s": delete_s, "vacuum_s": vacuum_s}


def _sqlite_fill(path: Path, rows: int, days: float, now: datetime) -> None:
    step = days * 86400 / rows
    t0 = (now - timedelta(days=days)).timestamp()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO projects (name, created_at) VALUES ('bench', '2026-01-01 00:00:00.000000')")
    content = "'" + "lorem ipsum dolor " * 12 + "'"
    conn.execute(
        "WITH RECURSIVE g(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM g WHERE x < ? - 1) "
        "INSERT INTO spans (project_rowid, trace_id, span_id, name, kind, start_time, end_time, duration_ms, "
        "status_code, attributes, resource, is_llm, operation, response_model, input_tokens, output_tokens, "
        "input_text, output_text, service_name, received_at) "
        "SELECT 1, printf('%032x', x), printf('%016x', x), 'chat model-a', 3, ts, ts, 200, 0, "
        "'{\"gen_ai.operation.name\": \"chat\"}', '{\"service.name\": \"bench\"}', 1, 'chat', 'model-a', 100, 50, "
        f"'Question ' || x || ': ' || {content}, 'Answer ' || x || ': ' || {content}, 'bench', ts "
        "FROM (SELECT x, strftime('%Y-%m-%d %H:%M:%f000', ? + x * ?, 'unixepoch') AS ts FROM g)",
        (rows, t0, step))
    conn.execute("INSERT INTO scores (project_rowid, span_rowid, trace_id, span_id, name, value, source, created_at) "
                 "SELECT project_rowid, id, trace_id, span_id, 'toxicity', 0.1, 'evaluator', start_time FROM spans "
                 "WHERE id % 10 = 0")
    conn.execute("INSERT INTO eval_queue (project_rowid, span_rowid, evaluator, state, attempts, call_time, "
                 "next_attempt_at, created_at, updated_at) SELECT project_rowid, id, 'toxicity', 'done', 1, "
                 "start_time, start_time, start_time, start_time FROM spans WHERE id % 10 = 0")
    conn.commit()
    conn.close()


def _transactions(engine: Engine) -> list[float]:
    """Durations of the write transactions on ``engine`` (how long each held SQLite's write lock)."""
    spans: list[float] = []
    started: dict[int, float] = {}
    event.listen(engine, "begin", lambda conn: started.__setitem__(id(conn), time.perf_counter()))
    event.listen(engine, "commit", lambda conn: spans.append(time.perf_counter() - started.pop(id(conn))))
    return spans


def bench_sqlite(args: argparse.Namespace, now: datetime) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="llm-monitor-retention-") as tmp:
        path = Path(tmp) / "r.db"
        upgrade(f"sqlite:///{path}")
        t = time.perf_counter()
        _sqlite_fill(path, args.sqlite_rows, args.days, now)
        fill_s = time.perf_counter() - t
        copy = Path(tmp) / "copy.db"
        shutil.copy(path, copy)
        cutoff = _cutoff(args, now)
        engine = make_engine(f"sqlite:///{path}")
        transactions = _transactions(engine)
        t = time.perf_counter()
        result = span_retention(engine, now, (now - cutoff).total_seconds() / 86400, batch_rows=args.batch_rows)
        batched_s = time.perf_counter() - t
        engine.dispose()
        conn = sqlite3.connect(copy)
        conn.execute("PRAGMA foreign_keys=ON")
        t = time.perf_counter()
        deleted = conn.execute("DELETE FROM spans WHERE start_time < ?",
                               (cutoff.strftime("%Y-%m-%d %H:%M:%S.%f"),)).rowcount
        conn.commit()
        single_s = time.perf_counter() - t
        conn.close()
    writes = [d for d in transactions if d > 0]
    return {"rows": args.sqlite_rows, "fill_s": fill_s, "expired": result["spans"], "scores": result["scores"],
            "batched_s": batched_s, "batches": len(writes), "longest_batch_s": max(writes, default=0.0),
            "deleted": deleted, "single_s": single_s}


def bench_ingest_ab(args: argparse.Namespace) -> dict[str, float]:
    from bench.payloads import PayloadFactory
    from collectors.otlp.traces import decode_traces_proto
    from collectors.semconv import NormalizeOptions, normalize_span
    from monitor.store.keys import get_or_create_project
    from monitor.store.writer import SpanWriter

    base = args.pg_admin_url.rstrip("/")
    urls = {}
    for kind, revision in (("plain", "0007"), ("partitioned", "head")):
        name = f"{args.pg_database}_ab_{kind}"
        _recreate(f"{base}/postgres", name)
        urls[kind] = f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
        upgrade(urls[kind], revision)
    options = NormalizeOptions()
    batches = []
    for body in PayloadFactory(seed=7).take(args.ingest_requests):
        spans = decode_traces_proto(body).spans
        batches.append([normalize_span(s, options) for s in spans])
    engines = {k: make_engine(u) for k, u in urls.items()}
    writers = {k: SpanWriter(e) for k, e in engines.items()}
    projects = {k: get_or_create_project(e, "bench").rowid for k, e in engines.items()}
    spent = dict.fromkeys(urls, 0.0)
    for i, batch in enumerate(batches):
        order = ("plain", "partitioned") if i % 2 == 0 else ("partitioned", "plain")
        for kind in order:
            t = time.perf_counter()
            writers[kind].write_spans(projects[kind], batch)
            spent[kind] += time.perf_counter() - t
    spans = sum(len(b) for b in batches)
    for engine in engines.values():
        engine.dispose()
    return {"spans": spans, **{k: spans / v for k, v in spent.items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="spans on PostgreSQL (0: skip)")
    p.add_argument("--sqlite-rows", type=int, default=1_000_000, help="spans on SQLite (0: skip)")
    p.add_argument("--days", type=float, default=7.0, help="the spans cover this many days up to now")
    p.add_argument("--expire-days", type=int, default=3, help="whole days removed (the oldest ones)")
    p.add_argument("--batch-rows", type=int, default=5000)
    p.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--pg-database", default="llm_monitor_bench_retention", help="prefix; dropped and recreated")
    p.add_argument("--ingest-requests", type=int, default=60, help="512-span requests for the ingest A/B (0: skip)")
    args = p.parse_args()
    now = datetime.now(UTC)
    if args.rows:
        pg = bench_postgres(args, now)
        print(f"PostgreSQL: {pg['rows']:,} spans over {pg['days']:g} days ({pg['size']}); filled in "
              f"{pg['fill_s']:.1f} s; migration 0008 (copy into partitions, rebuild indexes) {pg['migrate_s']:.1f} s")
        print(f"  partition drop: {pg['expired']:,} spans in {pg['dropped']} day partitions "
              f"and {pg['scores']:,} scores in {pg['drop_s']:.2f} s (spans locked at most {pg['locked_ms']:.0f} ms)")
        print(f"  DELETE (plain table): {pg['deleted']:,} spans in {pg['delete_s']:.1f} s, then VACUUM "
              f"{pg['vacuum_s']:.1f} s")
    if args.ingest_requests:
        ab = bench_ingest_ab(args)
        print(f"Ingest A/B (SpanWriter, {ab['spans']:,} spans, alternating): plain {ab['plain']:,.0f} spans/s, "
              f"partitioned {ab['partitioned']:,.0f} spans/s ({ab['partitioned'] / ab['plain'] - 1:+.1%})")
    if args.sqlite_rows:
        lite = bench_sqlite(args, now)
        print(f"SQLite: {lite['rows']:,} spans, filled in {lite['fill_s']:.1f} s")
        print(f"  batched ({args.batch_rows:,} per transaction): {lite['expired']:,} spans and {lite['scores']:,} "
              f"scores in {lite['batched_s']:.1f} s, {lite['batches']} transactions, longest "
              f"{lite['longest_batch_s'] * 1000:.0f} ms")
        print(f"  one DELETE: {lite['deleted']:,} spans in {lite['single_s']:.1f} s (the write lock held throughout)")


if __name__ == "__main__":
    main()
