"""``llm-monitor`` command line: the composition root that reads Settings once and passes them down."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from pydantic import ValidationError

from monitor.cli_alerts import alerts_app
from monitor.config import Settings, load_settings

app = typer.Typer(help="llm-monitor: LLM observability and evaluation.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(alerts_app, name="alerts")


def _settings(ctx: typer.Context) -> Settings:
    if ctx.obj is None:
        ctx.obj = load_settings()
    return ctx.obj


@app.callback()
def main(ctx: typer.Context, verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        ctx.obj = load_settings()
    except ValidationError as exc:  # a bad setting (e.g. a [privacy] pattern that is not a regex) stops startup
        typer.echo(f"llm-monitor: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Upgrade the database to the latest schema (safe to run repeatedly); on PostgreSQL, create the time
    partitions ahead as ``[retention]`` says."""
    from datetime import UTC, datetime

    from monitor.migrate import upgrade
    from monitor.store import make_engine
    from monitor.store.partitions import ensure_all

    settings = _settings(ctx)
    upgrade(settings.database_url)
    r = settings.retention
    engine = make_engine(settings.database_url)
    try:
        created = ensure_all(engine, datetime.now(UTC), r.partition_hours, r.metric_partition_hours, r.ahead_days,
                             r.lock_timeout_s)
    finally:
        engine.dispose()
    if created:
        typer.echo(f"created {len(created)} partition(s), up to {created[-1]}")
    typer.echo(f"database at head: {_safe_url(settings.database_url)}")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="OTLP/HTTP and REST port (default 4318)")] = None,
    grpc_port: Annotated[int | None, typer.Option(help="OTLP/gRPC port (default 4317)")] = None,
    workers: Annotated[int | None, typer.Option(
        help="processes sharing the ports (default [server] workers: 0 = one per CPU core, at most 4)")] = None,
) -> None:
    """Run the OTLP receivers (HTTP and gRPC) and the REST API."""
    from monitor.migrate import current_revision, head_revision
    from monitor.server import serve as run
    from monitor.supervisor import ListenError

    settings = _settings(ctx)
    overrides = {k: v for k, v in {"host": host, "port": port, "grpc_port": grpc_port, "workers": workers}.items()
                 if v is not None}
    settings = settings.model_copy(update={"server": settings.server.model_copy(update=overrides)})
    if current_revision(settings.database_url) != head_revision():
        typer.echo("the database schema is not up to date: run `llm-monitor migrate` first", err=True)
        raise typer.Exit(2)
    try:
        code = run(settings)
    except ListenError as exc:  # the ports are checked before the workers start
        typer.echo(exc.strerror, err=True)
        raise typer.Exit(1) from exc
    if code:
        raise typer.Exit(code)


@app.command()
def up(
    ctx: typer.Context,
    dashboard_port: Annotated[int, typer.Option(help="dashboard port")] = 8501,
    no_dashboard: Annotated[bool, typer.Option("--no-dashboard", help="server and worker only")] = False,
) -> None:
    """Migrate, then run server, worker and dashboard together until Ctrl-C."""
    from monitor.up import run_up

    settings = _with_evaluator_secrets(_settings(ctx))
    run_up(settings, dashboard_port=dashboard_port, with_dashboard=not no_dashboard,
           webhook_secrets=_webhook_secrets(settings))


@app.command()
def worker(ctx: typer.Context) -> None:
    """Background jobs: scraping, rollups and retention, GPU-time pricing, online evaluation and drift."""
    import signal

    from monitor.migrate import current_revision, head_revision
    from monitor.worker import Worker

    settings = _settings(ctx)
    if current_revision(settings.database_url) != head_revision():
        typer.echo("the database schema is not up to date: run `llm-monitor migrate` first", err=True)
        raise typer.Exit(2)
    settings = _with_evaluator_secrets(settings)
    w = Worker(settings, webhook_secrets=_webhook_secrets(settings))
    signal.signal(signal.SIGTERM, lambda *_: w.request_stop())
    w.run()  # Ctrl-C also stops it cleanly


