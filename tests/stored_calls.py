"""Store LLM calls straight into ``spans`` (tests and benchmarks of the evaluation worker and drift).

The ingest path is tested elsewhere; here we need thousands of calls with chosen text, model,
service, tags and times, fast.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from evaluators.queue import write_tx
from monitor.store.models import ProjectRow, SpanRow


@dataclass
class Call:
    input: str
    output: str | None = "ok"
    model: str = "model-a"
    service: str = "svc"
    tags: list[str] = field(default_factory=list)
    segment: dict[str, str] = field(default_factory=dict)
    start: datetime | None = None
    error: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None


def project_rowid(engine: Engine, name: str = "default") -> int:
    with write_tx(engine) as conn:
        found = conn.execute(select(ProjectRow.id).where(ProjectRow.name == name)).scalar()
        if found is not None:
            return found
        return conn.execute(ProjectRow.__table__.insert().values(name=name, created_at=datetime.now(UTC))
                            .returning(ProjectRow.id)).scalar_one()


def store_calls(engine: Engine, calls: Sequence[Call], project: str = "default", chunk: int = 5000) -> list[int]:
    """Insert the calls as outermost LLM spans; returns their row ids in order."""
    pid = project_rowid(engine, project)
    now = datetime.now(UTC)
    ids: list[int] = []
    for start in range(0, len(calls), chunk):
        rows = [_row(pid, c, now) for c in calls[start:start + chunk]]
        with write_tx(engine) as conn:
            conn.execute(SpanRow.__table__.insert(), rows)
            ids.extend(conn.execute(select(SpanRow.id).where(SpanRow.span_id.in_([r["span_id"] for r in rows]))
                                    .order_by(SpanRow.id)).scalars())
    return ids


def _row(pid: int, c: Call, now: datetime) -> dict[str, Any]:
    start = c.start or now - timedelta(seconds=5)
    return {
        "project_rowid": pid, "trace_id": secrets.token_hex(16), "span_id": secrets.token_hex(8),
        "parent_span_id": None, "name": f"chat {c.model}", "kind": 3, "start_time": start,
        "end_time": start + timedelta(milliseconds=200), "duration_ms": 200.0, "status_code": 2 if c.error else 0,
        "status_message": None, "service_name": c.service, "scope_name": None, "attributes": {}, "resource": {},
        "events": None, "links": None, "tags": c.tags, "segment": c.segment, "is_llm": True, "operation": "chat",
        "provider": "openai", "request_model": c.model, "response_model": c.model,
        "input_tokens": c.input_tokens, "output_tokens": c.output_tokens, "error_type": "Timeout" if c.error else None,
        "input_text": c.input, "output_text": c.output, "received_at": now,
    }
