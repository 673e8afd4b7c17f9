"""How well llm-monitor's offline evaluators agree with human labels, on splits never used for training.

    .venv/bin/python -m bench.eval_quality --data ../shared/data [--judge-n 100] \
        [--json bench/results/eval_quality.json]

About 5 minutes on 2 CPU cores. What it measures (see docs/evaluator-quality.md for the results):

- toxicity: ROC AUC and per-functionality accuracy on HateCheck's *test* template families
  (``hatecheck_split``; the head trained on the other half), AUC on Davidson tweets the head never
  saw, and on the 383 Jigsaw samples (smoke test); alt-profanity-check as the no-effort baseline.
- relevance: ROC AUC on WikiQA-dev (all pairs), plus MAP/MRR over questions that have an answer, and
  the plain MiniLM cosine as the baseline.
- hallucination: balanced accuracy and AUC on a seeded sample of BEGIN test (dev trained the head),
  per generator; accuracy on HaluEval QA pairs (dev data, not used for training).
- the changed-number/date/name probe: faithful BEGIN-test and HaluEval answers with one number,
  month or name swapped for one the context lacks; how often the score rises and the label flips.
- the packaged Gemma 270M as a yes/no judge on a small seeded sample of each task.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from evaluators import EvalItem, Evaluator, build_evaluator
from evaluators.features import STOPWORDS
from evaluators.heads.datasets import (
    Row,
    begin,
    davidson,
    halueval_qa,
    hatecheck,
    hatecheck_split,
    jigsaw_samples,
    wikiqa,
)

SEED = 0
OTHER_NAMES = ("Morrison", "Castellano", "Okafor", "Lindqvist", "Tanaka", "Dubois", "Kowalski", "Brennan")
MONTH_SWAP = {"January": "March", "February": "April", "March": "June", "April": "July", "May": "August",
              "June": "September", "July": "October", "August": "November", "September": "December",
              "October": "January", "November": "February", "December": "May"}


def sample(rows: Sequence[Any], n: int | None, seed: int = SEED) -> list[Any]:
    rows = list(rows)
    return rows if n is None or n >= len(rows) else random.Random(seed).sample(rows, n)


def balanced(rows: Sequence[Row], n: int, seed: int = SEED) -> list[Row]:
    """A seeded sample with n/2 rows of each label, so a small judge sample still has positives."""
    return [r for label in (0, 1) for r in sample([r for r in rows if r.label == label], n // 2, seed)]


def values(evaluator: Evaluator, items: list[EvalItem]) -> np.ndarray:
    return np.array([s.value for s in evaluator.score(items)])


def toxicity(data: Path, profanity: bool) -> dict[str, Any]:
    evaluator = build_evaluator("toxicity")
    _, test = hatecheck_split(hatecheck(data))
    scores = values(evaluator, [EvalItem(r.text) for r in test])
    labels = np.array([r.label for r in test])
    by_function: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(test):
        by_function[r.extra].append(i)
    functions = {f: {"n": len(ix), "gold": "hateful" if labels[ix[0]] else "non-hateful",
                     "accuracy": float(np.mean((scores[ix] >= 0.5) == labels[ix])),
                     "mean_score": float(scores[ix].mean())}
                 for f, ix in sorted(by_function.items())}
    trained = {r.text for r in davidson(data, 4000, SEED)}
    unseen = sample([r for r in davidson(data, 30000, SEED) if r.text not in trained], 2000)
    jigsaw = jigsaw_samples(data)
    out = {"hatecheck_test_auc": auc(test, scores), "hatecheck_test_n": len(test),
           "hatecheck_test_accuracy": float(np.mean((scores >= 0.5) == labels)), "functionalities": functions,
           "davidson_unseen_auc": auc(unseen, values(evaluator, [EvalItem(r.text) for r in unseen])),
           "davidson_unseen_n": len(unseen),
           "jigsaw_samples_auc": auc(jigsaw, values(evaluator, [EvalItem(r.text) for r in jigsaw]))}
    if profanity:  # baseline only: profanity-check unpickles its model, which llm-monitor itself refuses to do
        from profanity_check import predict_prob

        out["profanity_check_hatecheck_test_auc"] = auc(test, predict_prob([r.text for r in test]))
    return out


def auc(rows: Sequence[Row], scores: np.ndarray) -> float:
    return float(roc_auc_score([r.label for r in rows], scores))


def relevance(data: Path) -> dict[str, Any]:
    rows = wikiqa(data, "dev")
    items = [EvalItem(r.text, r.pair) for r in rows]
    head = values(build_evaluator("relevance"), items)
    cosine = values(build_evaluator("relevance", {"relevance": {"head": "none"}}), items)
    return {"wikiqa_dev_auc": auc(rows, head), "wikiqa_dev_cosine_auc": auc(rows, cosine), "wikiqa_dev_n": len(rows),
            **ranking(rows, head)}


def ranking(rows: Sequence[Row], scores: np.ndarray) -> dict[str, float]:
    """MAP and MRR over questions with at least one correct sentence (the usual WikiQA protocol)."""
    groups: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for r, s in zip(rows, scores, strict=True):
        groups[r.group].append((float(s), r.label))
    aps, rrs = [], []
    for pairs in groups.values():
        if not any(label for _, label in pairs):
            continue
        ranked = [label for _, label in sorted(pairs, key=lambda p: -p[0])]
        hits = np.cumsum(ranked)
        aps.append(float(np.mean([hits[i] / (i + 1) for i, label in enumerate(ranked) if label])))
        rrs.append(1.0 / (ranked.index(1) + 1))
    return {"wikiqa_dev_map": float(np.mean(aps)), "wikiqa_dev_mrr": float(np.mean(rrs)),
            "wikiqa_dev_questions": len(aps)}


def hallucination(data: Path, n_begin: int) -> dict[str, Any]:
    evaluator = build_evaluator("hallucination")
    rows = sample(begin(data, "test"), n_begin)
    scores = values(evaluator, [EvalItem(r.extra, r.pair, context=r.text) for r in rows])
    labels = np.array([r.label for r in rows])
    per_model = {m: float(balanced_accuracy_score(labels[ix], scores[ix] >= 0.5)) if len(set(labels[ix])) > 1 else None
                 for m in sorted({r.group for r in rows}) for ix in [np.array([r.group == m for r in rows])]}
    qa = halueval_qa(data)
    qa_items = [EvalItem(q["question"], q[k], context=q["knowledge"])
                for q in qa for k in ("right_answer", "hallucinated_answer")]
    qa_scores = values(evaluator, qa_items)
    qa_labels = np.array([0, 1] * len(qa))
    return {"begin_test_balanced_accuracy": float(balanced_accuracy_score(labels, scores >= 0.5)),
            "begin_test_auc": float(roc_auc_score(labels, scores)), "begin_test_n": len(rows),
            "begin_test_by_generator": per_model,
            "halueval_qa_accuracy": float(np.mean((qa_scores >= 0.5) == qa_labels)),
            "halueval_qa_pairwise": float(np.mean(qa_scores[1::2] > qa_scores[0::2])), "halueval_qa_n": len(qa)}


NUMBER_WORDS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")


def perturbations(answer: str, context: str, rng: random.Random) -> dict[str, str]:
    """One changed copy of the answer per kind of specific it shares with the context.

    Kinds the detector is built for (digits, years, capitalised months, names inside a sentence) and
    kinds it is not (a name opening the answer, a lower-cased name, a number written as a word), so the
    report shows both.
    """
    out: dict[str, str] = {}

    def swap(kind: str, old: str, new: str) -> None:
        if kind not in out:
            out[kind] = re.sub(rf"\b{re.escape(old)}\b", new, answer, count=1)

    for number in re.findall(r"\b\d+\b", answer):
        if re.search(rf"\b{number}\b", context):
            is_year = len(number) == 4 and 1000 <= int(number) <= 2099
            swap("year" if is_year else "number", number, str(int(number) + rng.choice((1, 2, 3, 7, 11))))
    for month in re.findall(r"\b(" + "|".join(MONTH_SWAP) + r")\b", answer):
        if month.lower() in context.lower():
            swap("month", month, MONTH_SWAP[month])
    others = [n for n in OTHER_NAMES if n not in answer]
    for name in re.findall(r"(?<=[a-z,] )[A-Z][a-z]{2,}", answer):
        if name in context and name not in MONTH_SWAP:
            swap("name in a sentence", name, rng.choice(others))
    opening = re.match(r"([A-Z][a-z]{2,})\b(?! [A-Z])", answer)
    if opening and opening.group(1) in context and opening.group(1).lower() not in STOPWORDS:
        swap("name opening the answer", opening.group(1), rng.choice(others))
    for word in re.findall(r"\b[a-z]{3,}\b", answer):
        if re.search(rf"\b{word.capitalize()}\b", context) and word not in STOPWORDS:
            swap("lower-cased name", word, rng.choice(others).lower())
    for word in re.findall(r"\b(" + "|".join(("one", *NUMBER_WORDS)) + r")\b", answer):
        if re.search(rf"\b{word}\b", context, re.IGNORECASE):
            swap("number as a word", word, rng.choice([w for w in NUMBER_WORDS if w != word]))
    return out


def probe(data: Path, per_kind: int) -> dict[str, Any]:
    """Faithful answers vs the same answers with one specific changed: does the score notice?"""
    rng = random.Random(SEED)
    by_kind: dict[str, list[tuple[EvalItem, EvalItem]]] = defaultdict(list)
    sources = [(r.extra, r.pair, r.text, "BEGIN test") for r in begin(data, "test") if r.label == 0]
    sources += [(q["question"], q["right_answer"], q["knowledge"], "HaluEval QA") for q in halueval_qa(data)]
    for question, answer, context, source in sources:
        for kind, changed in perturbations(answer, context, rng).items():
            by_kind[f"{kind} ({source})"].append((EvalItem(question, answer, context=context),
                                                  EvalItem(question, changed, context=context)))
    evaluator = build_evaluator("hallucination")
    out: dict[str, Any] = {}
    for kind, pairs in sorted(by_kind.items()):
        pairs = sample(pairs, per_kind)
        original = values(evaluator, [p[0] for p in pairs])
        changed = values(evaluator, [p[1] for p in pairs])
        out[kind] = {"n": len(pairs), "score_rises": float(np.mean(changed > original + 1e-9)),
                     "flagged": float(np.mean(changed >= 0.5)), "original_flagged": float(np.mean(original >= 0.5))}
    return out


def judge(data: Path, n: int) -> dict[str, Any]:
    """The packaged Gemma 3 270M as yes/no judge, on balanced seeded samples of each task (slow on CPU)."""
    result: dict[str, Any] = {}
    _, hc_test = hatecheck_split(hatecheck(data))
    tasks = {"toxicity": (balanced(hc_test, n), lambda r: EvalItem(r.text)),
             "relevance": (balanced(wikiqa(data, "dev"), n), lambda r: EvalItem(r.text, r.pair)),
             "hallucination": (balanced(begin(data, "test"), n), lambda r: EvalItem(r.extra, r.pair, context=r.text))}
    for name, (rows, make) in tasks.items():
        evaluator = build_evaluator(name, backend="judge_transformers", batch_size=8)
        started = time.perf_counter()
        scores = values(evaluator, [make(r) for r in rows])
        labels = np.array([r.label for r in rows])
        result[name] = {"n": len(rows), "auc": float(roc_auc_score(labels, scores)),
                        "balanced_accuracy": float(balanced_accuracy_score(labels, scores >= 0.5)),
                        "seconds": time.perf_counter() - started}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--begin-n", type=int, default=1500, help="seeded sample of BEGIN test (3,607 rows)")
    parser.add_argument("--probe-n", type=int, default=150, help="pairs per kind of change (seeded sample)")
    parser.add_argument("--judge-n", type=int, default=100, help="balanced sample per task; 0 skips the Gemma judge")
    parser.add_argument("--no-profanity-baseline", action="store_true")
    parser.add_argument("--json", type=Path, default=Path("bench/results/eval_quality.json"))
    args = parser.parse_args()
    results: dict[str, Any] = {"seed": SEED}
    steps = {"toxicity": lambda: toxicity(args.data, not args.no_profanity_baseline),
             "relevance": lambda: relevance(args.data),
             "hallucination": lambda: hallucination(args.data, args.begin_n),
             "probe": lambda: probe(args.data, args.probe_n)}
    if args.judge_n:
        steps["judge_gemma_270m"] = lambda: judge(args.data, args.judge_n)
    for name, step in steps.items():
        started = time.perf_counter()
        results[name] = step()
        results[name]["seconds_total"] = round(time.perf_counter() - started, 1)
        print(name, json.dumps(results[name], indent=1), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
