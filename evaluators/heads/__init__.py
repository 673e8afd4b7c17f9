"""Small logistic heads the project trains on public data and ships as JSON (never pickle).

A head maps a feature vector (sentence-embedding dimensions and/or ``evaluators.features``) to a
probability: ``sigmoid(((x - mean) / scale) · coef + intercept)``. Each JSON file carries the feature
names it expects, the embedding model it was trained with, its training data with licences and
credits, the command that rebuilt it, and the numbers it reached on its own validation split.
``python -m evaluators.heads.train`` rebuilds all of them reproducibly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evaluators.errors import ModelLoadError

HEADS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class LogisticHead:
    name: str
    version: str
    embedding_model: str
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def predict(self, x: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Probability of the positive class for each row of ``x``."""
        matrix = np.asarray(x, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(self.coef):
            raise ValueError(f"head {self.name} expects {len(self.coef)} features, got shape {matrix.shape}")
        logits = ((matrix - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-logits))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "embedding_model": self.embedding_model,
                "features": list(self.features), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept, "metadata": self.metadata}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogisticHead:
        arrays = {k: np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")}
        if not (len(arrays["mean"]) == len(arrays["scale"]) == len(arrays["coef"]) == len(data["features"])):
            raise ModelLoadError(f"head {data.get('name')!r} is inconsistent: feature and weight counts differ")
        return cls(name=data["name"], version=str(data["version"]), embedding_model=data["embedding_model"],
                   features=tuple(data["features"]), intercept=float(data["intercept"]),
                   metadata=dict(data.get("metadata", {})), **arrays)


def load_head(name_or_path: str) -> LogisticHead:
    """A packaged head by name (``toxicity``) or a head JSON file by path."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = HEADS_DIR / f"{name_or_path}.json"
    try:
        return LogisticHead.from_json(json.loads(path.read_text()))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"no head at {path}; rebuild with `python -m evaluators.heads.train`") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"head file {path} is malformed: {exc}") from exc


def embedding_features(names: Sequence[str] | None, dim: int) -> tuple[str, ...]:
    """Names for raw embedding dimensions (``emb0`` … ``embN``), prefixed to any named features."""
    return tuple(f"emb{i}" for i in range(dim)) + tuple(names or ())
