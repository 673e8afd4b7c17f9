"""Batch scoring of a JSONL file: what ``llm-monitor eval`` runs.

Input lines are JSON objects with ``input``, optional ``output``, ``context`` (a string or a list of
documents), ``reference`` and ``metadata``. Each output line is the input object plus ``score``,
``label``, ``explanation`` and ``evaluated_by`` (evaluator, version, model, direction); a line that
cannot be scored keeps its fields and gets ``error`` instead, so one bad line or one failed batch
never loses the rest. Results are written as each chunk finishes, in input order.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from evaluators.base import EvalItem, Evaluator, Score
from evaluators.errors import EvaluatorError, InvalidItemError
from evaluators.registry import build_evaluator

CHUNK_BATCHES = 4  # batches per write: small enough to show progress, large enough to keep the model busy


@dataclass
class BatchSummary:
    """What happened, for the CLI to print; ``exit_code`` is 0 only when every line was scored."""

    evaluator: str
    model: str | None
    total: int = 0
    scored: int = 0
    failed: int = 0
    seconds: float = 0.0
    labels: Counter[str] = field(default_factory=Counter)
    mean_score: float | None = None
    errors: list[str] = field(default_factory=list)  # the first few, for the CLI to show

    @property
    def items_per_s(self) -> float:
        return self.scored / self.seconds if self.seconds else 0.0

    @property
    def exit_code(self) -> int:
        return 0 if self.failed == 0 else 1

    def describe(self) -> str:
        labels = ", ".join(f"{k} {v}" for k, v in self.labels.most_common())
        mean = f"; mean score {self.mean_score:.3f}" if self.mean_score is not None else ""
        return (f"{self.evaluator} ({self.model}): {self.scored}/{self.total} scored, {self.failed} failed "
                f"in {self.seconds:.1f} s ({self.items_per_s:.1f} items/s){mean}; {labels}")


def run_batch(evaluator: str, input_path: str | Path, output_path: str | Path | None = None, backend: str | None = None,
              model: str | None = None, settings_evaluators: Mapping[str, Mapping[str, Any]] | None = None,
              progress: bool = True, built: Evaluator | None = None) -> BatchSummary:
    """Score every line of ``input_path`` with the named evaluator; write JSONL to ``output_path`` (stdout if None)."""
    scorer = built or build_evaluator(evaluator, settings_evaluators, backend=backend, model=model)
    summary = BatchSummary(evaluator=scorer.score_name, model=scorer.model_id)
    lines = Path(input_path).read_text(encoding="utf-8").splitlines()
    records = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    summary.total = len(records)
    chunk = scorer.batch_size * CHUNK_BATCHES
    started, total_value = time.perf_counter(), 0.0
    with _open_output(output_path) as out, _progress(summary.total, progress, scorer.score_name) as bar:
        for start in range(0, len(records), chunk):
            for row in _score_chunk(scorer, records[start:start + chunk], summary):
                if "score" in row:
                    total_value += row["score"]
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            bar.update(len(records[start:start + chunk]))
    summary.seconds = time.perf_counter() - started
    summary.mean_score = total_value / summary.scored if summary.scored else None
    return summary


def parse_line(text: str) -> tuple[dict[str, Any], EvalItem]:
    """The JSON object and its ``EvalItem``; raises ``InvalidItemError`` with a readable reason."""
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidItemError(f"not JSON: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(row, dict):
        raise InvalidItemError(f"expected a JSON object, got {type(row).__name__}")
    context = row.get("context")
    if context is not None and not isinstance(context, str | list):
        raise InvalidItemError("context must be a string or a list of strings")
    if not isinstance(row.get("input", ""), str) or not isinstance(row.get("output") or "", str):
        raise InvalidItemError("input and output must be strings")
    item = EvalItem(input=row.get("input") or "", output=row.get("output"), context=context,
                    reference=row.get("reference"), metadata=row.get("metadata") or {})
    return row, item


def _score_chunk(scorer: Evaluator, records: list[tuple[int, str]], summary: BatchSummary) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    valid: list[tuple[int, EvalItem]] = []
    for line_no, text in records:
        try:
            row, item = parse_line(text)
            scorer.validate([item])
        except InvalidItemError as exc:
            rows.append(_failed({"line": line_no, "raw": text[:200]}, f"line {line_no}: {exc}", summary))
            continue
        valid.append((len(rows), item))
        rows.append(row)
    if not valid:
        return rows
    try:
        scores = scorer.score([item for _, item in valid])
    except EvaluatorError as exc:
        for index, _ in valid:
            rows[index] = _failed(rows[index], str(exc), summary)
        return rows
    for (index, _), score in zip(valid, scores, strict=True):
        rows[index] = _scored(rows[index], score, summary)
    return rows


def _scored(row: dict[str, Any], score: Score, summary: BatchSummary) -> dict[str, Any]:
    summary.scored += 1
    summary.labels[score.label] += 1
    return {**row, "score": score.value, "label": score.label, "explanation": score.explanation,
            "evaluated_by": {"name": score.name, "evaluator": score.evaluator, "version": score.evaluator_version,
                             "model": score.model, "direction": score.direction}}


def _failed(row: dict[str, Any], message: str, summary: BatchSummary) -> dict[str, Any]:
    summary.failed += 1
    if len(summary.errors) < 5:
        summary.errors.append(message)
    return {**row, "error": message}


@contextmanager
def _open_output(path: str | Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    with Path(path).open("w", encoding="utf-8") as handle:
        yield handle


@contextmanager
def _progress(total: int, enabled: bool, name: str) -> Iterator[Any]:
    from tqdm import tqdm  # installed with transformers; only needed when scoring

    with tqdm(total=total, disable=not enabled, unit="item", desc=name, file=sys.stderr) as bar:
        yield bar
