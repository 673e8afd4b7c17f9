"""Items per second per evaluator on short texts, with the offline defaults.

    .venv/bin/python -m bench.eval_throughput --data ../shared/data [--n 1000] [--judge-n 48] [--repeat 3]

About 4 minutes on 2 CPU cores. Items are seeded samples whose texts are all under 64 MiniLM tokens:
HateCheck cases (toxicity), WikiQA-dev questions (prompt injection), WikiQA-dev question–sentence pairs
(relevance, coherence, the relevance judge), BEGIN-test knowledge/message/response (hallucination).
Each evaluator is warmed up on one batch, then timed end to end through ``Evaluator.score``
(validation, batching, the deadline thread and stamping included), best of ``--repeat`` runs because
other jobs may share the cores. Next to it, the bare MiniLM ``encode`` of the same texts in the same
run, so the evaluator's overhead is visible whatever the load; CPU time per item is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from bench.eval_quality import sample
from evaluators import EvalItem, EvaluatorConfig, build_backend, build_evaluator
from evaluators.heads.datasets import begin, hatecheck, wikiqa

TEXTS_PER_ITEM = {"toxicity": 1, "prompt_injection": 1, "relevance": 2, "hallucination": 3}


def short_items(name: str, data: Path, n: int, count_tokens: Any) -> list[EvalItem]:
    """Seeded items whose every text is under 64 tokens."""
    def short(*texts: str) -> bool:
        return all(count_tokens(t) < 64 for t in texts)

    if name == "toxicity":
        return [EvalItem(r.text) for r in sample([r for r in hatecheck(data) if short(r.text)], n)]
    if name == "hallucination":
        rows = [r for r in begin(data, "test") if short(r.text, r.pair, r.extra)]
        return [EvalItem(r.extra, r.pair, context=r.text) for r in sample(rows, n)]
    rows = [r for r in wikiqa(data, "dev") if short(r.text, r.pair)]
    if name == "prompt_injection":
        return [EvalItem(r.text) for r in sample(rows, n)]
    return [EvalItem(r.text, r.pair) for r in sample(rows, n)]


def texts_of(name: str, items: list[EvalItem]) -> list[str]:
    if name in ("toxicity", "prompt_injection"):
        return [i.output or i.input for i in items]
    if name == "hallucination":
        return [t for i in items for t in (str(i.context_text), str(i.output), i.input)]
    return [t for i in items for t in (i.input, str(i.output))]


def best_of(repeat: int, fn: Any) -> tuple[float, float]:
    """(best wall seconds, CPU seconds of that run) over ``repeat`` runs."""
    runs = []
    for _ in range(repeat):
        cpu0, started = time.process_time(), time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started, time.process_time() - cpu0))
    return min(runs)


def measure(label: str, name: str, items: list[EvalItem], options: dict[str, Any], repeat: int) -> dict[str, Any]:
    evaluator = build_evaluator(name, {name: options})
    evaluator.score(items[: evaluator.batch_size])  # warm-up
    wall, cpu = best_of(repeat, lambda: evaluator.score(items))
    row = {"evaluator": label, "model": evaluator.model_id, "items": len(items),
           "batch_size": evaluator.batch_size, "items_per_s": round(len(items) / wall, 1),
           "cpu_ms_per_item": round(1000 * cpu / len(items), 2),
           "device": str(getattr(evaluator.backend, "device", "cpu")),
           "precision": str(getattr(evaluator.backend, "dtype", "float32")).replace("torch.", "")}
    if evaluator.capability == "embedding":
        texts = texts_of(name, items)
        encoder = evaluator.backend.model
        raw_wall, _ = best_of(repeat, lambda: encoder.encode(texts, batch_size=32, normalize_embeddings=True))
        row |= {"texts_per_item": TEXTS_PER_ITEM[name], "evaluator_texts_per_s": round(len(texts) / wall, 1),
                "bare_minilm_texts_per_s": round(len(texts) / raw_wall, 1)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--n", type=int, default=1000, help="items per fast evaluator")
    parser.add_argument("--judge-n", type=int, default=48, help="items per judge evaluator (0 skips them)")
    parser.add_argument("--batch-size", type=int, default=None, help="items per batch (default: the backend's)")
    parser.add_argument("--judge-batch-size", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("bench/results/eval_throughput.json"))
    args = parser.parse_args()
    import torch

    machine = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
               "python": platform.python_version(), "torch": torch.__version__, "load_avg_before": os.getloadavg()}
    tokenizer = build_backend("embedding", EvaluatorConfig()).model.tokenizer

    def count(text: str) -> int:
        return len(tokenizer(text).input_ids)

    rows = [measure(name, name, short_items(name, args.data, args.n, count), {"batch_size": args.batch_size},
                    args.repeat) for name in ("toxicity", "prompt_injection", "relevance", "hallucination")]
    if args.judge_n:
        judge = {"batch_size": args.judge_batch_size}  # custom judges cost about what coherence does
        pairs = short_items("relevance", args.data, args.judge_n, count)
        rows.append(measure("coherence (judge)", "coherence", pairs, judge, 1))
        rows.append(measure("relevance (judge)", "relevance", pairs, {"backend": "judge_transformers", **judge}, 1))
    machine["load_avg_after"] = os.getloadavg()
    for row in rows:
        extra = ""
        if "bare_minilm_texts_per_s" in row:
            extra = f"  {row['evaluator_texts_per_s']:.0f} texts/s vs bare MiniLM {row['bare_minilm_texts_per_s']:.0f}"
        print(f"{row['evaluator']:<18} {row['items_per_s']:>7.1f} items/s  {row['cpu_ms_per_item']:>7.2f} CPU ms/item  "
              f"batch {row['batch_size']:<3} {row['device']}/{row['precision']}{extra}")
    print("machine", machine)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine, "results": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
