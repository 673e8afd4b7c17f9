"""Two indexes over the LLM calls, so the dashboard's reads never touch the wide ``spans`` rows.

``ix_spans_calls_time`` holds only LLM spans (partial on ``is_llm``), keyed by project and start
time, and on PostgreSQL carries every column the Overview aggregates, the Traces list and the
outermost-call check read (``INCLUDE``): a range of calls becomes an index-only scan of ~200
bytes a call instead of a scan of rows that hold prompts and answers (~2–3 KB each). SQLite
has no ``INCLUDE`` and gets the plain partial index.

``ix_spans_calls_span`` (project, trace, span of LLM spans) answers the outermost-call check of
``monitor.query`` ("is this span's parent an LLM span?") from the index alone, ~4 µs a child span
instead of ~8 µs through the unique index and the table row.

Building them locks writes to ``spans`` for the time it takes (a few seconds per million calls on
a small machine).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CALL_COLUMNS = ("id", "trace_id", "span_id", "parent_span_id", "duration_ms", "ttft_ms", "status_code", "error_type",
                "input_tokens", "output_tokens", "cost_usd", "request_model", "response_model", "service_name",
                "segment", "tags")


def upgrade() -> None:
    # SQLite matches a partial index only to the very term the query has (SQLAlchemy writes "is_llm = 1")
    op.create_index("ix_spans_calls_time", "spans", ["project_rowid", "start_time"],
                    postgresql_where=sa.text("is_llm"), sqlite_where=sa.text("is_llm = 1"),
                    postgresql_include=list(CALL_COLUMNS))
    op.create_index("ix_spans_calls_span", "spans", ["project_rowid", "trace_id", "span_id"],
                    postgresql_where=sa.text("is_llm"), sqlite_where=sa.text("is_llm = 1"))


def downgrade() -> None:
    op.drop_index("ix_spans_calls_span", table_name="spans")
    op.drop_index("ix_spans_calls_time", table_name="spans")
