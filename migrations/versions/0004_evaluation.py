"""Online evaluation queue, worker leases, drift profiles and drift results.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
OPEN = "state IN ('pending', 'claimed')"


def _pk() -> sa.Column:
    return sa.Column("id", ROWID, primary_key=True, autoincrement=True)


def _project_fk() -> sa.Column:
    return sa.Column("project_rowid", ROWID, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "eval_queue", _pk(), _project_fk(),
        sa.Column("span_rowid", ROWID, sa.ForeignKey("spans.id", ondelete="CASCADE"), nullable=False),
        sa.Column("evaluator", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("call_time", TS, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("lease_until", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("span_rowid", "evaluator", name="uq_eval_queue_span_rowid_evaluator"),
    )
    open_rows = sa.text(OPEN)  # done and skipped rows pile up; claims only ever look at these
    op.create_index("ix_eval_queue_open", "eval_queue", ["evaluator", "id"], sqlite_where=open_rows,
                    postgresql_where=open_rows)
    op.create_index("ix_eval_queue_project_state", "eval_queue", ["project_rowid", "state", "call_time"])
    op.create_table(
        "worker_leases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_table(
        "drift_profiles", _pk(), _project_fk(),
        sa.Column("segment", sa.String(300), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("window_s", sa.Integer, nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("profile", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_drift_profiles_window", "drift_profiles",
                    ["project_rowid", "segment", "window_s", "window_start"], unique=True)
    op.create_table(
        "drift_results", _pk(), _project_fk(),
        sa.Column("feature", sa.String(100), nullable=False),
        sa.Column("statistic", sa.String(50), nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("threshold", sa.Float),
        sa.Column("drifted", sa.Boolean, nullable=False),
        sa.Column("segment", sa.String(300), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("window_end", TS, nullable=False),
        sa.Column("reference_start", TS, nullable=False),
        sa.Column("reference_end", TS, nullable=False),
        sa.Column("current_count", sa.Integer, nullable=False),
        sa.Column("reference_count", sa.Integer, nullable=False),
        sa.Column("details", JSON),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_drift_results_window", "drift_results", ["project_rowid", "window_end", "feature"])


def downgrade() -> None:
    op.drop_table("drift_results")
    op.drop_table("drift_profiles")
    op.drop_table("worker_leases")
    op.drop_table("eval_queue")