@app.command("eval")
def eval_(
    ctx: typer.Context,
    evaluator: Annotated[str, typer.Option(help="relevance, hallucination, toxicity, coherence, prompt_injection "
                                                "or a custom judge named in [evaluators.NAME]")],
    input: Annotated[str | None, typer.Option("--input", help="JSONL: input, output, optional context/reference")]
    = None,
    output: Annotated[str | None, typer.Option(help="JSONL to write (default: stdout)")] = None,
    since: Annotated[str | None, typer.Option(help="instead of --input: score stored calls since 24h, 7d or an "
                                                   "ISO time, writing scores to the database")] = None,
    until: Annotated[str | None, typer.Option(help="with --since: stored calls before this ISO time")] = None,
    project: Annotated[str | None, typer.Option(help="with --since: only this project's calls")] = None,
    backend: Annotated[str | None, typer.Option(help="judge_transformers, judge_openai, classifier, embedding")] = None,
    model: Annotated[str | None, typer.Option(help="model id or local path for the backend")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="hide the progress bar")] = False,
) -> None:
    """Score a JSONL file with one evaluator (each output line adds score, label and explanation), or with
    --since the stored calls that lack this evaluator's score (a backfill; scores go to the database)."""
    import os

    try:
        from evaluators.batch import run_batch
        from evaluators.config import resolve_secrets
        from evaluators.errors import EvaluatorError
    except ImportError as exc:  # pragma: no cover - depends on the install
        typer.echo(f"evaluators need their extra: pip install 'llm-monitor[evaluators]' ({exc})", err=True)
        raise typer.Exit(2) from exc
    settings = _settings(ctx)
    tables = {name: resolve_secrets(table, os.environ) for name, table in settings.evaluators.items()}
    if (input is None) == (since is None):
        typer.echo("give either --input FILE.jsonl or --since (e.g. 24h) to score stored calls", err=True)
        raise typer.Exit(2)
    if since is not None:
        raise typer.Exit(_backfill(settings, evaluator, tables, since, until, project, backend, model, no_progress))
    try:
        summary = run_batch(evaluator, input or "", output, backend=backend, model=model, settings_evaluators=tables,
                            progress=not no_progress)
    except (EvaluatorError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(summary.describe(), err=True)
    for message in summary.errors:
        typer.echo(f"  {message}", err=True)
    raise typer.Exit(summary.exit_code)


def _backfill(settings: Settings, evaluator: str, tables: dict, since: str, until: str | None, project: str | None,
              backend: str | None, model: str | None, no_progress: bool) -> int:
    """``eval --since``: score stored calls in bulk; returns the exit code."""
    from datetime import UTC, datetime

    from evaluators.backfill import backfill, parse_since
    from evaluators.errors import EvaluatorError
    from evaluators.registry import build_evaluator
    from monitor.store import make_engine

    now = datetime.now(UTC)
    try:
        start, end = parse_since(since, now), parse_since(until, now) if until else None
        scorer = build_evaluator(evaluator, tables, backend=backend, model=model)
        summary = backfill(make_engine(settings.database_url), scorer, start, end, project=project,
                           progress=not no_progress)
    except (EvaluatorError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    typer.echo(summary.describe(), err=True)
    for message in summary.errors[:5]:
        typer.echo(f"  {message}", err=True)
    return summary.exit_code


@app.command()
def dashboard(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="dashboard port")] = 8501,
    host: Annotated[str, typer.Option(help="bind address; the dashboard has no login of its own")] = "127.0.0.1",
) -> None:
    """Run the Streamlit dashboard (needs `pip install 'llm-monitor[dashboard]'`)."""
    from dashboard import launch
    from monitor.migrate import current_revision, head_revision

    if not launch.available():
        typer.echo("the dashboard needs its extra: pip install 'llm-monitor[dashboard]'", err=True)
        raise typer.Exit(2)
    settings = _settings(ctx)
    if current_revision(settings.database_url) != head_revision():
        typer.echo("the database schema is not up to date: run `llm-monitor migrate` first", err=True)
        raise typer.Exit(2)
    typer.echo(f"dashboard on http://{host}:{port}", err=True)
    proc = launch.run(settings, port, host)
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reaches the child too; let it finish
        proc.terminate()
        code = proc.wait(timeout=15)
    raise typer.Exit(0 if code in (0, -2, -15) else code)


