"""The shape of one convention's mapping table: canonical field -> attribute keys, in priority order."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Convention:
    """Where one convention keeps each canonical LLM field; ``None`` means it has no such place."""

    name: str
    fields: dict[str, tuple[str, ...]]
    value_maps: dict[str, dict[str, str | None]] = field(default_factory=dict)
    input_messages: str | None = None
    output_messages: str | None = None
    system_instructions: str | None = None
    legacy_prompt: str | None = None
    legacy_completion: str | None = None
    indexed_prompt: str | None = None
    indexed_completion: str | None = None
    indexed_input: str | None = None
    indexed_output: str | None = None
    indexed_prompts: str | None = None
    indexed_choices: str | None = None
    plain_input: str | None = None
    plain_output: str | None = None
    retrieval_documents: str | None = None
    tags: str | None = None
