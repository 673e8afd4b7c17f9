"""Settings: one pydantic-settings class, read once by the CLI and passed down.

Every setting has an environment variable (``LLM_MONITOR_…``, nested with ``__``) and a place
in ``llm-monitor.toml`` (path from ``LLM_MONITOR_CONFIG``, default ``./llm-monitor.toml``).
Environment variables win over the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
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


TargetKind = Literal["vllm", "tgi", "triton", "sglang", "dcgm", "generic"]


class ScrapeTarget(BaseModel):
    """A Prometheus ``/metrics`` endpoint the worker scrapes (``[[scrape.targets]]``)."""

    name: str = Field(min_length=1, max_length=200)
    url: str
    kind: TargetKind = "generic"
    interval_s: float = Field(default=5.0, ge=0.5, le=3600)
    timeout_s: float | None = Field(default=None, gt=0, description="default: min(interval, 10 s)")
    labels: dict[str, str] = Field(default_factory=dict, description="added to every point of this target")
    project: str | None = Field(default=None, description="project the points belong to (default project if unset)")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"scrape target url {value!r} must start with http:// or https://")
        return value


class ScrapeSettings(BaseModel):
    """Prometheus scraping (run by ``llm-monitor worker``)."""

    targets: list[ScrapeTarget] = Field(default_factory=list)
    max_concurrent: int = Field(default=4, ge=1, le=64)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)

    @model_validator(mode="after")
    def _unique_names(self) -> ScrapeSettings:
        names = [t.name for t in self.targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"scrape target names must be unique; repeated: {', '.join(dupes)}")
        return self


class Deployment(BaseModel):
    """A self-hosted model on GPUs we pay for by the hour (``[[deployments]]``).

    Its metrics are the scraped series labelled ``deployment = <name>`` (set it in the targets'
    ``labels``, or give ``server`` and the targets whose URL starts with it get the label), and
    its traced requests are the LLM calls whose model is ``model``.
    """

    name: str = Field(min_length=1, max_length=200)
    model: str = Field(min_length=1, max_length=200)
    gpu_type: str | None = None
    gpu_count: int = Field(default=1, ge=1, le=4096)
    usd_per_gpu_hour: float = Field(ge=0)
    server: str | None = Field(default=None, description="base URL of the inference server's scrape targets")
    labels: dict[str, str] = Field(default_factory=dict, description="only series with these labels belong to it")

    @property
    def usd_per_second(self) -> float:
        return self.gpu_count * self.usd_per_gpu_hour / 3600.0


class MetricsSettings(BaseModel):
    """Retention and rollups of metric points, and GPU-time cost attribution (worker jobs)."""

    raw_retention_h: float = Field(default=48.0, gt=0)
    minute_retention_d: float = Field(default=30.0, gt=0)
    hour_retention_d: float = Field(default=400.0, gt=0)
    maintenance_interval_s: float = Field(default=60.0, ge=1)
    rollup_grace_s: float = Field(default=60.0, ge=0, description="points up to this late are still rolled up")
    gpu_cost_settle_s: float = Field(default=120.0, ge=0, description="wait this long after a request ends")


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
    scrape: ScrapeSettings = Field(default_factory=ScrapeSettings)
    deployments: list[Deployment] = Field(default_factory=list)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    evaluators: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="[evaluators.NAME] tables: backend, model and options per evaluator (see evaluators.config)",
    )
    segment_attributes: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "region": ["cloud.region"],
            "environment": ["deployment.environment.name", "deployment.environment"],
        },
        description="segment label -> span/resource attribute keys it is read from",
    )

    @model_validator(mode="after")
    def _link_deployments(self) -> Settings:
        """Deployment names are unique, and a deployment's ``server`` labels the targets under it."""
        names = [d.name for d in self.deployments]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"deployment names must be unique; repeated: {', '.join(dupes)}")
        for deployment in self.deployments:
            if deployment.server:
                for target in self.scrape.targets:
                    if target.url.startswith(deployment.server.rstrip("/")):
                        target.labels.setdefault("deployment", deployment.name)
        return self

    def deployment(self, name: str) -> Deployment | None:
        return next((d for d in self.deployments if d.name == name), None)

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
