"""Drift descriptors, evidently tests and whylogs profiles, with controlled shifts built from ../shared/data."""

from __future__ import annotations

import csv
import random
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluators.drift import profiles
from evaluators.drift.compare import DriftOptions, ProfileSide, RawSide, compare
from evaluators.drift.descriptors import describe, is_refusal, oov_rates, words
from evaluators.drift.stats import test as drift_test
from evaluators.errors import UnknownNameError
from monitor.language import guess_language

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not present")
csv.field_size_limit(1 << 24)


@cache
def wikiqa(split: str) -> tuple[tuple[str, str], ...]:
    """Unique (question, answer sentence) pairs; the labelled answer when there is one."""
    pairs: dict[str, str] = {}
    with (DATA / "relevance" / "wikiqa" / f"WikiQA-{split}.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row["Label"] == "1" or row["Question"] not in pairs:
                pairs[row["Question"]] = row["Sentence"]
    return tuple(pairs.items())


@cache
def tweets() -> tuple[str, ...]:
    with (DATA / "toxicity" / "davidson" / "labeled_data.csv").open(encoding="utf-8") as handle:
        return tuple(row["tweet"] for row in csv.DictReader(handle))


def calls(pairs: list[tuple[str, str | None]], first_id: int = 0, **extra: object) -> pd.DataFrame:
    frame = pd.DataFrame({"input_text": [q for q, _ in pairs], "output_text": [a for _, a in pairs],
                          "input_tokens": None, "output_tokens": None, "is_error": False, **extra},
                         index=pd.RangeIndex(first_id, first_id + len(pairs)))
    return frame


def side(pairs: list[tuple[str, str | None]], first_id: int = 0, **extra: object) -> RawSide:
    return RawSide(describe(calls(pairs, first_id, **extra)))


def drifted(results: list) -> set[str]:
    return {r.feature for r in results if r.outcome.drifted}


def test_descriptors_measure_length_tokens_language_refusals_and_errors() -> None:
    frame = calls([("Wie spät ist es in Berlin?", "I'm sorry, but I can't help with that."),
                   ("Что такое ИИ?", ""), ("what is the capital of France", "Paris is the capital.")],
                  is_error=[False, True, False]).assign(input_tokens=[7, None, None])
    d = describe(frame).frame
    assert d["input_chars"].tolist() == [26, 13, 29]
    assert d["input_tokens"].tolist() == [7.0, 3.0, 6.0]  # the stored count wins; else words
    assert d["language"].tolist() == ["de", "ru", "en"]
    assert d["is_refusal"].tolist() == [1, 0, 0] and d["is_empty"].tolist() == [0, 1, 0]
    assert d["is_error"].tolist() == [0, 1, 0]


def test_refusals_language_and_new_words() -> None:
    assert is_refusal("As an AI language model, I cannot do that.")
    assert is_refusal("I'm unable to assist with this request.")
    assert not is_refusal("Sure! Here is how you can help your team.")
    assert guess_language("¿Cómo está el tiempo en la ciudad?", words("¿Cómo está el tiempo en la ciudad?")) == "es"
    assert guess_language("12345", []) == "und"
    rates = oov_rates([["a", "b"], ["a", "z", "y", "x"], []], {"a", "b"})
    assert rates[:2].tolist() == [0.0, 0.75] and np.isnan(rates[2])


def test_statistics_are_evidentlys_and_unknown_names_list_the_valid_ones() -> None:
    rng = np.random.default_rng(0)
    same = drift_test(rng.normal(size=800), rng.normal(size=800), "numerical", "ks")
    shifted = drift_test(rng.normal(size=800), rng.normal(0.5, size=800), "numerical", "ks")
    assert same.statistic == "ks" and not same.drifted and shifted.drifted and shifted.score < 1e-6
    psi = drift_test(rng.normal(size=5000), rng.normal(1, size=5000), "numerical", "psi")
    assert psi.statistic == "psi" and psi.drifted and psi.threshold == pytest.approx(0.1)
    chi = drift_test(np.array(["en"] * 90 + ["fr"] * 10), np.array(["en"] * 50 + ["fr"] * 50), "categorical",
                     "chisquare")
    assert chi.statistic == "chisquare" and chi.drifted
    with pytest.raises(UnknownNameError, match="wasserstein"):
        drift_test([1.0], [2.0], "numerical", "wasserstien")


@needs_data
def test_wikiqa_train_vs_dev_does_not_drift() -> None:
    results = compare(side(list(wikiqa("dev")), 1_000_000), side(list(wikiqa("train"))), DriftOptions())
    assert {r.feature for r in results} >= {"input_chars", "input_tokens", "language", "input_oov_rate"}
    assert drifted(results) == set()


@needs_data
def test_wikiqa_questions_vs_davidson_tweets_drift() -> None:
    dev = list(wikiqa("dev"))  # the answers stay WikiQA sentences (unseen ones), only the questions change
    current = [(t, a) for t, (_, a) in zip(random.Random(0).sample(tweets(), len(dev)), dev, strict=True)]
    found = drifted(compare(side(current, 1_000_000), side(list(wikiqa("train"))), DriftOptions()))
    assert {"input_chars", "input_oov_rate", "language"} <= found
    assert not found & {"output_chars", "output_tokens", "output_oov_rate"}  # the answers did not change


@needs_data
def test_false_alarm_rate_over_many_unshifted_windows() -> None:
    pool = list(wikiqa("train"))
    random.Random(1).shuffle(pool)
    reference, rest = side(pool[:1000]), pool[1000:]
    rng = random.Random(2)
    tests = alarms = windows_with_alarm = 0
    for w in range(40):
        results = compare(side(rng.sample(rest, 200), 1_000_000 * (w + 1)), reference, DriftOptions())
        real = [r for r in results if r.outcome.statistic != "constant"]
        tests += len(real)
        alarms += sum(r.outcome.drifted for r in real)
        windows_with_alarm += any(r.outcome.drifted for r in real)
    rate = alarms / tests
    print(f"false alarms: {alarms}/{tests} tests = {rate:.3f}; windows with any alarm: {windows_with_alarm}/40")
    assert tests >= 40 * 6
    assert rate <= 0.10  # K-S at p < 0.05 on 1000 vs 200 calls: about 5% expected


def test_profiles_merge_across_windows_and_stand_in_for_raw_rows() -> None:
    rng = np.random.default_rng(3)
    texts = [" ".join(["word"] * int(n)) for n in rng.integers(1, 40, size=3000)]
    first = side([(t, "ok") for t in texts[:1500]])
    second = side([(t, "ok") for t in texts[1500:]], 1500)
    views = [profiles.deserialize(profiles.serialize(profiles.build(s.described.frame))) for s in (first, second)]
    merged = profiles.merge(views)
    assert merged is not None and profiles.count(merged, "input_chars") == 3000
    sample = profiles.numeric_sample(merged, "input_chars")
    everything = pd.Series([len(t) for t in texts])
    assert sample is not None and abs(np.median(sample) - everything.median()) <= everything.std() * 0.05
    same = compare(side([(t, "ok") for t in texts[:600]], 9000), ProfileSide(merged), DriftOptions())
    longer = compare(side([(t + " more words here", "ok") for t in texts[:600]], 9000), ProfileSide(merged),
                     DriftOptions())
    assert "input_chars" not in drifted(same) and "input_chars" in drifted(longer)
    assert {r.feature for r in same} >= {"input_chars", "language", "is_refusal"}


@needs_data
@pytest.mark.slow
def test_embedding_drift_separates_tweets_from_questions_but_not_two_question_splits() -> None:
    from evaluators.config import EvaluatorConfig
    from evaluators.drift.embeddings import embedding_drift
    from evaluators.registry import build_backend

    embedder = build_backend("embedding", EvaluatorConfig())
    train = [q for q, _ in wikiqa("train")]
    dev = [q for q, _ in wikiqa("dev")]
    shifted = embedding_drift(embedder, train, random.Random(0).sample(tweets(), 296), size=300)
    unshifted = embedding_drift(embedder, train, dev, size=300)
    assert shifted is not None and unshifted is not None
    assert shifted[0].statistic == "embedding_model" and shifted[0].drifted and shifted[0].score > 0.9
    assert not unshifted[0].drifted, unshifted


def test_segments_by_tag_and_segment_label_skip_copies_of_all() -> None:
    from evaluators.drift.load import segment_keys

    frame = calls([("q", "a")] * 4).assign(model=["m"] * 4, service=["s1", "s1", "s2", None],
                                           tags=[["beta", "eu"], ["beta"], [], None],
                                           segment=[{"region": "eu"}, {"region": "us"}, {}, None])
    keys = segment_keys(frame, ["model", "service", "tag", "segment.region"])
    assert "model=m" not in keys  # every call has model m: the same as "all"
    assert {k: sorted(v) for k, v in keys.items() if k != "all"} == {
        "service=s1": [0, 1], "service=s2": [2], "tag=beta": [0, 1], "tag=eu": [0],
        "segment.region=eu": [0], "segment.region=us": [1]}
    with pytest.raises(ValueError, match="segment dimension"):
        segment_keys(frame, ["colour"])
