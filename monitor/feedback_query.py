"""Reads over human feedback: evaluator audits, user satisfaction and the annotation queue.

Human scores may name only a trace (see ``monitor.feedback``); here such a label is matched to the
evaluator scores of every call in that trace (their mean), and to the trace's first LLM call for its
model and segment.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, exists, func, or_, select
from sqlalchemy.orm import aliased

from monitor.agreement import Agreement, agreement, suggest_threshold
from monitor.feedback import COMMENT, HUMAN_SOURCE, RATING, THUMBS
from monitor.query import CallFilters, apply_filters
from monitor.store.models import ScoreRow, SpanRow

IN_CHUNK = 500
BUILTIN_CRITERIA = ("relevance", "hallucination", "toxicity", "coherence", "prompt_injection")


@dataclass(frozen=True)
class LabelPair:
    """One human label and the evaluator's score for the same call (mean over the trace's calls if trace-level)."""

    trace_id: str
    span_id: str | None
    human: float
    machine: float
    labelled_at: datetime
    by: str | None


@dataclass
class Audit:
    """An evaluator against people: agreement now, the threshold people suggest, trend and worst disagreements."""

    criterion: str
    threshold: float
    overall: Agreement
    suggested_threshold: float | None
    suggested_f1: float | None
    over_time: list[dict[str, Any]] = field(default_factory=list)
    disagreements: list[dict[str, Any]] = field(default_factory=list)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def labelled_criteria(engine: Engine, project_rowid: int) -> list[str]:
    """Criteria that have human labels (thumbs, ratings and bare comments are not criteria)."""
    stmt = (select(ScoreRow.name)
            .where(ScoreRow.project_rowid == project_rowid, ScoreRow.source == HUMAN_SOURCE,
                   ScoreRow.name.notin_((THUMBS, RATING, COMMENT)), ScoreRow.value.isnot(None))
            .group_by(ScoreRow.name).order_by(ScoreRow.name))
    with engine.connect() as conn:
        return list(conn.execute(stmt).scalars())


def criteria(engine: Engine, project_rowid: int) -> list[str]:
    """Every score name an evaluator wrote or a person labelled, plus the built-in evaluators' names."""
    stmt = (select(ScoreRow.name)
            .where(ScoreRow.project_rowid == project_rowid, ScoreRow.name.notin_((THUMBS, RATING, COMMENT)))
            .group_by(ScoreRow.name))
    with engine.connect() as conn:
        names = set(conn.execute(stmt).scalars())
    return sorted(names | set(BUILTIN_CRITERIA))


