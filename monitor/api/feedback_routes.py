"""``POST /api/v1/feedback``, ``GET /api/v1/scores`` and the evaluator audit ``GET /api/v1/evaluations/agreement``.

Feedback is written with the key applications already hold for ingest (scope ``ingest``): the same
service that sends the spans sends its users' thumbs. The audit is a read (scope ``read``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from monitor import feedback_query
from monitor.api.routes import as_utc, reader
from monitor.domain import Principal
from monitor.feedback import Feedback, FeedbackError, record_feedback

router = APIRouter(prefix="/api/v1")


def feedback_writer(request: Request) -> Principal:
    """Authenticates a feedback write (an ingest key suffices)."""
    return request.app.state.auth.principal(request.headers.get("authorization"), "ingest")


class FeedbackIn(BaseModel):
    """A person's verdict on a trace or one call of it; give at least one of thumbs, rating, criterion, comment."""

    trace_id: str = Field(description="32 hex digits")
    span_id: str | None = Field(default=None, description="16 hex digits: one call of the trace (optional)")
    thumbs: Literal["up", "down"] | None = None
    rating: int | None = Field(default=None, description="1 to 5")
    criterion: str | None = Field(default=None, description="relevance, toxicity, hallucination or a custom name")
    value: float | None = Field(default=None, description="0..1 on the criterion evaluator's scale (1 = toxic, …)")
    label: str | None = Field(default=None, description="a label; yes/no stands for value 1/0")
    comment: str | None = None
    user: str | None = Field(default=None, description="who gave the feedback")


class FeedbackOut(BaseModel):
    score_ids: list[int]


class ScoreOut(BaseModel):
    id: int
    trace_id: str
    span_id: str | None
    name: str
    value: float | None
    label: str | None
    explanation: str | None
    source: str
    evaluator: str | None
    evaluator_version: str | None
    model: str | None
    latency_ms: float | None
    details: dict | None
    created_at: datetime


class ScorePage(BaseModel):
    items: list[ScoreOut]
    next_before_id: int | None = Field(description="pass as before_id for the next (older) page")


class AgreementOut(BaseModel):
    criterion: str
    n: int
    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float | None
    recall: float | None
    f1: float | None
    kappa: float | None
    precision_ci: tuple[float, float] | None
    recall_ci: tuple[float, float] | None
    f1_ci: tuple[float, float] | None
    kappa_ci: tuple[float, float] | None
    suggested_threshold: float | None
    suggested_f1: float | None
    over_time: list[dict]
    disagreements: list[dict]


@router.post("/feedback", response_model=FeedbackOut, status_code=201)
async def post_feedback(body: FeedbackIn, request: Request,
                        who: Annotated[Principal, Depends(feedback_writer)]) -> FeedbackOut:
    """Store thumbs, a rating, a criterion label and/or a comment as scores with source ``human``."""
    try:
        ids = await run_in_threadpool(record_feedback, request.app.state.engine, who.project.rowid,
                                      Feedback(**body.model_dump()))
    except FeedbackError as exc:
        raise HTTPException(422, str(exc)) from exc
    return FeedbackOut(score_ids=ids)


@router.get("/scores", response_model=ScorePage)
async def list_scores(
    request: Request,
    who: Annotated[Principal, Depends(reader)],
    trace_id: Annotated[str | None, Query(pattern="^[0-9a-fA-F]{32}$")] = None,
    name: Annotated[str | None, Query(description="e.g. relevance, toxicity, thumbs")] = None,
    source: Annotated[str | None, Query(description="evaluator, human, …")] = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> ScorePage:
    """Scores (evaluators', people's, OTel-reported), newest first."""
    rows = await run_in_threadpool(feedback_query.list_scores, request.app.state.engine, who.project.rowid,
                                   trace_id=trace_id, name=name, source=source, start=as_utc(start), end=as_utc(end),
                                   limit=limit, before_id=before_id)
    return ScorePage(items=rows, next_before_id=rows[-1]["id"] if len(rows) == limit else None)  # type: ignore[arg-type]


@router.get("/evaluations/agreement", response_model=AgreementOut)
async def evaluator_agreement(
    request: Request,
    who: Annotated[Principal, Depends(reader)],
    criterion: Annotated[str, Query(description="evaluator score name, e.g. relevance")],
    threshold: Annotated[float, Query(ge=0, le=1)] = 0.5,
    start: datetime | None = None,
    end: datetime | None = None,
) -> AgreementOut:
    """Precision, recall, F1 and Cohen's kappa (95 % intervals) of an evaluator against human labels."""
    result = await run_in_threadpool(feedback_query.audit, request.app.state.engine, who.project.rowid, criterion,
                                     threshold, as_utc(start), as_utc(end))
    a, c = result.overall, result.overall.confusion
    return AgreementOut(criterion=criterion, n=a.n, threshold=threshold, tp=c.tp, fp=c.fp, fn=c.fn, tn=c.tn,
                        precision=a.precision, recall=a.recall, f1=a.f1, kappa=a.kappa,
                        precision_ci=a.precision_ci, recall_ci=a.recall_ci, f1_ci=a.f1_ci, kappa_ci=a.kappa_ci,
                        suggested_threshold=result.suggested_threshold, suggested_f1=result.suggested_f1,
                        over_time=result.over_time, disagreements=result.disagreements)
