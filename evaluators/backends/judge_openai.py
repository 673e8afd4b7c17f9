"""``judge_openai``: a judge behind any OpenAI-compatible chat API (vLLM, TGI, SGLang, OpenAI, …).

The score comes from ``top_logprobs`` of the first answer token when the server offers them (one
token is generated, temperature 0); a server that refuses logprobs is asked again without them and
its one-word answer counts as probability 1, which is coarser, so the backend logs it once. Requests
run on a bounded thread pool (``max_concurrency``), each with a timeout, retried with exponential
backoff on connection errors, 408, 429 and 5xx (honouring ``Retry-After``). When retries run out the
batch fails with ``BackendError`` rather than hanging or inventing a score.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from evaluators.backends import JudgePrompt
from evaluators.backends.prompting import explanation_prompt, messages, normalise
from evaluators.config import EvaluatorConfig
from evaluators.errors import BackendError, EvaluatorConfigError

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
TOP_LOGPROBS = 20


class OpenAIJudge:
    kind = "judge_openai"
    default_batch_size = 32  # requests per batch; ``max_concurrency`` bounds how many are in flight

    def __init__(self, config: EvaluatorConfig, transport: httpx.BaseTransport | None = None) -> None:
        if not config.base_url or not config.model:
            raise EvaluatorConfigError("judge_openai needs `base_url` (e.g. http://vllm:8000/v1) and `model`")
        self.config, self.model_id = config, config.model
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        headers.update(dict(config.extra.get("headers", {})))
        self.client = httpx.Client(base_url=config.base_url.rstrip("/") + "/", headers=headers,
                                   timeout=httpx.Timeout(config.request_timeout_s), transport=transport)
        self.logprobs_supported = True

    def choice_probs(self, prompts: Sequence[JudgePrompt], choices: Sequence[str]) -> list[list[float]]:
        return self._map(lambda p: self._choice_probs_one(p, choices), prompts)

    def explain(self, prompts: Sequence[JudgePrompt]) -> list[str]:
        def one(prompt: JudgePrompt) -> str:
            body = self._body(explanation_prompt(prompt), self.config.explain_max_tokens, logprobs=False)
            return _content(self._post(body)).strip()

        return self._map(one, prompts)

    def close(self) -> None:
        self.client.close()

    def _map(self, fn: Any, prompts: Sequence[JudgePrompt]) -> list[Any]:
        workers = min(self.config.max_concurrency, max(len(prompts), 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="judge_openai") as pool:
            return list(pool.map(fn, prompts))

    def _choice_probs_one(self, prompt: JudgePrompt, choices: Sequence[str]) -> list[float]:
        if self.logprobs_supported:
            try:
                reply = self._post(self._body(prompt, 1, logprobs=True))
            except BackendError as exc:
                if "logprob" not in str(exc).lower():
                    raise
                log.warning("%s refuses logprobs; scoring from the answer text (0 or 1 per choice)", self.model_id)
                self.logprobs_supported = False
            else:
                masses = [sum(math.exp(lp) for tok, lp in _top_logprobs(reply) if _matches(tok, c)) for c in choices]
                return normalise(masses) if any(masses) else _from_text(_content(reply), choices, self.model_id)
        reply = self._post(self._body(prompt, 3, logprobs=False))
        return _from_text(_content(reply), choices, self.model_id)

    def _body(self, prompt: JudgePrompt, max_tokens: int, logprobs: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.config.model, "messages": messages(prompt),
                                "max_tokens": max_tokens, "temperature": 0.0}
        if logprobs:
            body.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
        return body

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /chat/completions with retries; returns the decoded JSON or raises ``BackendError``."""
        last: str = ""
        for attempt in range(self.config.retries + 1):
            try:
                response = self.client.post("chat/completions", json=body)
            except httpx.HTTPError as exc:  # timeouts and connection failures are worth retrying
                last = f"{type(exc).__name__}: {exc}"
                delay = _backoff(attempt)
            else:
                if response.status_code < 400:
                    return _json(response)
                last = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code not in RETRY_STATUSES:
                    raise BackendError(f"{self.config.base_url} rejected the request: {last}")
                retry_after = _retry_after(response)
                delay = _backoff(attempt) if retry_after is None else retry_after
            if attempt < self.config.retries:
                time.sleep(delay)
        raise BackendError(f"{self.config.base_url} failed after {self.config.retries + 1} attempts: {last}")


def _backoff(attempt: int) -> float:
    return min(0.5 * 2**attempt, 8.0)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(float(response.headers.get("retry-after", "")), 30.0)
    except ValueError:
        return None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        return response.json()
    except ValueError as exc:
        raise BackendError(f"the judge server returned non-JSON: {response.text[:200]!r}") from exc


def _content(reply: dict[str, Any]) -> str:
    try:
        return reply["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError) as exc:
        raise BackendError(f"unexpected chat completion shape: {str(reply)[:200]}") from exc


def _top_logprobs(reply: dict[str, Any]) -> list[tuple[str, float]]:
    """(token, logprob) pairs of the first generated token, or [] when the server sent none."""
    try:
        first = reply["choices"][0]["logprobs"]["content"][0]
    except (KeyError, IndexError, TypeError):
        return []
    entries = first.get("top_logprobs") or [first]
    return [(str(e.get("token", "")), float(e.get("logprob", -math.inf))) for e in entries]


def _from_text(answer: str, choices: Sequence[str], model: str) -> list[float]:
    """One-hot probabilities from the answer's first word (servers without logprobs)."""
    words = answer.split()
    masses = [1.0 if words and _matches(words[0], c) else 0.0 for c in choices]
    if not any(masses):
        raise BackendError(f"{model} answered {answer!r}, none of {list(choices)}")
    return masses


def _matches(token: str, choice: str) -> bool:
    return token.strip().strip(".,:;!\"'*").lower() == choice.lower()
