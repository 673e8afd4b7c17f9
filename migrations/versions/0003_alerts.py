"""Alerting: rules, alert episodes (events) and the durable webhook outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
OPEN = "status IN ('pending', 'firing')"


def _pk() -> sa.Column:
    return sa.Column("id", ROWID, primary_key=True, autoincrement=True)


def _project_fk() -> sa.Column:
    return sa.Column("project_rowid", ROWID, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "alert_rules", _pk(), _project_fk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("last_evaluated_at", TS),
        sa.Column("last_value", sa.Float),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_alert_rules_project_rowid_name", "alert_rules", ["project_rowid", "name"], unique=True)
    op.create_table(
        "alert_events", _pk(), _project_fk(),
        sa.Column("rule_rowid", ROWID, sa.ForeignKey("alert_rules.id", ondelete="SET NULL")),
        sa.Column("rule_name", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(32), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("labels_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("threshold", sa.Float),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("fired_at", TS),
        sa.Column("resolved_at", TS),
        sa.Column("last_notified_at", TS),
        sa.Column("notifications", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_alert_events_open", "alert_events", ["rule_rowid", "labels_key"], unique=True,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.create_index("ix_alert_events_project_started", "alert_events", ["project_rowid", "started_at"])
    op.create_table(
        "outbox", _pk(), _project_fk(),
        sa.Column("event_rowid", ROWID, sa.ForeignKey("alert_events.id", ondelete="SET NULL")),
        sa.Column("webhook", sa.String(200), nullable=False),
        sa.Column("transition", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(120), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("locked_until", TS),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS),
    )
    op.create_index("ix_outbox_webhook_idempotency_key", "outbox", ["webhook", "idempotency_key"], unique=True)
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_event_rowid", "outbox", ["event_rowid"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("alert_events")
    op.drop_table("alert_rules")
