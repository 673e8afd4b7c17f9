"""Turning ``JudgePrompt``s into model input and answer choices into token ids.

Why separate: both judges need the same explanation prompt, and the transformers judge must cope with
models whose tokenizer carries no chat template (the packaged Gemma GGUF has none), so Gemma's turn
markers are written here by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evaluators.backends import JudgePrompt
from evaluators.errors import BackendError

EXPLAIN_SUFFIX = "\n\nIn one short sentence, explain your judgement."


def explanation_prompt(prompt: JudgePrompt) -> JudgePrompt:
    return JudgePrompt(user=prompt.user + EXPLAIN_SUFFIX, system=prompt.system)


def messages(prompt: JudgePrompt) -> list[dict[str, str]]:
    """OpenAI-style chat messages."""
    out = [{"role": "system", "content": prompt.system}] if prompt.system else []
    return [*out, {"role": "user", "content": prompt.user}]


def render_chat(tokenizer: Any, prompt: JudgePrompt, model_type: str) -> tuple[str, bool]:
    """The prompt text ending where the answer starts, and whether it already carries special tokens."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages(prompt), tokenize=False, add_generation_prompt=True)
        return text, True
    user = f"{prompt.system}\n\n{prompt.user}" if prompt.system else prompt.user
    if model_type.startswith("gemma"):  # Gemma has no system role: the system text leads the user turn
        return f"<start_of_turn>user\n{user}<end_of_turn>\n<start_of_turn>model\n", False
    return f"{user}\n\nAnswer:", False


def choice_token_ids(tokenizer: Any, choices: Sequence[str]) -> list[list[int]]:
    """Single-token spellings of each choice ("yes", "Yes", " yes", …); their probabilities are summed."""
    ids: list[list[int]] = []
    for choice in choices:
        variants = {choice, choice.lower(), choice.capitalize(), choice.upper()}
        found: set[int] = set()
        for variant in variants | {" " + v for v in variants}:
            encoded = tokenizer.encode(variant, add_special_tokens=False)
            if len(encoded) == 1:
                found.add(encoded[0])
        if not found:
            raise BackendError(f"the tokenizer has no single token for the answer choice {choice!r}")
        ids.append(sorted(found))
    flat = [i for group in ids for i in group]
    if len(flat) != len(set(flat)):
        raise BackendError(f"answer choices {list(choices)} share tokens; use choices that differ in their first token")
    return ids


def normalise(masses: Sequence[float]) -> list[float]:
    """Probabilities of the choices relative to each other; uniform when the model put no mass on any."""
    total = float(sum(masses))
    if total <= 0.0:
        return [1.0 / len(masses)] * len(masses)
    return [float(m) / total for m in masses]
