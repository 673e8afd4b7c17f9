"""Settings: one pydantic-settings class, read once by the CLI and passed down.

Every setting has an environment variable (``LLM_MONITOR_…``, nested with ``__``) and a place
in ``llm-monitor.toml`` (path from ``LLM_MONITOR_CONFIG``, default ``./llm-monitor.toml``).
Environment variables win over the file.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from collectors.otlp.values import MAX_VALUE_CHARS
from monitor.alerts.rules import RuleSpec
from monitor.privacy.detectors import BUILTIN_KINDS, user_detectors

DEFAULT_DATABASE_URL = "sqlite:///./llm-monitor.db"


class ServerSettings(BaseModel):
    """Where the OTLP receivers and REST API listen, and the limits they enforce."""

    host: str = "127.0.0.1"
    port: int = 4318
    grpc_port: int = 4317
    grpc_enabled: bool = True
    workers: int = Field(
        default=0, ge=0, le=64,
        description="processes `llm-monitor serve` runs, sharing the ports (0: one per CPU core, at most 4); "
                    "ingest is CPU-bound Python, so one process uses one core")
    requests_per_connection: int = Field(
        default=8, ge=0,
        description="with several workers, close an OTLP/HTTP connection after this many requests so the "
                    "client reconnects and the kernel spreads it over the workers afresh (0: never)")
    grpc_max_connection_age_s: float = Field(
        default=30.0, ge=0,
        description="with several workers, OTLP/gRPC connections older than this get a GOAWAY and the client "
                    "reconnects, spread over the workers afresh (0: never)")
    max_body_bytes: int = 64 * 1024 * 1024
    max_pending_writes: int = 8
    max_inflight_requests: int = Field(
        default=16, ge=1, description="OTLP/HTTP requests handled at once (reading, decoding, writing); "
                                      "more get 429 + Retry-After before their body is read, so memory stays bounded")
    write_threads: int = 2
    freeze_heap: bool = Field(
        default=True, description="after start-up, hide the long-lived objects from the garbage collector "
                                  "(gc.freeze), so its full scans stop pausing requests for ~100 ms")
    retry_after_s: int = 1
    key_cache_ttl_s: float = 5.0
    max_attribute_value_chars: int = Field(
        default=MAX_VALUE_CHARS, ge=64, le=MAX_VALUE_CHARS,
        description="longer attribute values and content are cut with a marker, never rejected")
    max_attributes_per_span: int = Field(
        default=1024, ge=1, description="attributes beyond it are dropped; the count is kept in "
                                        "llm_monitor.dropped_attributes")
    max_spans_per_request: int = Field(
        default=100_000, ge=1, description="spans (or log records) beyond it are rejected by partial success")


RedactKind = Literal["email", "phone", "card", "secret"]


class PrivacySettings(BaseModel):
    """``[privacy]``: redaction of sensitive text, and whether prompt/answer text is stored at all.

    Applied at ingest, before anything is written (see docs/reliability.md).
    """

    redact: bool | list[RedactKind] = Field(
        default=False, description="true for every kind, or a list of email, phone, card, secret")
    patterns: dict[str, str] = Field(default_factory=dict,
                                     description="name -> regex; matches become [REDACTED:name]")
    store_content: bool = Field(default=True, description="false: no prompt, answer or document text is stored")

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        """A broken pattern is a startup error that names it, not a failure on the first span."""
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name):
                raise ValueError(f"privacy.patterns: name {name!r} must be 1-40 letters, digits, '_', '.' or '-'")
        user_detectors(value)
        return value

    @property
    def kinds(self) -> tuple[str, ...]:
        if self.redact is True:
            return BUILTIN_KINDS
        return tuple(self.redact) if self.redact else ()


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
    call_rollup_grace_s: float = Field(default=120.0, ge=0, description="roll calls up per hour this long after "
                                       "the hour ends; spans stored later are rolled again next round")


class RetentionSettings(BaseModel):
    """``[retention]``: how long spans are kept, and how the PostgreSQL tables are partitioned by time.

    On PostgreSQL ``spans``, ``log_records`` and ``metric_points`` are partitioned by time
    (migration 0008); expired data goes by dropping whole partitions. SQLite deletes in batches.
    Metric points follow ``[metrics] raw_retention_h``.
    """

    spans_days: float = Field(default=0.0, ge=0, description="spans (with their log records, scores and queue "
                                                            "rows) older than this are deleted; 0 keeps them forever")
    partition_hours: int = Field(default=24, ge=1, le=24 * 31, description="width of a spans/log_records partition")
    metric_partition_hours: int = Field(default=24, ge=1, le=24 * 31,
                                        description="width of a metric_points partition")
    ahead_days: int = Field(default=3, ge=1, le=60, description="partitions are created this far ahead of now")
    batch_rows: int = Field(default=5000, ge=100, description="rows deleted per transaction (SQLite, and the "
                                                             "catch-all partitions on PostgreSQL)")
    lock_timeout_s: float = Field(default=5.0, gt=0, description="a partition drop or create that waits longer "
                                                                 "for its lock gives up until the next round")


class EvaluationSettings(BaseModel):
    """The online scoring worker (``evaluators.worker``): batching, leases, retries and what it looks back at."""

    poll_interval_s: float = Field(default=1.0, gt=0, description="idle wait between looks at the queue")
    max_batch_wait_s: float = Field(default=2.0, ge=0, description="score a partial batch after this long")
    lease_s: float = Field(default=300.0, gt=0, description="a claim not finished by then is picked up again")
    max_attempts: int = Field(default=5, ge=1, description="failures before an item is parked")
    backoff_s: float = Field(default=5.0, ge=0, description="first retry delay; doubles per attempt")
    max_backoff_s: float = Field(default=600.0, ge=0)
    lookback_h: float = Field(default=24.0, gt=0, description="calls older than this are left to `eval --since`")
    enqueue_limit: int = Field(default=5000, ge=1, description="calls queued per evaluator per round")


class DriftSettings(BaseModel):
    """Periodic drift detection (``evaluators.drift``), run by ``llm-monitor worker``."""

    enabled: bool = True
    interval_s: float = Field(default=3600.0, ge=10, description="how often the drift job runs")
    window_s: int = Field(default=3600, ge=60, description="length of the current window")
    reference: Literal["previous", "baseline"] = "previous"
    baseline_start: datetime | None = None
    baseline_end: datetime | None = None
    segments: list[str] = Field(default_factory=lambda: ["model", "service"],
                                description="model, service, tag or segment.<label>; 'all' is always included")
    embeddings: bool = Field(default=True, description="embedding drift of inputs and outputs (loads MiniLM)")
    embedding_sample: int = Field(default=5000, ge=10)
    min_samples: int = Field(default=30, ge=1, description="fewer calls in either window: no test")


class WebhookSettings(BaseModel):
    """A webhook alerts are sent to (``[webhooks.NAME]``); its HMAC secret is read from ``secret_env``."""

    url: str
    format: Literal["json", "slack"] = "json"
    secret_env: str = "LLM_MONITOR_WEBHOOK_SECRET"
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"webhook url {value!r} must start with http:// or https://")
        return value


class AlertSettings(BaseModel):
    """Alert rules from the config file and how the worker evaluates and delivers them."""

    rules: list[RuleSpec] = Field(default_factory=list)
    evaluation_interval_s: float = Field(default=30.0, ge=0.05)
    send_interval_s: float = Field(default=2.0, ge=0.01, description="how often the sender polls the outbox")
    backoff_base_s: float = Field(default=2.0, gt=0)
    backoff_max_s: float = Field(default=600.0, gt=0)
    give_up_after_h: float = Field(default=72.0, gt=0, description="a notification undelivered this long fails")
    allow_networks: list[str] = Field(default_factory=list,
                                      description="CIDRs webhooks may resolve to although private/loopback")
    allow_hosts: list[str] = Field(default_factory=list, description="host names exempt from the address check")

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as exc:
                raise ValueError(f"alerts.allow_networks: {net!r} is not a network such as 10.0.0.0/8") from exc
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> AlertSettings:
        keys = [(r.project, r.name) for r in self.rules]
        dupes = sorted({name for project, name in keys if keys.count((project, name)) > 1})
        if dupes:
            raise ValueError(f"alert rule names must be unique; repeated: {', '.join(dupes)}")
        return self


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
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    scrape: ScrapeSettings = Field(default_factory=ScrapeSettings)
    deployments: list[Deployment] = Field(default_factory=list)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    webhooks: dict[str, WebhookSettings] = Field(default_factory=dict)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
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

    @model_validator(mode="after")
    def _known_webhooks(self) -> Settings:
        """Every webhook a configured rule names exists under ``[webhooks.NAME]``."""
        for rule in self.alerts.rules:
            unknown = [w for w in rule.webhooks if w not in self.webhooks]
            if unknown:
                known = ", ".join(self.webhooks) or "none configured"
                raise ValueError(f"alert rule {rule.name!r} names unknown webhook(s) {', '.join(unknown)} "
                                 f"(known: {known})")
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
