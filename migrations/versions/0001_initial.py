"""Initial schema: projects, api_keys, spans, log_records, scores, metric_points.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _pk() -> sa.Column:
    return sa.Column("id", ROWID, primary_key=True, autoincrement=True)


def _project_fk() -> sa.Column:
    return sa.Column("project_rowid", ROWID, sa.ForeignKey("projects.id", ondelete="CASCADE",
                                                            name=None), nullable=False)


def upgrade() -> None:
    op.create_table(
        "projects", _pk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("name", name="uq_projects_name"),
    )
    op.create_table(
        "api_keys", _pk(), _project_fk(),
        sa.Column("name", sa.String(200)),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_project_rowid", "api_keys", ["project_rowid"])
    op.create_table(
        "spans", _pk(), _project_fk(),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=False),
        sa.Column("parent_span_id", sa.String(16)),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Integer, nullable=False),
        sa.Column("start_time", TS, nullable=False),
        sa.Column("end_time", TS, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("status_message", sa.Text),
        sa.Column("service_name", sa.String(200)),
        sa.Column("scope_name", sa.String(200)),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("resource", JSON, nullable=False),
        sa.Column("events", JSON),
        sa.Column("links", JSON),
        sa.Column("tags", JSON),
        sa.Column("segment", JSON),
        sa.Column("is_llm", sa.Boolean, nullable=False),
        sa.Column("operation", sa.String(64)),
        sa.Column("provider", sa.String(64)),
        sa.Column("request_model", sa.String(200)),
        sa.Column("response_model", sa.String(200)),
        sa.Column("input_tokens", sa.Integer),
        sa.Column("output_tokens", sa.Integer),
        sa.Column("total_tokens", sa.Integer),
        sa.Column("cached_input_tokens", sa.Integer),
        sa.Column("reasoning_tokens", sa.Integer),
        sa.Column("finish_reasons", JSON),
        sa.Column("error_type", sa.String(200)),
        sa.Column("ttft_ms", sa.Float),
        sa.Column("server_address", sa.String(200)),
        sa.Column("user_id", sa.String(200)),
        sa.Column("session_id", sa.String(200)),
        sa.Column("response_id", sa.String(200)),
        sa.Column("input_text", sa.Text),
        sa.Column("output_text", sa.Text),
        sa.Column("system_instructions", sa.Text),
        sa.Column("retrieval_context", JSON),
        sa.Column("cost_usd", sa.Float),
        sa.Column("cost_source", sa.String(32)),
        sa.Column("received_at", TS, nullable=False),
        sa.UniqueConstraint("project_rowid", "trace_id", "span_id", name="uq_spans_project_rowid_trace_id_span_id"),
    )
    op.create_index("ix_spans_project_start", "spans", ["project_rowid", "start_time"])
    is_llm = sa.text("is_llm")
    op.create_index("ix_spans_calls_model", "spans", ["project_rowid", "response_model", "start_time"],
                    sqlite_where=is_llm, postgresql_where=is_llm)
    for col in ("user_id", "session_id"):
        cond = sa.text(f"{col} IS NOT NULL")
        op.create_index(f"ix_spans_calls_{col.split('_')[0]}", "spans", ["project_rowid", col],
                        sqlite_where=cond, postgresql_where=cond)
    op.create_table(
        "log_records", _pk(), _project_fk(),
        sa.Column("trace_id", sa.String(32)),
        sa.Column("span_id", sa.String(16)),
        sa.Column("time", TS, nullable=False),
        sa.Column("event_name", sa.String(200)),
        sa.Column("severity", sa.String(32)),
        sa.Column("body", JSON),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("service_name", sa.String(200)),
    )
    op.create_index("ix_log_records_span", "log_records", ["project_rowid", "trace_id", "span_id"])
    op.create_table(
        "scores", _pk(), _project_fk(),
        sa.Column("span_rowid", ROWID, sa.ForeignKey("spans.id", ondelete="CASCADE")),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16)),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("label", sa.String(100)),
        sa.Column("explanation", sa.Text),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("evaluator", sa.String(100)),
        sa.Column("evaluator_version", sa.String(50)),
        sa.Column("model", sa.String(200)),
        sa.Column("latency_ms", sa.Float),
        sa.Column("details", JSON),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_scores_span", "scores", ["project_rowid", "trace_id", "span_id"])
    op.create_index("ix_scores_name_time", "scores", ["project_rowid", "name", "created_at"])
    op.create_table(
        "metric_points", _pk(), _project_fk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("unit", sa.String(50)),
        sa.Column("time", TS, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("source", sa.String(200)),
        sa.Column("histogram", JSON),
    )
    op.create_index("ix_metric_points_name_time", "metric_points", ["project_rowid", "name", "time"])


def downgrade() -> None:
    for table in ("metric_points", "scores", "log_records", "spans", "api_keys", "projects"):
        op.drop_table(table)
