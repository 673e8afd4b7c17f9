"""Hourly and 12-hourly call rollups for the dashboard's long ranges (``monitor.store.call_rollup``).

``call_rollups`` holds, per project, hour (or 12 hours), request model, response model, service and
segment, the count, errors, token and cost sums and latency/TTFT sketches of the outermost LLM calls;
``call_rollup_state`` says up to where each project is rolled up; ``call_rollup_dirty`` lists hours to
roll again because calls in them changed (GPU-time pricing). The worker fills them; until it has, the
dashboard reads the raw spans as before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _project() -> sa.ForeignKey:
    return sa.ForeignKey("projects.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "call_rollups",
        sa.Column("id", ROWID, primary_key=True, autoincrement=True),
        sa.Column("project_rowid", ROWID, _project(), nullable=False),
        sa.Column("resolution_s", sa.Integer, nullable=False),
        sa.Column("bucket_start", TS, nullable=False),
        sa.Column("dims_key", sa.String(32), nullable=False),
        sa.Column("request_model", sa.String(200)),
        sa.Column("response_model", sa.String(200)),
        sa.Column("service_name", sa.String(200)),
        sa.Column("segment", JSON),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("input_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.Column("priced", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float),
        sa.Column("latency", sa.Text, nullable=False),
        sa.Column("ttft", sa.Text, nullable=False),
    )
    op.create_index("ix_call_rollups_bucket", "call_rollups",
                    ["project_rowid", "resolution_s", "bucket_start", "dims_key"], unique=True)
    op.create_table(
        "call_rollup_state",
        sa.Column("project_rowid", ROWID, _project(), primary_key=True),
        sa.Column("rolled_until", TS, nullable=False),
        sa.Column("checked_at", TS, nullable=False),
    )
    op.create_table(
        "call_rollup_dirty",
        sa.Column("id", ROWID, primary_key=True, autoincrement=True),
        sa.Column("project_rowid", ROWID, _project(), nullable=False),
        sa.Column("hour", TS, nullable=False),
    )
    op.create_index("ix_call_rollup_dirty_project_rowid_hour", "call_rollup_dirty", ["project_rowid", "hour"])


def downgrade() -> None:
    op.drop_table("call_rollup_dirty")
    op.drop_table("call_rollup_state")
    op.drop_table("call_rollups")
