"""Metric series keys, cumulative start times, and 1-minute / 1-hour rollups.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("metric_points", sa.Column("series_key", sa.String(32), nullable=False, server_default=""))
    op.add_column("metric_points", sa.Column("start_time", TS))
    op.create_index("ix_metric_points_series_time", "metric_points", ["project_rowid", "series_key", "time"],
                    unique=True)
    op.create_index("ix_metric_points_time", "metric_points", ["time"])
    op.create_table(
        "metric_rollups",
        sa.Column("id", ROWID, primary_key=True, autoincrement=True),
        sa.Column("project_rowid", ROWID, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("series_key", sa.String(32), nullable=False),
        sa.Column("resolution_s", sa.Integer, nullable=False),
        sa.Column("bucket_start", TS, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("unit", sa.String(50)),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("source", sa.String(200)),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("total", sa.Float),
        sa.Column("minimum", sa.Float),
        sa.Column("maximum", sa.Float),
        sa.Column("last", sa.Float),
        sa.Column("increase", sa.Float),
        sa.Column("histogram", JSON),
    )
    op.create_index("ix_metric_rollups_series", "metric_rollups",
                    ["project_rowid", "series_key", "resolution_s", "bucket_start"], unique=True)
    op.create_index("ix_metric_rollups_name", "metric_rollups",
                    ["project_rowid", "name", "resolution_s", "bucket_start"])
    op.create_index("ix_metric_rollups_bucket", "metric_rollups", ["resolution_s", "bucket_start"])


def downgrade() -> None:
    op.drop_table("metric_rollups")
    op.drop_index("ix_metric_points_time", table_name="metric_points")
    op.drop_index("ix_metric_points_series_time", table_name="metric_points")
    with op.batch_alter_table("metric_points") as batch:
        batch.drop_column("start_time")
        batch.drop_column("series_key")
