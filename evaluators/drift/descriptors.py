"""Per-call descriptors that drift is measured on: lengths, tokens, new vocabulary, language, refusals, errors.

Pure functions over a DataFrame of calls (columns of ``evaluators.drift.load.CALL_COLUMNS``), so the same
code serves the worker's job, the benchmark and tests. Each text is tokenised once; the work is a
single pass in Python, about 10 µs per call.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitor.language import MAX_CHARS, MAX_WORDS, guess_language

WORD = re.compile(r"[^\W\d_]+|\d+")
_CANNOT = r"i(?: cannot| can't| can’t| won't| won’t| will not| am unable to|'m unable to|’m unable to| am not able to)"
_ACTS = r"(?:help|assist|provide|do|comply|answer|share|fulfil|fulfill|support|create|generate|write|give)"
REFUSAL = re.compile(
    rf"\bi(?: am|'m|’m) (?:sorry|afraid)\b.{{0,40}}\b(?:can(?:not|'t|’t)|unable|won(?:'t|’t))"
    rf"|\b{_CANNOT} {_ACTS}\b|\bas an ai(?: language model)?,? i\b|\bi must (?:decline|refuse)\b"
    r"|\b(?:this|that) (?:request )?(?:violates|goes against)\b",
    re.IGNORECASE,
)
NUMERICAL = ("input_chars", "output_chars", "input_tokens", "output_tokens")
RATES = ("is_refusal", "is_empty", "is_error")
OOV = ("input_oov_rate", "output_oov_rate")
CATEGORICAL = ("language", *RATES)


@dataclass(frozen=True, slots=True)
class Described:
    """Descriptors of a set of calls plus the word tokens that vocabulary features need."""

    frame: pd.DataFrame  # one row per call: NUMERICAL + CATEGORICAL columns (+ score.* when scores exist)
    input_words: list[list[str]]
    output_words: list[list[str]]


def words(text: str | None) -> list[str]:
    return WORD.findall(text.lower()) if text else []


def is_refusal(text: str | None) -> bool:
    return bool(text) and REFUSAL.search(text[:600]) is not None  # type: ignore[index]


def describe(calls: pd.DataFrame) -> Described:
    """Descriptor columns for each call (index kept)."""
    inputs, outputs = calls["input_text"].tolist(), calls["output_text"].tolist()
    in_words, out_words = [words(t) for t in inputs], [words(t) for t in outputs]
    frame = pd.DataFrame(index=calls.index)
    frame["input_chars"] = [len(t or "") for t in inputs]
    frame["output_chars"] = [len(t or "") for t in outputs]
    frame["input_tokens"] = _tokens(calls["input_tokens"], in_words)
    frame["output_tokens"] = _tokens(calls["output_tokens"], out_words)
    stored = calls["language"].tolist() if "language" in calls else [None] * len(calls)
    # the label the worker's language job stored, else the same guess from the words already split
    frame["language"] = [known or guess_language((t or "")[:MAX_CHARS], w[:MAX_WORDS])
                         for known, t, w in zip(stored, inputs, in_words, strict=True)]
    frame["is_refusal"] = [int(is_refusal(t)) for t in outputs]
    frame["is_empty"] = [int(not (t or "").strip()) for t in outputs]
    frame["is_error"] = calls["is_error"].astype(int).to_numpy()
    return Described(frame, in_words, out_words)


def _tokens(stored: pd.Series, tokens: Sequence[list[str]]) -> np.ndarray:
    """Token counts the application reported, else the word count (tokenizers differ; words are a stable proxy)."""
    counted = np.fromiter((len(w) for w in tokens), dtype=float, count=len(tokens))
    values = pd.to_numeric(stored, errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(values), counted, values)


def vocabulary(token_lists: Iterable[Sequence[str]], limit: int | None = None) -> Counter[str]:
    """Token counts (the most common ``limit`` when given): the reference vocabulary, mergeable by summing."""
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    return Counter(dict(counts.most_common(limit))) if limit else counts


def oov_rates(token_lists: Sequence[Sequence[str]], known: set[str] | Counter[str]) -> np.ndarray:
    """Per call, the share of its tokens never seen in the reference (NaN for calls without text)."""
    out = np.full(len(token_lists), np.nan)
    for i, tokens in enumerate(token_lists):
        if tokens:
            out[i] = sum(1 for t in tokens if t not in known) / len(tokens)
    return out


def take(described: Described, labels: pd.Index) -> Described:
    """The descriptors of some calls (by row label), keeping their word tokens aligned."""
    positions = described.frame.index.get_indexer(labels)
    return Described(described.frame.iloc[positions], [described.input_words[i] for i in positions],
                     [described.output_words[i] for i in positions])


def with_scores(described: Described, calls: pd.DataFrame) -> Described:
    """Add the calls' ``score.<name>`` columns as features."""
    for column in calls.columns:
        if column.startswith("score."):
            described.frame[column] = calls[column].astype(float)
    return described
