"""SQLAlchemy 2 typed models: the same tables on SQLite and PostgreSQL.

Integer foreign keys are named ``*_rowid`` so they are never confused with OTel ``trace_id`` /
``span_id``. Migrations never import this module; a test checks both stay in step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")
RowId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiKeyRow(Base):
    """An API key, stored as a SHA-256 hash of a 256-bit random secret (only the prefix is shown)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200), default="ingest,read")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


LANGUAGE_PENDING = "is_llm AND language IS NULL AND input_text IS NOT NULL"  # calls the language job has yet to label


CALL_INDEX_COLUMNS = (  # what the dashboard's call reads need beside project and start time (migration 0006)
    "id", "trace_id", "span_id", "parent_span_id", "duration_ms", "ttft_ms", "status_code", "error_type",
    "input_tokens", "output_tokens", "cost_usd", "request_model", "response_model", "service_name", "segment", "tags",
)


class SpanRow(Base):
    """Every span of every trace; LLM spans also carry the typed LLM columns.

    On PostgreSQL the table is partitioned by ``start_time`` (migration 0008): there the primary key is
    (id, start_time), the idempotency key (project, trace_id, span_id, start_time), and ``scores`` and
    ``eval_queue`` reference ``id`` without a foreign key (``monitor.store.partitions``).
    """

    __tablename__ = "spans"
    __table_args__ = (
        UniqueConstraint("project_rowid", "trace_id", "span_id"),
        Index("ix_spans_project_start", "project_rowid", "start_time"),
        Index("ix_spans_calls_model", "project_rowid", "response_model", "start_time",
              sqlite_where=text("is_llm"), postgresql_where=text("is_llm")),
        # the dashboard's reads as index-only scans (PostgreSQL INCLUDE; SQLite: a plain partial index, whose
        # predicate is the term SQLAlchemy writes there, as SQLite matches partial indexes term by term)
        Index("ix_spans_calls_time", "project_rowid", "start_time", sqlite_where=text("is_llm = 1"),
              postgresql_where=text("is_llm"), postgresql_include=list(CALL_INDEX_COLUMNS)),
        # "is this span's parent an LLM span?" (monitor.query's outermost-call check) from the index alone
        Index("ix_spans_calls_span", "project_rowid", "trace_id", "span_id", sqlite_where=text("is_llm = 1"),
              postgresql_where=text("is_llm")),
        Index("ix_spans_calls_user", "project_rowid", "user_id",
              sqlite_where=text("user_id IS NOT NULL"), postgresql_where=text("user_id IS NOT NULL")),
        Index("ix_spans_calls_session", "project_rowid", "session_id",
              sqlite_where=text("session_id IS NOT NULL"), postgresql_where=text("session_id IS NOT NULL")),
        Index("ix_spans_language_todo", "id", sqlite_where=text(LANGUAGE_PENDING),
              postgresql_where=text(LANGUAGE_PENDING)),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    trace_id: Mapped[str] = mapped_column(String(32))
    span_id: Mapped[str] = mapped_column(String(16))
    parent_span_id: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[datetime] = mapped_column(UtcDateTime)
    end_time: Mapped[datetime] = mapped_column(UtcDateTime)
    duration_ms: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int] = mapped_column(Integer)
    status_message: Mapped[str | None] = mapped_column(Text)
    service_name: Mapped[str | None] = mapped_column(String(200))
    scope_name: Mapped[str | None] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    resource: Mapped[dict[str, Any]] = mapped_column(JSONType)
    events: Mapped[list[Any] | None] = mapped_column(JSONType)
    links: Mapped[list[Any] | None] = mapped_column(JSONType)
    tags: Mapped[list[str] | None] = mapped_column(JSONType)
    segment: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    is_llm: Mapped[bool] = mapped_column(Boolean, default=False)
    operation: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str | None] = mapped_column(String(64))
    request_model: Mapped[str | None] = mapped_column(String(200))
    response_model: Mapped[str | None] = mapped_column(String(200))
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    total_tokens: Mapped[int | None] = mapped_column(Integer)
    cached_input_tokens: Mapped[int | None] = mapped_column(Integer)
    reasoning_tokens: Mapped[int | None] = mapped_column(Integer)
    finish_reasons: Mapped[list[str] | None] = mapped_column(JSONType)
    error_type: Mapped[str | None] = mapped_column(String(200))
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    server_address: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(200))
    session_id: Mapped[str | None] = mapped_column(String(200))
    response_id: Mapped[str | None] = mapped_column(String(200))
    input_text: Mapped[str | None] = mapped_column(Text)
    output_text: Mapped[str | None] = mapped_column(Text)
    system_instructions: Mapped[str | None] = mapped_column(Text)
    retrieval_context: Mapped[list[str] | None] = mapped_column(JSONType)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    cost_source: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    language: Mapped[str | None] = mapped_column(String(8))  # of input_text, ISO 639-1 or "und": monitor.language_job


