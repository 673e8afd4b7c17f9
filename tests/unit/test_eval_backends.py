"""Backends on real models: packaged MiniLM (embedding), a MiniLM-based sequence classifier, safe loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from evaluators import EvaluatorConfig, ModelLoadError, UnsafeWeightsError, build_backend
from evaluators.backends.classifier import SequenceClassifier
from evaluators.backends.loading import packaged_minilm, weights_source


@pytest.fixture(scope="module")
def embedder():  # built once per process through the registry's cache
    return build_backend("embedding", EvaluatorConfig())


@pytest.fixture(scope="module")
def classifier_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real BERT sequence classifier: MiniLM's encoder plus a seeded 2-label head, saved both ways."""
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        packaged_minilm(), num_labels=2, id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1})
    tokenizer = AutoTokenizer.from_pretrained(packaged_minilm())
    safe, pickled = tmp_path_factory.mktemp("clf_safe"), tmp_path_factory.mktemp("clf_pickled")
    model.save_pretrained(safe)
    tokenizer.save_pretrained(safe)
    model.config.save_pretrained(pickled)
    tokenizer.save_pretrained(pickled)
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    return {"safe": safe, "pickled": pickled}


def test_embeddings_are_normalised_and_duplicates_keep_their_rows(embedder) -> None:
    texts = ["The cat sat on the mat.", "Stock markets fell sharply today.", "The cat sat on the mat."]
    vectors = embedder.encode(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert np.allclose(vectors[0], vectors[2])
    assert vectors[0] @ embedder.encode(["A cat is sitting on a rug."])[0] > vectors[0] @ vectors[1] + 0.3


def test_the_registry_builds_each_model_once(embedder) -> None:
    assert build_backend("embedding", EvaluatorConfig(threshold=0.9)) is embedder


def test_classifier_gives_label_probabilities_for_texts_and_pairs(classifier_dirs) -> None:
    clf = SequenceClassifier(EvaluatorConfig(backend="classifier", model=str(classifier_dirs["safe"])))
    assert clf.labels == ["negative", "positive"]
    single = clf.predict(["great product", "terrible service", "ok"])
    pairs = clf.predict(["Who wrote Hamlet?"] * 2, ["Shakespeare wrote it.", "Bananas are yellow."])
    for probs in (single, pairs):
        assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    batched = clf.predict(["great product", "terrible service"])
    assert np.allclose(batched[1], clf.predict(["terrible service"])[0], atol=1e-5)  # padding does not leak
    assert clf.label_index("POSITIVE", ()) == 1 and clf.label_index(None, ("positive",)) == 1


def test_pickled_weights_are_refused_unless_allowed(classifier_dirs) -> None:
    config = EvaluatorConfig(backend="classifier", model=str(classifier_dirs["pickled"]))
    with pytest.raises(UnsafeWeightsError, match=r"only has pickled weights \(.*\.bin.*allow_pickle = true"):
        SequenceClassifier(config)
    allowed = SequenceClassifier(EvaluatorConfig(backend="classifier", model=str(classifier_dirs["pickled"]),
                                                 allow_pickle=True))
    safe = SequenceClassifier(EvaluatorConfig(backend="classifier", model=str(classifier_dirs["safe"])))
    assert np.allclose(allowed.predict(["hello"]), safe.predict(["hello"]), atol=1e-5)


def test_weights_source_rules(tmp_path: Path) -> None:
    assert weights_source("org/model").kwargs() == {"use_safetensors": True}
    assert weights_source("org/model", allow_pickle=True).kwargs() == {}
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert weights_source(str(gguf)).kwargs() == {"gguf_file": "m.gguf", "local_files_only": True}
    with pytest.raises(ModelLoadError, match="no model weights"):
        weights_source(str(tmp_path / "empty_dir") if (tmp_path / "empty_dir").mkdir() is None else "")
    with pytest.raises(ModelLoadError, match="does not exist"):
        weights_source(str(tmp_path / "missing.gguf"))
