"""The language of an LLM call's input (``spans.language``), filled by the worker's language job.

A partial index holds only the LLM spans with input text still waiting for a label, so the job
finds its next batch without scanning the table, and the index empties as calls are labelled.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PENDING = "is_llm AND language IS NULL AND input_text IS NOT NULL"


def upgrade() -> None:
    op.add_column("spans", sa.Column("language", sa.String(8), nullable=True))
    pending = sa.text(PENDING)
    op.create_index("ix_spans_language_todo", "spans", ["id"], sqlite_where=pending, postgresql_where=pending)


def downgrade() -> None:
    op.drop_index("ix_spans_language_todo", table_name="spans")
    op.drop_column("spans", "language")
