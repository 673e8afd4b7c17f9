"""``judge_transformers``: a causal LM run in-process as a judge (hub id, local folder or GGUF file).

The score comes from the probabilities of the answer-choice tokens ("yes"/"no", "1".."5") at the first
answer position, read from one batched forward pass: no sampling and no parsing of free text, so the
score is deterministic and continuous. Text is generated only for explanations, and only when asked.
On CUDA the model runs in float16; elsewhere in float32. GGUF files are converted once to safetensors
beside the file, because transformers' GGUF reader needs minutes where safetensors needs seconds.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import save_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from evaluators.backends import JudgePrompt
from evaluators.backends.loading import (
    PACKAGED_GEMMA,
    WeightsSource,
    gguf_conversion_dir,
    packaged_gemma_gguf,
    pick_device,
    pick_dtype,
    translate_load_error,
    weights_source,
)
from evaluators.backends.prompting import choice_token_ids, explanation_prompt, normalise, render_chat
from evaluators.config import EvaluatorConfig

log = logging.getLogger(__name__)


class TransformersJudge:
    kind = "judge_transformers"
    default_batch_size = 8  # prompts are long; bigger CPU batches mostly add padding

    def __init__(self, config: EvaluatorConfig) -> None:
        self.config = config
        self.device = pick_device(config.device)
        self.dtype = pick_dtype(config.dtype, self.device)
        source, self.model_id = self._source(config)
        self.tokenizer, self.model = self._load(source)
        self.tokenizer.padding_side = "left"  # the answer position is then the last one in every row
        self.tokenizer.truncation_side = "left"  # an over-long prompt loses its start, not the question
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model_type = str(getattr(self.model.config, "model_type", ""))
        self._choice_ids: dict[tuple[str, ...], list[list[int]]] = {}

    @staticmethod
    def _source(config: EvaluatorConfig) -> tuple[WeightsSource, str]:
        if config.model is None:
            gguf = packaged_gemma_gguf(config.cache_dir)
            return weights_source(str(gguf), allow_pickle=False), PACKAGED_GEMMA
        return weights_source(config.model, config.gguf_file, config.allow_pickle), config.model

    def _load(self, source: WeightsSource) -> tuple[AutoTokenizer, AutoModelForCausalLM]:
        converted = gguf_conversion_dir(Path(source.location) / source.gguf_file) if source.gguf_file else None
        if converted is not None and (converted / "model.safetensors").exists():
            source = WeightsSource(str(converted), use_safetensors=True, local=True)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source.location, **source.kwargs())
            model = AutoModelForCausalLM.from_pretrained(source.location, dtype=self.dtype, **source.kwargs())
        except (OSError, ValueError, RuntimeError) as exc:
            raise translate_load_error(self.model_id, exc) from exc
        if converted is not None and source.gguf_file:
            self._save_conversion(tokenizer, model, converted)
        return tokenizer, model.to(self.device).eval()

    @staticmethod
    def _save_conversion(tokenizer: AutoTokenizer, model: AutoModelForCausalLM, target: Path) -> None:
        """Write the dequantised weights as safetensors (tied tensors deduplicated), atomically."""
        staging = target.with_name(target.name + f".tmp-{os.getpid()}")
        try:
            staging.mkdir(parents=True, exist_ok=True)
            tokenizer.save_pretrained(staging)
            config = model.config.to_dict()
            config.pop("quantization_config", None)  # the weights written are plain tensors, not GGUF blocks
            (staging / "config.json").write_text(json.dumps(config, indent=1, default=str))
            save_model(model, str(staging / "model.safetensors"))
            shutil.rmtree(target, ignore_errors=True)  # an incomplete conversion left by an older version
            os.replace(staging, target)
        except OSError as exc:  # a read-only cache is not fatal: the next start converts again
            log.warning("could not cache the GGUF conversion in %s: %s", target, exc)
            shutil.rmtree(staging, ignore_errors=True)

    def _encode(self, prompts: Sequence[JudgePrompt]) -> dict[str, torch.Tensor]:
        rendered = [render_chat(self.tokenizer, p, self.model_type) for p in prompts]
        has_special = rendered[0][1]
        batch = self.tokenizer([text for text, _ in rendered], return_tensors="pt", padding=True, truncation=True,
                               max_length=self.config.max_prompt_tokens, add_special_tokens=not has_special)
        return {k: v.to(self.device) for k, v in batch.items()}

    def choice_probs(self, prompts: Sequence[JudgePrompt], choices: Sequence[str]) -> list[list[float]]:
        key = tuple(choices)
        if key not in self._choice_ids:
            self._choice_ids[key] = choice_token_ids(self.tokenizer, choices)
        with torch.inference_mode():
            # Only the answer position's logits: Gemma's 262k-token vocabulary makes the rest costly.
            logits = self.model(**self._encode(prompts), logits_to_keep=1).logits[:, -1, :].float()
        probs = torch.softmax(logits, dim=-1)
        masses = torch.stack([probs[:, ids].sum(dim=-1) for ids in self._choice_ids[key]], dim=-1)
        return [normalise(row) for row in masses.cpu().tolist()]

    def _stop_ids(self) -> list[int]:
        """End of sequence, plus Gemma's end-of-turn marker when the vocabulary has it."""
        ids = [self.tokenizer.eos_token_id]
        turn_end = self.tokenizer.convert_tokens_to_ids("<end_of_turn>")
        if isinstance(turn_end, int) and turn_end != self.tokenizer.unk_token_id:
            ids.append(turn_end)
        return [i for i in ids if i is not None]

    def explain(self, prompts: Sequence[JudgePrompt]) -> list[str]:
        batch = self._encode([explanation_prompt(p) for p in prompts])
        with torch.inference_mode():
            out = self.model.generate(**batch, max_new_tokens=self.config.explain_max_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self._stop_ids())
        new_tokens = out[:, batch["input_ids"].shape[1]:]
        return [text.strip() for text in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
