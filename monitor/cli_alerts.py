"""``llm-monitor alerts add|list|test|delete``: manage alert rules from the command line.

Rules added here have origin ``api`` (like the REST API's); rules in ``[[alerts.rules]]`` are
listed too but managed in the config file. Webhook secrets are read from the environment here,
at the composition root, and only for ``alerts test --send``.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from monitor.config import Settings

alerts_app = typer.Typer(help="Alert rules: add, list, test, delete.", no_args_is_help=True)


def _settings(ctx: typer.Context) -> Settings:
    root = ctx.find_root()
    if root.obj is None:
        from monitor.config import load_settings

        root.obj = load_settings()
    return root.obj


def _engine(settings: Settings) -> Any:
    from monitor.store import make_engine

    return make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@alerts_app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="unique within the project")],
    metric: Annotated[str, typer.Option(help="request_rate, error_rate, latency_ms, ttft_ms, tokens_per_minute, "
                                             "cost_per_hour, a scraped metric, a score name or a drift feature")] = "",
    kind: Annotated[str, typer.Option(help="metric, score, drift or absence")] = "metric",
    threshold: Annotated[float, typer.Option(help="the value compared against")] = 0.0,
    comparison: Annotated[str, typer.Option(help=">, >=, < or <=")] = ">",
    aggregate: Annotated[str | None, typer.Option(help="p95, p99, mean, max, share_above, rate, …")] = None,
    window: Annotated[str, typer.Option(help="look-back window, e.g. 5m")] = "5m",
    for_: Annotated[str, typer.Option("--for", help="how long the condition must hold before firing")] = "0s",
    severity: Annotated[str, typer.Option(help="info, warning or critical")] = "warning",
    webhook: Annotated[list[str] | None, typer.Option(help="webhook name from [webhooks.NAME] (repeatable)")] = None,
    group_by: Annotated[str | None, typer.Option(help="model, service, provider, operation, segment.<label>")]
    = None,
    model: Annotated[str | None, typer.Option(help="only calls of this model")] = None,
    service: Annotated[str | None, typer.Option(help="only calls of this service")] = None,
    segment: Annotated[list[str] | None, typer.Option(help="label:value (repeatable)")] = None,
    score_threshold: Annotated[float | None, typer.Option(help="cut-off for share_above / share_below")] = None,
    min_samples: Annotated[int, typer.Option(help="fewer samples in the window: no data")] = 1,
    renotify: Annotated[str | None, typer.Option(help="repeat a firing alert this often, e.g. 1h")] = None,
    project: Annotated[str | None, typer.Option(help="project (default: the default project)")] = None,
) -> None:
    """Add a rule, e.g. ``alerts add --name slow --metric latency_ms --aggregate p95 --threshold 2000 --for 5m``."""
    from monitor.alerts import RuleConflict, RuleSpec
    from monitor.alerts.rulestore import create_rule

    settings = _settings(ctx)
    segments = dict(item.split(":", 1) for item in segment or [] if ":" in item)
    if len(segments) != len(segment or []):
        raise _fail("--segment takes label:value")
    body = {"name": name, "kind": kind, "metric": metric, "threshold": threshold, "comparison": comparison,
            "aggregate": aggregate, "window": window, "for": for_, "severity": severity, "webhooks": webhook or [],
            "group_by": group_by, "score_threshold": score_threshold, "min_samples": min_samples,
            "renotify": renotify, "filters": {"model": model, "service": service, "segment": segments}}
    try:
        spec = RuleSpec.model_validate(body)
    except ValidationError as exc:
        raise _fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'rule'}: {e['msg']}" for e in exc.errors())) from exc
    unknown = [w for w in spec.webhooks if w not in settings.webhooks]
    if unknown:
        raise _fail(f"unknown webhook(s) {', '.join(unknown)} (known: {', '.join(settings.webhooks) or 'none'})")
    project = project or settings.default_project
    try:
        stored = create_rule(_engine(settings), project, spec.model_copy(update={"project": project}))
    except RuleConflict as exc:
        raise _fail(str(exc), 1) from exc
    typer.echo(f"rule {stored.id} {spec.name!r} in project {project!r}: {spec.describe()}")


@alerts_app.command("list")
def list_(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False
          ) -> None:
    """List every rule with its last evaluation."""
    from monitor.alerts.rulestore import list_rules

    rules = list_rules(_engine(_settings(ctx)))
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in rules], default=str, indent=2))
        return
    for r in rules:
        last = "never evaluated" if r.last_evaluated_at is None else (
            f"error: {r.last_error}" if r.last_error else f"value {r.last_value if r.last_value is not None else '-'}")
        state = "" if r.enabled else " (disabled)"
        typer.echo(f"{r.id}\t{r.project}\t{r.spec.name}\t{r.origin}{state}\t{r.spec.severity}\t"
                   f"{r.spec.describe()}\t{last}")


@alerts_app.command("test")
def test(
    ctx: typer.Context,
    rule: Annotated[str, typer.Argument(help="rule id or name")],
    send: Annotated[str | None, typer.Option(help="also send a test notification to this webhook")] = None,
) -> None:
    """Evaluate a rule now and print its value per label set (changes no alert state)."""
    from monitor.alerts import AlertError
    from monitor.alerts.rulestore import find_rule
    from monitor.alerts.service import AlertService, summarise, webhook_secrets

    settings = _settings(ctx)
    engine = _engine(settings)
    service = AlertService(engine, settings, webhook_secrets(settings, os.environ))
    try:
        stored = find_rule(engine, rule)
        readings = summarise(service.read(stored), stored)
    except AlertError as exc:
        raise _fail(str(exc), 1) from exc
    typer.echo(f"{stored.spec.name}: {stored.spec.describe()}")
    for r in readings or [{"labels": {}, "value": None, "samples": 0, "breaching": False}]:
        labels = ",".join(f"{k}={v}" for k, v in r["labels"].items()) or "(all)"
        verdict = "BREACHING" if r["breaching"] else "ok"
        typer.echo(f"  {labels}\tvalue={r['value']}\tsamples={r['samples']}\t{verdict}")
    if send:
        _send_test(service, send, stored.project)


def _send_test(service: Any, webhook: str, project: str) -> None:
    from monitor.alerts import AlertError
    from monitor.alerts.query import deliveries

    try:
        key = service.enqueue_test(webhook, project)
    except AlertError as exc:
        raise _fail(str(exc), 1) from exc
    service.send_once()
    row = next(d for d in deliveries(service.engine, None, limit=50) if d["idempotency_key"] == key)
    if row["status"] != "delivered":
        raise _fail(f"test notification to {webhook!r} not delivered yet: {row['last_error']} "
                    "(the worker keeps retrying it)", 1)
    typer.echo(f"test notification delivered to {webhook!r} (HTTP {row['last_status_code']}, key {key})")


@alerts_app.command("delete")
def delete(ctx: typer.Context, rule: Annotated[str, typer.Argument(help="rule id or name")]) -> None:
    """Delete a rule added with ``alerts add`` or the API; its alert history stays."""
    from monitor.alerts import AlertError
    from monitor.alerts.rulestore import delete_rule, find_rule

    engine = _engine(_settings(ctx))
    try:
        stored = find_rule(engine, rule)
    except AlertError as exc:
        raise _fail(str(exc), 1) from exc
    if stored.origin == "config":
        raise _fail(f"rule {stored.spec.name!r} comes from the config file; remove it there", 1)
    delete_rule(engine, stored.id)
    typer.echo(f"deleted rule {stored.id} {stored.spec.name!r}")
