"""Drift over stored calls: descriptor and vocabulary features over 100k calls, embedding drift on 5k samples.

    .venv/bin/python -m bench.drift --data ../shared/data [--n 100000] [--db sqlite|postgresql]
        [--embedding-sample 5000] [--no-embeddings]

Stores ``--n`` calls in a fresh database, half in a reference hour (WikiQA-train questions and
answer sentences) and half in the current hour (WikiQA-dev pairs, with a quarter of the questions
replaced by Davidson tweets: a planted shift), over two models. Times, separately and end to end
from the database: ``detect`` without embeddings (load both windows, describe every call, test
every feature for ``all`` and each model segment), the whylogs profiles of one window, and
embedding drift of inputs and outputs on ``--embedding-sample`` calls per window.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from evaluators import EvaluatorConfig, build_backend
from evaluators.drift.compare import DriftOptions
from evaluators.drift.detect import detect, store_profiles
from evaluators.drift.embeddings import embedding_drift
from evaluators.drift.load import Window, load_calls
from evaluators.heads.datasets import wikiqa
from monitor.store import make_engine
from monitor.store.models import DriftProfileRow
from tests.stored_calls import Call, store_calls

HOUR = timedelta(hours=1)


def seed(engine: Any, data: Path, n: int, now: datetime) -> tuple[Window, Window]:
    reference, current = Window(now - 2 * HOUR, now - HOUR), Window(now - HOUR, now)
    train = [(r.text, r.pair) for r in wikiqa(data, "train")]
    dev = [(r.text, r.pair) for r in wikiqa(data, "dev")]
    with (data / "toxicity" / "davidson" / "labeled_data.csv").open(encoding="utf-8") as handle:
        tweets = [row["tweet"] for row in csv.DictReader(handle)]
    rng = random.Random(0)
    half = n // 2
    step = HOUR / half

    def calls(pairs: list[tuple[str, str]], window: Window, shift: float) -> list[Call]:
        out = []
        for i in range(half):
            question, answer = pairs[i % len(pairs)]
            if rng.random() < shift:
                question = rng.choice(tweets)
            out.append(Call(question, answer, model=f"model-{'ab'[i % 2]}", start=window.start + i * step))
        return out

    store_calls(engine, calls(train, reference, 0.0) + calls(dev, current, 0.25))
    return current, reference


def timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    from monitor.migrate import upgrade

    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/drift.db" if args.db == "sqlite" else args.pg_url
        if args.db == "postgresql":
            from tests.conftest import ensure_database, reset_schema

            ensure_database(url)
            reset_schema(url)
        upgrade(url)
        engine = make_engine(url)
        (current, reference), seed_s = timed(lambda: seed(engine, Path(args.data), args.n, now))
        options = DriftOptions(embedding_sample=args.embedding_sample)
        load_before = os.getloadavg()[0]
        cpu = time.process_time()
        found, detect_s = timed(lambda: detect(engine, 1, current, reference, ["model"], options))
        detect_cpu_s = time.process_time() - cpu
        drifted = sorted(f"{s.segment}:{r.feature}" for s in found for r in s.results if r.outcome.drifted)
        tests = sum(len(s.results) for s in found)
        _, profile_s = timed(lambda: store_profiles(engine, 1, current, ["model"]))
        with engine.connect() as conn:
            profile_bytes = conn.execute(select(func.sum(func.length(DriftProfileRow.profile)))).scalar()
        result: dict[str, Any] = {
            "db": args.db, "calls": args.n, "seed_seconds": round(seed_s, 1),
            "descriptor_drift_seconds": round(detect_s, 2), "descriptor_drift_cpu_seconds": round(detect_cpu_s, 2),
            "tests": tests, "segments": [s.segment for s in found],
            "drifted": drifted, "profile_window_seconds": round(profile_s, 2),
            "profile_bytes_per_window": profile_bytes,
        }
        if not args.no_embeddings:
            result.update(embeddings(engine, current, reference, args.embedding_sample))
        result.update({"load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                       "python": platform.python_version(), "cpus": os.cpu_count()})
        engine.dispose()
    return result


def embeddings(engine: Any, current: Window, reference: Window, sample: int) -> dict[str, Any]:
    embedder = build_backend("embedding", EvaluatorConfig())
    embedder.encode(["warm up"] * 8)
    ref, cur = load_calls(engine, 1, reference, False), load_calls(engine, 1, current, False)
    out: dict[str, Any] = {"embedding_sample": sample, "embedding_device": str(embedder.model.device)}
    for column in ("input_text", "output_text"):
        found, seconds = timed(lambda c=column: embedding_drift(embedder, ref[c].tolist(), cur[c].tolist(), sample))
        outcome = found[0] if found else None
        out[f"{column}_embedding"] = {"seconds": round(seconds, 1), "roc_auc": outcome and round(outcome.score, 3),
                                      "drifted": outcome and outcome.drifted}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/llm_monitor_bench")
    parser.add_argument("--embedding-sample", type=int, default=5000)
    parser.add_argument("--no-embeddings", action="store_true")
    parser.add_argument("--out", default="bench/results/drift.json")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