def label_pairs(engine: Engine, project_rowid: int, criterion: str, start: datetime | None = None,
                end: datetime | None = None) -> list[LabelPair]:
    """Human labels of ``criterion`` that have an evaluator score to compare with."""
    human, machine = aliased(ScoreRow), aliased(ScoreRow)
    stmt = (select(human.id, human.trace_id, human.span_id, human.value, human.created_at, human.details,
                   machine.value)
            .join(machine, and_(machine.project_rowid == human.project_rowid, machine.trace_id == human.trace_id,
                                or_(human.span_id.is_(None), machine.span_id == human.span_id),
                                machine.name == human.name, machine.source != HUMAN_SOURCE,
                                machine.value.isnot(None)))
            .where(human.project_rowid == project_rowid, human.source == HUMAN_SOURCE, human.name == criterion,
                   human.value.isnot(None)))
    if start is not None:
        stmt = stmt.where(human.created_at >= start)
    if end is not None:
        stmt = stmt.where(human.created_at < end)
    grouped: dict[int, list[Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(stmt):
            grouped.setdefault(row[0], [row, []])[1].append(float(row[6]))
    pairs = []
    for row, values in grouped.values():
        details = row[5] or {}
        pairs.append(LabelPair(row[1], row[2], float(row[3]), sum(values) / len(values), _utc(row[4]),
                               details.get("by") if isinstance(details, dict) else None))
    pairs.sort(key=lambda p: p.labelled_at)
    return pairs


def audit(engine: Engine, project_rowid: int, criterion: str, threshold: float = 0.5, start: datetime | None = None,
          end: datetime | None = None, bucket: timedelta = timedelta(days=1), worst: int = 20) -> Audit:
    """Everything the Evaluations page shows about one evaluator against people."""
    pairs = label_pairs(engine, project_rowid, criterion, start, end)
    values = [(p.human, p.machine) for p in pairs]
    suggestion = suggest_threshold(values)
    result = Audit(criterion=criterion, threshold=threshold, overall=agreement(values, threshold),
                   suggested_threshold=suggestion[0] if suggestion else None,
                   suggested_f1=suggestion[1] if suggestion else None)
    buckets: dict[datetime, list[tuple[float, float]]] = defaultdict(list)
    seconds = bucket.total_seconds()
    for p in pairs:
        key = datetime.fromtimestamp(p.labelled_at.timestamp() // seconds * seconds, UTC)
        buckets[key].append((p.human, p.machine))
    for key in sorted(buckets):
        a = agreement(buckets[key], threshold, intervals=False)
        result.over_time.append({"bucket": key, "n": a.n, "f1": a.f1, "kappa": a.kappa, "accuracy": a.accuracy})
    ranked = sorted(pairs, key=lambda p: abs(p.human - p.machine), reverse=True)[:worst]
    texts = _call_texts(engine, project_rowid, [(p.trace_id, p.span_id) for p in ranked])
    for p in ranked:
        call = texts.get((p.trace_id, p.span_id)) or texts.get((p.trace_id, None)) or {}
        result.disagreements.append({"trace_id": p.trace_id, "span_id": p.span_id or call.get("span_id"),
                                     "human": p.human, "evaluator": p.machine, "gap": abs(p.human - p.machine),
                                     "by": p.by, "input": call.get("input_text"), "output": call.get("output_text")})
    return result


def _chunks(items: list[Any], size: int = IN_CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _call_texts(engine: Engine, project_rowid: int, keys: list[tuple[str, str | None]]
                ) -> dict[tuple[str, str | None], dict[str, Any]]:
    """The LLM calls of these traces: by (trace, span), and the first call of each trace under (trace, None)."""
    out: dict[tuple[str, str | None], dict[str, Any]] = {}
    traces = sorted({t for t, _ in keys})
    with engine.connect() as conn:
        for chunk in _chunks(traces):
            stmt = (select(SpanRow.trace_id, SpanRow.span_id, SpanRow.input_text, SpanRow.output_text,
                           func.coalesce(SpanRow.response_model, SpanRow.request_model).label("model"),
                           SpanRow.segment, SpanRow.service_name)
                    .where(SpanRow.project_rowid == project_rowid, SpanRow.is_llm, SpanRow.trace_id.in_(chunk))
                    .order_by(SpanRow.start_time, SpanRow.id))
            for row in conn.execute(stmt):
                call = dict(row._mapping)
                out[(row.trace_id, row.span_id)] = call
                out.setdefault((row.trace_id, None), call)
    return out


def satisfaction(engine: Engine, project_rowid: int, start: datetime | None = None, end: datetime | None = None,
                 bucket_s: int = 3600, group_by: str | None = None) -> list[dict[str, Any]]:
    """Share of thumbs-up per time bucket (and per model, service or ``segment.<label>``), with counts."""
    stmt = select(ScoreRow.trace_id, ScoreRow.span_id, ScoreRow.value, ScoreRow.created_at).where(
        ScoreRow.project_rowid == project_rowid, ScoreRow.source == HUMAN_SOURCE, ScoreRow.name == THUMBS)
    if start is not None:
        stmt = stmt.where(ScoreRow.created_at >= start)
    if end is not None:
        stmt = stmt.where(ScoreRow.created_at < end)
    with engine.connect() as conn:
        votes = conn.execute(stmt).all()
    calls = _call_texts(engine, project_rowid, [(v.trace_id, v.span_id) for v in votes]) if group_by else {}
    groups: dict[tuple[datetime, str | None], list[float]] = defaultdict(list)
    for v in votes:
        moment = _utc(v.created_at)
        key_time = datetime.fromtimestamp(moment.timestamp() // bucket_s * bucket_s, UTC)
        group = None
        if group_by:
            call = calls.get((v.trace_id, v.span_id)) or calls.get((v.trace_id, None)) or {}
            group = _group_value(call, group_by)
        groups[(key_time, group)].append(float(v.value))
    return [{"bucket": t, "group": g, "votes": len(vals), "thumbs_up_share": sum(vals) / len(vals)}
            for (t, g), vals in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]


def _group_value(call: dict[str, Any], group_by: str) -> str:
    if group_by == "model":
        return call.get("model") or "unknown"
    if group_by == "service":
        return call.get("service_name") or "unknown"
    if group_by.startswith("segment."):
        return (call.get("segment") or {}).get(group_by.removeprefix("segment."), "unknown")
    raise ValueError(f"group_by must be model, service or segment.<label>, not {group_by!r}")


def annotation_candidates(engine: Engine, project_rowid: int, criterion: str, filters: CallFilters | None = None,
                          mode: str = "uncertain", limit: int = 50) -> list[dict[str, Any]]:
    """Calls no person has labelled for ``criterion`` yet: random, or those the evaluator is least sure about.

    "Least sure" means the evaluator's score nearest 0.5, where one human label teaches the most.
    """
    if mode not in ("uncertain", "random"):
        raise ValueError("mode must be 'uncertain' or 'random'")
    human = aliased(ScoreRow)
    labelled = exists().where(human.project_rowid == SpanRow.project_rowid, human.trace_id == SpanRow.trace_id,
                              human.source == HUMAN_SOURCE, human.name == criterion,
                              or_(human.span_id.is_(None), human.span_id == SpanRow.span_id))
    cols = [SpanRow.trace_id, SpanRow.span_id, SpanRow.start_time, SpanRow.input_text, SpanRow.output_text,
            SpanRow.retrieval_context, func.coalesce(SpanRow.response_model, SpanRow.request_model).label("model")]
    if mode == "uncertain":
        machine = aliased(ScoreRow)
        evaluator_value = func.avg(machine.value).label("evaluator_value")
        stmt = (select(*cols, evaluator_value)
                .join(machine, and_(machine.project_rowid == SpanRow.project_rowid,
                                    machine.trace_id == SpanRow.trace_id, machine.span_id == SpanRow.span_id,
                                    machine.name == criterion, machine.source != HUMAN_SOURCE,
                                    machine.value.isnot(None)))
                .group_by(*cols).order_by(func.abs(evaluator_value - 0.5), SpanRow.start_time.desc()))
    else:
        stmt = select(*cols).order_by(func.random())
    stmt = stmt.where(~labelled, SpanRow.output_text.isnot(None))
    stmt = apply_filters(stmt, engine, project_rowid, filters or CallFilters()).limit(limit)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


SCORE_FIELDS = ("id", "trace_id", "span_id", "name", "value", "label", "explanation", "source", "evaluator",
                "evaluator_version", "model", "latency_ms", "details", "created_at")


def list_scores(engine: Engine, project_rowid: int, *, trace_id: str | None = None, name: str | None = None,
                source: str | None = None, start: datetime | None = None, end: datetime | None = None,
                limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
    """Scores of a project (evaluators', people's and OTel-reported), newest first; page with ``before_id``."""
    stmt = select(*(getattr(ScoreRow, f) for f in SCORE_FIELDS)).where(ScoreRow.project_rowid == project_rowid)
    if trace_id is not None:
        stmt = stmt.where(ScoreRow.trace_id == trace_id.lower())
    if name is not None:
        stmt = stmt.where(ScoreRow.name == name)
    if source is not None:
        stmt = stmt.where(ScoreRow.source == source)
    if start is not None:
        stmt = stmt.where(ScoreRow.created_at >= start)
    if end is not None:
        stmt = stmt.where(ScoreRow.created_at < end)
    if before_id is not None:
        stmt = stmt.where(ScoreRow.id < before_id)
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(ScoreRow.id.desc()).limit(limit)).all()
    return [dict(zip(SCORE_FIELDS, row, strict=True)) for row in rows]
