"""Settings: one pydantic-settings class, read once by the CLI and passed down.

Every setting has an environment variable (``LLM_MONITOR_…``, nested with ``__``) and a place
in ``llm-monitor.toml`` (path from ``LLM_MONITOR_CONFIG``, default ``./llm-monitor.toml``).
Environment variables win over the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATABASE_URL = "sqlite:///./llm-monitor.db"


class ServerSettings(BaseModel):
    """Where the OTLP receivers and REST API listen, and the limits they enforce."""

    host: str = "127.0.0.1"
    port: int = 4318
    grpc_port: int = 4317
    grpc_enabled: bool = True
    max_body_bytes: int = 64 * 1024 * 1024
    max_pending_writes: int = 8
    write_threads: int = 2
    retry_after_s: int = 1
    key_cache_ttl_s: float = 5.0


class ModelPrice(BaseModel):
    """User price for a model, in USD per 1M tokens."""

    input: float
    output: float
    cached_input: float | None = None


class Settings(BaseSettings):
    """All llm-monitor settings (see README for each variable)."""

    model_config = SettingsConfigDict(
        env_prefix="LLM_MONITOR_", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str = DEFAULT_DATABASE_URL
    auth: Literal["auto", "required", "disabled"] = "auto"
    default_project: str = "default"
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    server: ServerSettings = Field(default_factory=ServerSettings)
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    segment_attributes: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "region": ["cloud.region"],
            "environment": ["deployment.environment.name", "deployment.environment"],
        },
        description="segment label -> span/resource attribute keys it is read from",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("LLM_MONITOR_CONFIG", "llm-monitor.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and the optional TOML file (the CLI calls this once)."""
    return Settings(**overrides)
