"""The input-language job: seconds per 10k stored calls, the idle round, the breakdown read, and the detector's
accuracy and speed on labelled prompts (``bench/language_samples.py``).

    .venv/bin/python -m bench.language [--n 10000] [--db sqlite|postgresql] [--pg-url URL] [--long-share 0.2]
        [--langdetect-path DIR]   # also score langdetect, e.g. pip install --target DIR langdetect==1.0.9

Stores ``--n`` LLM calls in a fresh database (inputs cycle through the labelled prompts; a
``--long-share`` of them are ~4,000-character inputs, of which the job reads the first 2,000), then
times ``label_languages(engine, limit=None)`` (every batch, as a backfill does), a worker round
with nothing left to label, and ``language_breakdown`` over all the calls.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.language_samples import HELD_OUT, SAMPLES
from monitor.language import detect_language
from monitor.language_job import label_languages, waiting_count
from monitor.query import CallFilters
from monitor.query_views import language_breakdown
from monitor.store import make_engine
from tests.stored_calls import Call, project_rowid, store_calls


def accuracy(samples: dict[str, list[str]], detect: Callable[[str], str] = detect_language) -> dict[str, Any]:
    """Share of texts labelled with their language, and the mistakes as (true, guessed) counts."""
    wrong: Counter[str] = Counter()
    total = 0
    for lang, texts in samples.items():
        for text in texts:
            total += 1
            guess = detect(text)
            if guess != lang:
                wrong[f"{lang}->{guess}"] += 1
    return {"texts": total, "correct": total - sum(wrong.values()),
            "accuracy": round(1 - sum(wrong.values()) / total, 4), "mistakes": dict(wrong.most_common())}


def detector_us(texts: list[str], repeat: int = 20, detect: Callable[[str], str] = detect_language) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        for text in texts:
            detect(text)
    return (time.perf_counter() - start) / (repeat * len(texts)) * 1e6


def langdetect_detector(path: str) -> Callable[[str], str]:
    """langdetect 1.0.9 (seeded, so repeatable), its codes cut to ISO 639-1; no answer is "und"."""
    import sys

    sys.path.insert(0, path)
    from langdetect import DetectorFactory, LangDetectException, detect

    DetectorFactory.seed = 0

    def guess(text: str) -> str:
        try:
            return detect(text).split("-")[0]
        except LangDetectException:
            return "und"
    return guess


def inputs(n: int, long_share: float) -> list[str]:
    texts = [t for group in (SAMPLES, HELD_OUT) for texts in group.values() for t in texts if t.strip()]
    every = round(1 / long_share) if long_share > 0 else 0
    out = []
    for i in range(n):
        text = texts[i % len(texts)]
        out.append((text + " ") * (4000 // (len(text) + 1) + 1) if every and i % every == 0 else text)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from monitor.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/language.db" if args.db == "sqlite" else args.pg_url
        if args.db == "postgresql":
            from tests.conftest import ensure_database, reset_schema

            ensure_database(url)
            reset_schema(url)
        upgrade(url)
        engine = make_engine(url)
        try:
            return _timed(engine, args)
        finally:
            engine.dispose()


def _timed(engine: Any, args: argparse.Namespace) -> dict[str, Any]:
    now = datetime.now(UTC)
    texts = inputs(args.n, args.long_share)
    store_calls(engine, [Call(t, start=now - timedelta(seconds=i), input_tokens=len(t) // 4, output_tokens=20)
                         for i, t in enumerate(texts)])
    assert waiting_count(engine) == args.n
    start = time.perf_counter()
    labelled = label_languages(engine, limit=None)
    job_s = time.perf_counter() - start
    assert labelled == args.n and waiting_count(engine) == 0
    start = time.perf_counter()
    assert label_languages(engine) == 0
    idle_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    rows = language_breakdown(engine, project_rowid(engine), CallFilters())
    breakdown_ms = (time.perf_counter() - start) * 1000
    return {"calls": args.n, "job_s": round(job_s, 3), "job_s_per_10k": round(job_s * 10_000 / args.n, 3),
            "calls_per_s": round(args.n / job_s), "idle_round_ms": round(idle_ms, 2),
            "breakdown_ms": round(breakdown_ms, 1), "languages": {r["language"]: r["requests"] for r in rows}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/llm_monitor_bench")
    parser.add_argument("--long-share", type=float, default=0.2)
    parser.add_argument("--langdetect-path", help="a folder where langdetect is installed, to compare with")
    parser.add_argument("--out", default="bench/results/language.json")
    args = parser.parse_args()
    short = [t for texts in SAMPLES.values() for t in texts]
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "db": args.db, "python": platform.python_version(),
        "load_avg": os.getloadavg(),
        "accuracy_samples": accuracy(SAMPLES), "accuracy_held_out": accuracy(HELD_OUT),
        "detector_us_short": round(detector_us(short), 1),
        "detector_us_long": round(detector_us(inputs(50, 1.0)), 1),
        "job": run(args),
    }
    if args.langdetect_path:
        other = langdetect_detector(args.langdetect_path)
        result["langdetect"] = {"accuracy_samples": accuracy(SAMPLES, other),
                                "accuracy_held_out": accuracy(HELD_OUT, other),
                                "detector_us_short": round(detector_us(short, 3, other), 1)}
    result["load_avg_after"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
