"""The shape of one convention's mapping table: canonical field -> attribute keys, in priority order."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Convention:
    """Where one convention keeps each canonical LLM field; ``None`` means it has no such place.

    ``fields`` maps a canonical name (``input_tokens``, ``ttft_s``, …) to the attribute keys that
    may hold it, best first; ``value_maps`` translates a field's values (``LLM`` -> ``chat``), a
    ``None`` target meaning "not a usable value". The remaining attributes name where content
    lives: whole-message attributes, ``prefix.N.…`` indexed attributes, or a plain value.
    """

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
    indexed_embeddings: str | None = None
    plain_input: str | None = None
    plain_output: str | None = None
    plain_input_mime: str | None = None
    plain_output_mime: str | None = None
    invocation_parameters: tuple[str, ...] = ()
    retrieval_documents: str | None = None
    tags: str | None = None

    @property
    def indexed_prefixes(self) -> tuple[str, ...]:
        """Every ``prefix.`` of this convention's indexed attributes."""
        candidates = (self.indexed_prompt, self.indexed_completion, self.indexed_input, self.indexed_output,
                      self.indexed_prompts, self.indexed_choices, self.indexed_embeddings, self.retrieval_documents)
        return tuple(p for p in candidates if p)

    @property
    def content_keys(self) -> tuple[str, ...]:
        """Whole-value content attributes; their presence alone marks a span as GenAI."""
        candidates = (self.input_messages, self.output_messages, self.system_instructions, self.legacy_prompt,
                      self.legacy_completion, *self.invocation_parameters)
        return tuple(k for k in candidates if k)
