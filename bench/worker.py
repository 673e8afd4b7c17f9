"""Online evaluation worker, end to end: stored calls -> queued -> claimed -> scored -> written.

    .venv/bin/python -m bench.worker --data ../shared/data [--n 3000] [--db sqlite|postgresql]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/llm_monitor_bench] [--workers 1] [--device cpu]

Stores ``--n`` LLM calls (WikiQA-dev questions and answer sentences, cycled) in a fresh database,
warms the evaluator up on one batch outside the timing, then runs ``EvaluationWorker.run_once`` until
the queue is empty and reports calls/s from the first enqueue to the last score committed, and the
share of that time spent inside ``Evaluator.score`` (the rest is the queue and database work). With
``--workers N`` (PostgreSQL) N workers share the queue, as replicas would, and the benchmark checks
that every call was scored exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from evaluators import EvalItem, build_evaluator
from evaluators.heads.datasets import wikiqa
from evaluators.worker import EvaluationWorker
from monitor.config import EvaluationSettings
from monitor.migrate import upgrade
from monitor.store import make_engine
from monitor.store.models import ScoreRow
from tests.conftest import ensure_database, reset_schema
from tests.stored_calls import Call, store_calls


def database(kind: str, pg_url: str, tmp: Path) -> str:
    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'bench.db'}"
    else:
        url = pg_url
        ensure_database(url)
        reset_schema(url)
    upgrade(url)
    return url


def run(args: argparse.Namespace) -> dict[str, Any]:
    pairs = [(r.text, r.pair) for r in wikiqa(Path(args.data), "dev")]
    tables = {name: {"device": args.device} if args.device else {} for name in args.evaluator}
    with tempfile.TemporaryDirectory() as tmp:
        url = database(args.db, args.pg_url, Path(tmp))
        engine = make_engine(url, pool_size=max(5, 2 * args.workers))
        store_calls(engine, [Call(q, a) for q, a in (pairs[i % len(pairs)] for i in range(args.n))])
        evaluators = {name: build_evaluator(name, tables) for name in args.evaluator}
        bare: dict[str, float] = {}
        for name, scorer in evaluators.items():  # load and warm the model outside the timing
            scorer.score([EvalItem(q, a) for q, a in pairs[:scorer.batch_size]])
            sample = [EvalItem(q, a) for q, a in pairs[:2 * scorer.batch_size]]
            started = time.perf_counter()
            scorer.score(sample)  # the evaluator alone on the same kind of texts, for comparison under load
            bare[name] = round(len(sample) / (time.perf_counter() - started), 1)
        in_evaluator = [0.0]
        for scorer in evaluators.values():
            scorer.score = _timed(scorer.score, in_evaluator)  # type: ignore[method-assign]
        load_before = os.getloadavg()[0]
        options = EvaluationSettings(max_batch_wait_s=0.0, poll_interval_s=0.01)
        workers = [EvaluationWorker(engine, tables, options, evaluators=evaluators) for _ in range(args.workers)]
        started = time.perf_counter()
        cpu = time.process_time()
        threads = [threading.Thread(target=_drain, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        with engine.connect() as conn:
            scores = conn.execute(select(func.count()).select_from(ScoreRow)).scalar_one()
            distinct = conn.execute(select(func.count(func.distinct(text("span_rowid || '/' || name"))))
                                    .select_from(ScoreRow)).scalar_one()
        engine.dispose()
    expected = args.n * len(args.evaluator)
    return {"db": args.db, "workers": args.workers, "evaluators": args.evaluator, "calls": args.n,
            "scores": scores, "scored_exactly_once": scores == distinct == expected, "seconds": round(seconds, 2),
            "calls_per_s": round(args.n / seconds, 1), "scores_per_s": round(scores / seconds, 1),
            "evaluator_seconds": round(in_evaluator[0], 2), "bare_evaluator_items_per_s": bare,
            "pipeline_calls_per_s": round(args.n / max(seconds - in_evaluator[0] / args.workers, 1e-9), 1),
            "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "cpu_ms_per_score": round(1000 * cpu_s / max(scores, 1), 2),
            "device": str(next(iter(evaluators.values())).backend.model.device),
            "batch_size": next(iter(evaluators.values())).batch_size, "python": platform.python_version(),
            "cpus": os.cpu_count()}


def _timed(score: Any, total: list[float]) -> Any:
    """``Evaluator.score`` that adds its wall time to ``total`` (to split model time from queue/DB time)."""
    lock = threading.Lock()

    def timed(items: Any) -> Any:
        started = time.perf_counter()
        try:
            return score(items)
        finally:
            with lock:
                total[0] += time.perf_counter() - started
    return timed


def _drain(worker: EvaluationWorker) -> None:
    idle = 0
    while idle < 3:  # three empty rounds in a row: the queue is drained (other workers may still hold a batch)
        idle = 0 if worker.run_once(flush=True) else idle + 1
    worker.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/llm_monitor_bench")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--evaluator", action="append", default=None, help="repeatable (default: toxicity)")
    parser.add_argument("--device", default=None, help="cpu, cuda (default: CUDA when present)")
    parser.add_argument("--out", default="bench/results/worker.json")
    args = parser.parse_args()
    args.evaluator = args.evaluator or ["toxicity"]
    result = run(args)
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