@app.command()
def demo(
    ctx: typer.Context,
    requests: Annotated[int, typer.Option(min=4, max=2000, help="LLM requests to generate")] = 48,
    dashboard_port: Annotated[int, typer.Option(help="dashboard port")] = 8501,
    no_dashboard: Annotated[bool, typer.Option("--no-dashboard", help="stop once the demo traffic is done")] = False,
    seed: Annotated[int, typer.Option(help="seed of the traffic mix")] = 7,
) -> None:
    """Real traffic from a local model (Gemma 3 270M), scored, drifting and alerting; then the dashboard."""
    import importlib.util

    missing = [m for m in ("torch", "transformers", "evidently", "streamlit") if importlib.util.find_spec(m) is None]
    if missing:
        typer.echo(f"the demo needs the evaluators, drift and dashboard extras (missing {', '.join(missing)}): "
                   "pip install torch==2.13.0 && pip install 'llm-monitor[all]'", err=True)
        raise typer.Exit(2)
    from monitor.demo.run import run_demo

    settings = _settings(ctx)
    typer.echo(f"demo database: {_safe_url(settings.database_url)}", err=True)
    result = run_demo(settings, requests=requests, seed=seed, with_dashboard=not no_dashboard,
                      dashboard_port=dashboard_port, say=lambda line: typer.echo(line, err=True))
    raise typer.Exit(0 if result.calls and not result.failed else 1)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    project: Annotated[str, typer.Option(help="project the key writes to and reads from")],
    name: Annotated[str | None, typer.Option(help="a label for the key")] = None,
    scope: Annotated[list[str] | None, typer.Option(help="ingest, read, admin (repeatable)")] = None,
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    from monitor.store import make_engine
    from monitor.store.keys import DEFAULT_SCOPES, create_key

    engine = make_engine(_settings(ctx).database_url)
    secret, info = create_key(engine, project, name, tuple(scope) if scope else DEFAULT_SCOPES)
    typer.echo(secret)
    typer.echo(f"key {info.id} ({info.prefix}…) for project {info.project!r}, scopes {','.join(info.scopes)}; "
               "it is shown only now, store it safely.", err=True)


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """List keys (prefix, project, scopes, state); secrets are never shown."""
    from monitor.store import make_engine
    from monitor.store.keys import list_keys

    for k in list_keys(make_engine(_settings(ctx).database_url)):
        state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        typer.echo(f"{k.id}\t{k.prefix}…\t{k.project}\t{','.join(k.scopes)}\t{k.name or ''}\t{state}")


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key: Annotated[str, typer.Argument(help="key id or printed prefix")]) -> None:
    """Revoke a key by id or prefix."""
    from monitor.store import make_engine
    from monitor.store.keys import revoke_key

    count = revoke_key(make_engine(_settings(ctx).database_url), key)
    if not count:
        typer.echo(f"no active key matches {key!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {count} key(s)")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _webhook_secrets(settings: Settings) -> dict[str, str]:
    """Each webhook's HMAC secret from the variable its ``secret_env`` names; missing ones are reported."""
    import os

    from monitor.alerts.service import webhook_secrets

    found = webhook_secrets(settings, os.environ)
    for name, hook in settings.webhooks.items():
        if name not in found:
            typer.echo(f"warning: webhook {name!r} has no secret ({hook.secret_env} is unset); its notifications "
                       "wait in the outbox until it is set", err=True)
    return found


def _with_evaluator_secrets(settings: Settings) -> Settings:
    """Evaluator tables with ``api_key_env`` resolved: secrets are read here, the composition root, never in
    library code."""
    if not settings.evaluators:
        return settings
    import os

    from evaluators.config import resolve_secrets

    resolved = {name: resolve_secrets(table, os.environ) for name, table in settings.evaluators.items()}
    return settings.model_copy(update={"evaluators": resolved})