class CallRollupRow(Base):
    """LLM calls (outermost spans) aggregated per hour (``resolution_s`` 3600) or 12 hours (43200) and per
    request model, response model, service and segment: what the dashboard's long ranges read
    (``monitor.store.call_rollup``). Counts and sums are exact; ``latency`` and ``ttft`` are log-bucket
    sketches (``monitor.store.sketch``), so percentiles read from them are within 2 %.
    """

    __tablename__ = "call_rollups"
    __table_args__ = (
        Index("ix_call_rollups_bucket", "project_rowid", "resolution_s", "bucket_start", "dims_key", unique=True),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    resolution_s: Mapped[int] = mapped_column(Integer)
    bucket_start: Mapped[datetime] = mapped_column(UtcDateTime)
    dims_key: Mapped[str] = mapped_column(String(32))  # hash of the four dimensions below (the unique key)
    request_model: Mapped[str | None] = mapped_column(String(200))
    response_model: Mapped[str | None] = mapped_column(String(200))
    service_name: Mapped[str | None] = mapped_column(String(200))
    segment: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    requests: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    priced: Mapped[int] = mapped_column(Integer)  # calls with a cost
    cost_usd: Mapped[float | None] = mapped_column(Float)
    latency: Mapped[str] = mapped_column(Text)  # sketch of duration_ms
    ttft: Mapped[str] = mapped_column(Text)  # sketch of ttft_ms (streamed calls)


class CallRollupStateRow(Base):
    """Per project: hours before ``rolled_until`` are rolled up; ``checked_at`` is when the job last looked
    for late spans (it re-reads the spans received since ``checked_at`` less the grace period)."""

    __tablename__ = "call_rollup_state"

    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    rolled_until: Mapped[datetime] = mapped_column(UtcDateTime)
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CallRollupDirtyRow(Base):
    """An hour whose stored calls changed after it was rolled up (e.g. priced by GPU time): rolled again."""

    __tablename__ = "call_rollup_dirty"
    __table_args__ = (Index("ix_call_rollup_dirty_project_rowid_hour", "project_rowid", "hour"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UtcDateTime)


class LogRecordRow(Base):
    """OTLP log records; GenAI content events are matched to their span by (trace_id, span_id)."""

    __tablename__ = "log_records"
    __table_args__ = (Index("ix_log_records_span", "project_rowid", "trace_id", "span_id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    event_name: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[Any] = mapped_column(JSONType)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    service_name: Mapped[str | None] = mapped_column(String(200))


class ScoreRow(Base):
    """A score for a span (from an evaluator, a human or an OTel ``gen_ai.evaluation.result``)."""

    __tablename__ = "scores"
    __table_args__ = (
        Index("ix_scores_span", "project_rowid", "trace_id", "span_id"),
        Index("ix_scores_name_time", "project_rowid", "name", "created_at"),
        Index("ix_scores_span_rowid", "span_rowid"),  # retention, and SQLite's ON DELETE CASCADE (migration 0008)
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    span_rowid: Mapped[int | None] = mapped_column(ForeignKey("spans.id", ondelete="CASCADE"))
    trace_id: Mapped[str] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(String(100))
    explanation: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32))
    evaluator: Mapped[str | None] = mapped_column(String(100))
    evaluator_version: Mapped[str | None] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(200))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MetricPointRow(Base):
    """One metric sample (scraped or pushed over OTLP), labels kept as JSON.

    Counters and cumulative histograms are stored as the cumulative values the source reported
    (``start_time`` = when the source started counting): deltas are derived on read and in the
    rollups, with reset detection, so no increment depends on a process's memory. ``series_key``
    identifies (name, source, labels); one point per series and time, so a retried export is
    stored once.
    """

    __tablename__ = "metric_points"
    __table_args__ = (
        Index("ix_metric_points_name_time", "project_rowid", "name", "time"),
        Index("ix_metric_points_series_time", "project_rowid", "series_key", "time", unique=True),
        Index("ix_metric_points_time", "time"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(50))
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    value: Mapped[float | None] = mapped_column(Float)
    labels: Mapped[dict[str, str]] = mapped_column(JSONType)
    source: Mapped[str | None] = mapped_column(String(200))
    histogram: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    series_key: Mapped[str] = mapped_column(String(32), server_default="")
    start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)


class MetricRollupRow(Base):
    """A series aggregated over one minute (``resolution_s`` 60) or one hour (3600), for long ranges.

    Gauges keep count/total/minimum/maximum/last; counters and delta sums keep ``increase``
    (reset-aware); histograms keep the bucket counts observed in the interval.
    """

    __tablename__ = "metric_rollups"
    __table_args__ = (
        Index("ix_metric_rollups_series", "project_rowid", "series_key", "resolution_s", "bucket_start",
              unique=True),
        Index("ix_metric_rollups_name", "project_rowid", "name", "resolution_s", "bucket_start"),
        Index("ix_metric_rollups_bucket", "resolution_s", "bucket_start"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    series_key: Mapped[str] = mapped_column(String(32))
    resolution_s: Mapped[int] = mapped_column(Integer)
    bucket_start: Mapped[datetime] = mapped_column(UtcDateTime)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(50))
    labels: Mapped[dict[str, str]] = mapped_column(JSONType)
    source: Mapped[str | None] = mapped_column(String(200))
    points: Mapped[int] = mapped_column(Integer)
    total: Mapped[float | None] = mapped_column(Float)
    minimum: Mapped[float | None] = mapped_column(Float)
    maximum: Mapped[float | None] = mapped_column(Float)
    last: Mapped[float | None] = mapped_column(Float)
    increase: Mapped[float | None] = mapped_column(Float)
    histogram: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


OPEN_ALERT = "status IN ('pending', 'firing')"


class AlertRuleRow(Base):
    """An alert rule; ``spec`` holds the validated rule (``monitor.alerts.rules.RuleSpec``) as JSON.

    ``origin`` is ``config`` for rules synced from ``[[alerts.rules]]`` (re-synced at each worker
    start) and ``api`` for rules created over the API or CLI.
    """

    __tablename__ = "alert_rules"
    __table_args__ = (Index("ix_alert_rules_project_rowid_name", "project_rowid", "name", unique=True),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_evaluated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_value: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)


class AlertEventRow(Base):
    """One alert episode of a rule and label set: pending -> firing -> resolved.

    At most one open (pending or firing) episode per rule and label set (a partial unique index),
    so two worker replicas cannot both open one.
    """

    __tablename__ = "alert_events"
    __table_args__ = (
        Index("ix_alert_events_open", "rule_rowid", "labels_key", unique=True,
              sqlite_where=text(OPEN_ALERT), postgresql_where=text(OPEN_ALERT)),
        Index("ix_alert_events_project_started", "project_rowid", "started_at"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    rule_rowid: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="SET NULL"))
    rule_name: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(32))
    labels: Mapped[dict[str, str]] = mapped_column(JSONType)
    labels_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    notifications: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OutboxRow(Base):
    """A webhook notification, written in the same transaction as the alert state change.

    ``status`` is ``pending`` until a 2xx (``delivered``) or until retries give up (``failed``);
    ``locked_until`` is a sender's lease so replicas do not send the same row at once.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_webhook_idempotency_key", "webhook", "idempotency_key", unique=True),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_event_rowid", "event_rowid"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    event_rowid: Mapped[int | None] = mapped_column(ForeignKey("alert_events.id", ondelete="SET NULL"))
    webhook: Mapped[str] = mapped_column(String(200))
    transition: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


EVAL_OPEN = "state IN ('pending', 'claimed')"  # the queue rows a claim looks at (done/skipped ones pile up)


class EvalQueueRow(Base):
    """One LLM call waiting for (or done with) one online evaluator: the claim table of ``evaluators.worker``.

    ``state``: pending (ready at ``next_attempt_at``), claimed (by ``claimed_by`` until ``lease_until``),
    done, skipped (not sampled) or parked (failed ``attempts`` times; ``last_error`` says why).
    """

    __tablename__ = "eval_queue"
    __table_args__ = (
        UniqueConstraint("span_rowid", "evaluator"),
        Index("ix_eval_queue_open", "evaluator", "id", sqlite_where=text(EVAL_OPEN), postgresql_where=text(EVAL_OPEN)),
        Index("ix_eval_queue_project_state", "project_rowid", "state", "call_time"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    span_rowid: Mapped[int] = mapped_column(ForeignKey("spans.id", ondelete="CASCADE"))
    evaluator: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    call_time: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WorkerLeaseRow(Base):
    """A named lease: on SQLite only the holder runs the evaluation worker."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DriftProfileRow(Base):
    """A serialized whylogs profile of one segment's calls in one time window (mergeable across windows)."""

    __tablename__ = "drift_profiles"
    __table_args__ = (
        Index("ix_drift_profiles_window", "project_rowid", "segment", "window_s", "window_start", unique=True),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    segment: Mapped[str] = mapped_column(String(300))
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_s: Mapped[int] = mapped_column(Integer)
    row_count: Mapped[int] = mapped_column(Integer)
    profile: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DriftResultRow(Base):
    """One drift test of one feature for one segment: current window against its reference."""

    __tablename__ = "drift_results"
    __table_args__ = (Index("ix_drift_results_window", "project_rowid", "window_end", "feature"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    feature: Mapped[str] = mapped_column(String(100))
    statistic: Mapped[str] = mapped_column(String(50))
    score: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    drifted: Mapped[bool] = mapped_column(Boolean)
    segment: Mapped[str] = mapped_column(String(300))
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime)
    reference_start: Mapped[datetime] = mapped_column(UtcDateTime)
    reference_end: Mapped[datetime] = mapped_column(UtcDateTime)
    current_count: Mapped[int] = mapped_column(Integer)
    reference_count: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
