"""REST endpoints for alerting: rules (read; create/delete with the admin scope), alerts, deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from monitor.alerts import RuleConflict, RuleNotFound, RuleSpec
from monitor.alerts import query as alert_query
from monitor.alerts.errors import AlertError
from monitor.alerts.rulestore import create_rule, delete_rule, get_rule
from monitor.alerts.service import AlertService, summarise
from monitor.api.routes import reader
from monitor.config import Settings
from monitor.domain import Principal

router = APIRouter(prefix="/api/v1", tags=["alerts"])


def admin(request: Request) -> Principal:
    """Authenticates a request that changes rules (raises AuthError, mapped to 401 by the app)."""
    return request.app.state.auth.principal(request.headers.get("authorization"), "admin")


class RuleOut(BaseModel):
    id: int
    project: str
    origin: str
    enabled: bool
    created_at: datetime
    last_evaluated_at: datetime | None
    last_value: float | None
    last_error: str | None
    rule: dict[str, Any]


class EventOut(BaseModel):
    id: int
    rule_id: int | None
    rule: str
    severity: str
    labels: dict[str, str]
    status: str
    value: float | None
    threshold: float | None
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    last_notified_at: datetime | None
    notifications: int


class DeliveryOut(BaseModel):
    id: int
    event_id: int | None
    webhook: str
    transition: str
    idempotency_key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class Reading(BaseModel):
    labels: dict[str, str]
    value: float | None
    samples: int
    breaching: bool


class RuleTest(BaseModel):
    rule: RuleOut
    readings: list[Reading]


@router.get("/alert-rules", response_model=list[RuleOut])
async def list_alert_rules(request: Request, who: Annotated[Principal, Depends(reader)]) -> list[dict[str, Any]]:
    """Alert rules of the caller's project, from the config file (origin ``config``) and the API."""
    return await run_in_threadpool(alert_query.rules, request.app.state.engine, who.project.rowid)


@router.post("/alert-rules", response_model=RuleOut, status_code=201,
             responses={409: {"description": "a rule of that name exists"}, 422: {"description": "invalid rule"}})
async def create_alert_rule(spec: RuleSpec, request: Request, who: Annotated[Principal, Depends(admin)]
                            ) -> dict[str, Any]:
    """Create a rule in the caller's project (``for``, ``window`` and ``renotify`` take 30s / 15m / 1h / 7d)."""
    settings: Settings = request.app.state.settings
    unknown = [w for w in spec.webhooks if w not in settings.webhooks]
    if unknown:
        known = ", ".join(settings.webhooks) or "none configured"
        raise HTTPException(422, f"unknown webhook(s) {', '.join(unknown)} (known: {known})")
    spec = spec.model_copy(update={"project": who.project.name})
    try:
        stored = await run_in_threadpool(create_rule, request.app.state.engine, who.project.name, spec)
    except RuleConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    return stored.to_json()


@router.get("/alert-rules/{rule_id}", response_model=RuleOut)
async def get_alert_rule(rule_id: int, request: Request, who: Annotated[Principal, Depends(reader)]
                         ) -> dict[str, Any]:
    """One rule with its last evaluation."""
    return (await _rule(request, rule_id, who)).to_json()


@router.post("/alert-rules/{rule_id}/test", response_model=RuleTest)
async def test_alert_rule(rule_id: int, request: Request, who: Annotated[Principal, Depends(reader)]
                          ) -> dict[str, Any]:
    """Evaluate a rule now and return its value per label set; changes no alert state."""
    rule = await _rule(request, rule_id, who)
    service = AlertService(request.app.state.engine, request.app.state.settings)
    try:
        readings = await run_in_threadpool(service.read, rule)
    except AlertError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"rule": rule.to_json(), "readings": summarise(readings, rule)}


@router.delete("/alert-rules/{rule_id}", status_code=204,
               responses={404: {"description": "no such rule"}, 409: {"description": "rule is in the config file"}})
async def delete_alert_rule(rule_id: int, request: Request, who: Annotated[Principal, Depends(admin)]) -> Response:
    """Delete a rule created over the API; its alert history stays."""
    rule = await _rule(request, rule_id, who)
    if rule.origin == "config":
        raise HTTPException(409, f"rule {rule.spec.name!r} comes from the config file; remove it there")
    await run_in_threadpool(delete_rule, request.app.state.engine, rule_id, who.project.rowid)
    return Response(status_code=204)


@router.get("/alerts", response_model=list[EventOut])
async def list_alerts(
    request: Request,
    who: Annotated[Principal, Depends(reader)],
    status: Annotated[str | None, Query(description="pending, firing or resolved")] = None,
    rule_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Alert history, newest first: one row per episode (pending -> firing -> resolved)."""
    try:
        return await run_in_threadpool(alert_query.events, request.app.state.engine, who.project.rowid, status,
                                       rule_id, None, limit)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get("/alerts/deliveries", response_model=list[DeliveryOut])
async def list_deliveries(
    request: Request,
    who: Annotated[Principal, Depends(reader)],
    status: Annotated[str | None, Query(description="pending, delivered or failed")] = None,
    event_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Webhook notifications and their delivery state (attempts, last status, last error)."""
    try:
        return await run_in_threadpool(alert_query.deliveries, request.app.state.engine, who.project.rowid, status,
                                       event_id, limit)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


async def _rule(request: Request, rule_id: int, who: Principal) -> Any:
    try:
        return await run_in_threadpool(get_rule, request.app.state.engine, rule_id, who.project.rowid)
    except RuleNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
