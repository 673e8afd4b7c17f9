"""Loaders for the labelled public data in ``shared/data`` (see its README), used by the head training
script and by ``bench/eval_quality.py`` so both see the same rows and the same splits.

Nothing here ships data: the functions read the files a developer has. Split rules: train and tune
only on WikiQA-train, BEGIN dev and the *train* groups of HateCheck defined by ``hatecheck_split``;
report on WikiQA-dev, BEGIN test and HateCheck's test groups.
"""

from __future__ import annotations

import csv
import json
import random
import zlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    label: int
    pair: str = ""  # the answer (relevance) or the response (hallucination)
    extra: str = ""  # the user message (hallucination) or the HateCheck functionality
    group: str = ""  # question id (WikiQA) or template family (HateCheck): rows that must stay together


def _tsv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def wikiqa(data: Path, split: str) -> list[Row]:
    """WikiQA question–sentence pairs; label 1 when the sentence answers the question (split: train | dev)."""
    rows = _tsv(data / "relevance" / "wikiqa" / f"WikiQA-{split}.tsv")
    return [Row(r["Question"], int(r["Label"]), pair=r["Sentence"], group=r["QuestionID"]) for r in rows]


def begin(data: Path, split: str) -> list[Row]:
    """BEGIN (Wizard of Wikipedia): knowledge, response, message; label 1 = not fully attributable (dev | test)."""
    rows = _tsv(data / "hallucination" / "begin_wow" / f"begin_{split}_wow.tsv")
    return [Row(r["knowledge"], int(r["begin_label"] != "Fully attributable"), pair=r["response"],
                extra=r["message"], group=r["model_name"]) for r in rows]


def hatecheck(data: Path) -> list[Row]:
    """All HateCheck cases; ``group`` is the root template, so perturbations stay with their original."""
    with (data / "toxicity" / "hatecheck" / "test_suite_cases.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    parent = {r["templ_id"]: r["ref_templ_id"].split(".")[0] for r in rows if r["ref_templ_id"]}

    def root(template: str) -> str:
        seen: set[str] = set()
        while template in parent and template not in seen:
            seen.add(template)
            template = parent[template]
        return template

    return [Row(r["test_case"].strip(), int(r["label_gold"] == "hateful"), extra=r["functionality"],
                group=root(r["templ_id"])) for r in rows]


def hatecheck_split(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """(train, test) by a fixed hash of the template family: about half each, no family on both sides."""
    test = [r for r in rows if zlib.crc32(r.group.encode()) % 2 == 0]
    train = [r for r in rows if zlib.crc32(r.group.encode()) % 2 == 1]
    return train, test


def davidson(data: Path, n: int, seed: int) -> list[Row]:
    """A seeded sample of Davidson et al.'s tweets; label 1 for hate speech or offensive, 0 for neither."""
    with (data / "toxicity" / "davidson" / "labeled_data.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    random.Random(seed).shuffle(rows)
    return [Row(r["tweet"], int(r["class"] in ("0", "1")), extra=r["class"]) for r in rows[:n]]


def jigsaw_samples(data: Path) -> list[Row]:
    """The 383 Jigsaw comments (smoke test only); label = the ``toxic`` column."""
    out: list[Row] = []
    for name in ("ibm_max_test_examples.csv", "detoxify_dummy_train.csv"):
        with (data / "toxicity" / "jigsaw_samples" / name).open(newline="", encoding="utf-8") as handle:
            out += [Row(r["comment_text"], int(r["toxic"])) for r in csv.DictReader(handle)]
    return out


def halueval_qa(data: Path) -> list[dict[str, str]]:
    """HaluEval QA items: knowledge, question, right_answer, hallucinated_answer (dev)."""
    text = (data / "hallucination" / "halueval" / "qa_one-turn_data.json").read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
