"""``llm-monitor demo``: real traffic from a local model, scored, drifting and alerting, in minutes.

What happens, in order (every step is the product's real path, nothing is written to the database
behind its back):

1. the database is migrated and the OTLP server and the worker start (online scoring with the
   offline relevance, toxicity and hallucination evaluators; an alert rule on toxic answers and one
   on drift, delivered to a local webhook receiver that checks signatures and prints each alert);
2. a support-desk application traced with ``monitor.sdk`` asks the packaged Gemma 3 270M
   (``monitor.demo.generator``) the questions of ``monitor.demo.scenarios``: two "models" (greedy and
   sampled decoding) in A/B variants and two regions, good, off-topic, unfaithful and toxic answers,
   with the inputs drifting halfway; its users send thumbs up or down through ``sdk.feedback``;
3. the worker scores every call; drift is computed for the second half against the first; the
   self-hosted calls are priced by GPU time; the alert arrives at the receiver;
4. the dashboard starts (unless ``--no-dashboard``) and everything runs until Ctrl-C.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.config import Settings
from monitor.demo.scenarios import Request, plan

log = logging.getLogger(__name__)
WEBHOOK = "demo-receiver"
SECRET_ENV = "LLM_MONITOR_DEMO_WEBHOOK_SECRET"
EVALUATORS = ("relevance", "toxicity", "hallucination")
THUMBS_UP_CHANCE = {"good": 0.85, "off_topic": 0.15, "unfaithful": 0.3, "toxic": 0.05}


@dataclass
class DemoResult:
    """What the demo did, for the CLI to print and the tests to check."""

    calls: int = 0
    failed: int = 0
    feedback: int = 0
    scored: dict[str, int] = field(default_factory=dict)
    drift_rows: int = 0
    drifted: list[str] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    gpu_priced: int = 0
    seconds: float = 0.0


def demo_settings(settings: Settings, receiver_url: str) -> Settings:
    """The user's settings plus what the demo needs: evaluators, alert rules, the receiver, GPU prices."""
    from monitor.config import AlertSettings, Deployment, EvaluationSettings, WebhookSettings
    from monitor.demo.generator import MODELS

    rules = [
        {"name": "demo: toxic answers", "kind": "score", "metric": "toxicity", "aggregate": "share_above",
         "score_threshold": 0.5, "threshold": 0.05, "min_samples": 5, "window": "1h", "for": "0s",
         "severity": "critical", "webhooks": [WEBHOOK]},
        {"name": "demo: language drift", "kind": "drift", "metric": "language", "aggregate": "drifted",
         "threshold": 0.5, "comparison": ">=", "window": "1h", "for": "0s", "severity": "warning",
         "webhooks": [WEBHOOK]},
    ]
    alerts = AlertSettings(rules=[*settings.alerts.rules, *rules], evaluation_interval_s=2.0, send_interval_s=0.5,
                           allow_networks=[*settings.alerts.allow_networks, "127.0.0.1/32"],
                           allow_hosts=settings.alerts.allow_hosts)
    webhooks = {**settings.webhooks, WEBHOOK: WebhookSettings(url=receiver_url, secret_env=SECRET_ENV)}
    deployments = [d for d in settings.deployments if d.model not in MODELS] + [
        Deployment(name=f"demo-{m.removeprefix('gemma-3-270m-')}", model=m, gpu_type="L4", usd_per_gpu_hour=0.8)
        for m in MODELS]
    evaluators = {name: {"sample_rate": 1.0} for name in EVALUATORS} | settings.evaluators
    return settings.model_copy(update={
        "alerts": alerts, "webhooks": webhooks, "deployments": deployments, "evaluators": evaluators,
        "evaluation": EvaluationSettings(poll_interval_s=0.5, max_batch_wait_s=1.0),
        "drift": settings.drift.model_copy(update={"enabled": False}),  # the demo runs drift itself, once
    })


def run_demo(settings: Settings, requests: int = 48, seed: int = 7, with_dashboard: bool = True,
             dashboard_port: int = 8501, stop: threading.Event | None = None,
             say: Callable[[str], None] = print, progress: bool = True) -> DemoResult:
    """Run the whole demo; blocks until ``stop`` (or Ctrl-C) when the dashboard runs, else returns."""
    from monitor import sdk
    from monitor.demo.receiver import AlertReceiver
    from monitor.migrate import upgrade
    from monitor.server import start_in_thread
    from monitor.worker import Worker

    stop = stop or threading.Event()
    started = time.perf_counter()
    upgrade(settings.database_url)
    secret = secrets.token_hex(16)
    receiver = AlertReceiver(secret, on_alert=lambda p: say(_describe_alert(p)))
    settings = demo_settings(settings, receiver.url)
    service = start_in_thread(settings, with_grpc=False)
    worker = Worker(settings, engine=service.app.state.engine, webhook_secrets={WEBHOOK: secret})
    result = DemoResult()
    dashboard = None
    try:
        worker.start()
        base = f"http://127.0.0.1:{service.http_port}"
        say(f"llm-monitor is receiving on {base}; loading the local chat model (Gemma 3 270M)…")
        sdk.configure(endpoint=base, service_name="nimbus-support", schedule_delay_s=0.2)
        first_half_start = datetime.now(UTC)
        midpoint = _send_traffic(plan(requests, _models(), seed), result, say, progress, seed)
        sdk.flush(30)
        end = datetime.now(UTC)  # every call has started by now (windows end exclusive on start time)
        say("scoring every call (relevance, toxicity, hallucination)…")
        result.scored = _wait_scored(worker, service.app.state.engine, result.calls, stop)
        result.gpu_priced = _price_gpu_time(service.app.state.engine, settings, end)
        from monitor.language_job import label_languages

        label_languages(service.app.state.engine, limit=None)  # the worker would, within a minute
        result.drift_rows, result.drifted = _drift(service.app.state.engine, settings.default_project,
                                                   first_half_start, midpoint, end)
        say(f"drift of the second half against the first: {', '.join(result.drifted) or 'nothing drifted'}")
        _wait_quiet(lambda: len(receiver.received), 3 * settings.alerts.evaluation_interval_s, 45, stop)
        result.alerts = list(receiver.received)
        result.seconds = time.perf_counter() - started
        say(f"done in {result.seconds:.0f} s: {result.calls} calls ({result.failed} failed), "
            f"{result.feedback} thumbs from users, scores {result.scored}, {len(result.alerts)} alert(s) delivered")
        if with_dashboard and not stop.is_set():
            from dashboard import launch

            dashboard = launch.run(settings, dashboard_port)
            say(f"dashboard on http://127.0.0.1:{dashboard_port} (Ctrl-C stops everything)")
            while not stop.wait(1.0):
                if dashboard.poll() is not None:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        if dashboard is not None and dashboard.poll() is None:
            dashboard.terminate()
            dashboard.wait(timeout=15)
        sdk.shutdown()
        worker.stop()
        service.stop()
        receiver.close()
    return result


def _models() -> tuple[str, str]:
    from monitor.demo.generator import MODELS

    return MODELS


def _send_traffic(requests: list[Request], result: DemoResult, say: Callable[[str], None], show: bool,
                  seed: int) -> datetime:
    """Every request through the traced application, 8 at a time; returns when the drifted half began."""
    from monitor.demo.generator import ChatServer

    server = ChatServer()
    rng = random.Random(seed)
    say(f"sending {len(requests)} requests; halfway the questions drift (a new product, Spanish speakers)")
    half = len(requests) // 2
    midpoint = datetime.now(UTC)
    bar = _progress(len(requests), show)
    try:
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="demo-user") as pool:
            for number, phase in enumerate((requests[:half], requests[half:])):
                if number == 1:
                    midpoint = datetime.now(UTC)
                for outcome in pool.map(lambda r: _handle(server, r, rng.random()), phase):
                    result.calls += 1
                    result.failed += not outcome[0]
                    result.feedback += outcome[1]
                    bar.update(1)
    finally:
        bar.close()
        server.close()
    return midpoint


def _handle(server: Any, request: Request, luck: float) -> tuple[bool, int]:
    """One user request, traced: retrieval, then the LLM call; the user may then vote."""
    from monitor import sdk

    with sdk.context(user_id=request.user, segment={"variant": request.variant, "region": request.region},
                     tags=["demo", "drifted" if request.drifted else "baseline"]), \
            sdk.span("answer question", kind="chain", input=request.question) as chain:
        with sdk.span("search help centre", kind="retrieval", input=request.question) as retrieval:
            retrieval.set_output([request.article])
        messages = [{"role": "system", "content": f"{request.system}\n\nArticle: {request.shown_article}"},
                    {"role": "user", "content": request.question}]
        with sdk.span(f"chat {request.model}", kind="llm", model=request.model, provider="local",
                      input=messages) as llm:
            llm.set_attribute("retrieval.documents.0.document.content", request.article)
            llm.set_attribute("server.address", "127.0.0.1")
            try:
                out = server.submit(f"{request.system}\n\nArticle: {request.shown_article}",
                                    f"Question: {request.shown_question}", request.model).result(timeout=600)
            except Exception as exc:
                llm.set_attribute("error.type", type(exc).__name__)
                raise
            llm.set_attribute("gen_ai.response.time_to_first_chunk", out.ttft_s)
            llm.set_output({"id": f"demo-{request.index}", "object": "chat.completion", "model": request.model,
                            "choices": [{"index": 0, "finish_reason": out.finish_reason,
                                         "message": {"role": "assistant", "content": out.text}}],
                            "usage": {"prompt_tokens": out.input_tokens, "completion_tokens": out.output_tokens,
                                      "total_tokens": out.input_tokens + out.output_tokens}})
        chain.set_output(out.text)
        from opentelemetry import trace

        trace_id = f"{trace.get_current_span().get_span_context().trace_id:032x}"
    voted = 0
    if luck < 0.6:  # most users do not vote
        up = random.Random(request.index).random() < THUMBS_UP_CHANCE[request.kind]
        voted = int(sdk.feedback(trace_id, thumbs="up" if up else "down", user=request.user,
                                 raise_errors=False) is not None)
    return True, voted


def _progress(total: int, show: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="demo requests", unit="req", disable=not show)


def _wait_for(condition: Callable[[], bool], timeout_s: float, stop: threading.Event) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop.is_set():
        if condition():
            return True
        time.sleep(0.5)
    return condition()


def _wait_quiet(count: Callable[[], int], quiet_s: float, timeout_s: float, stop: threading.Event) -> None:
    """Wait until ``count`` is non-zero and has not changed for ``quiet_s`` (every rule had its turn)."""
    deadline = time.monotonic() + timeout_s
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline and not stop.is_set():
        time.sleep(0.5)
        now_count = count()
        if now_count != last:
            last, since = now_count, time.monotonic()
        elif last and time.monotonic() - since >= quiet_s:
            return


def _wait_scored(worker: Any, engine: Any, calls: int, stop: threading.Event, timeout_s: float = 600) -> dict[str, int]:
    """Wait until every evaluator has scored (or parked) every call."""
    from sqlalchemy import func, select

    from monitor.store.models import ScoreRow

    def counts() -> dict[str, int]:
        with engine.connect() as conn:
            rows = conn.execute(select(ScoreRow.name, func.count()).where(ScoreRow.source == "evaluator")
                                .group_by(ScoreRow.name)).all()
        return {name: int(n) for name, n in rows}

    _wait_for(lambda: all(counts().get(name, 0) >= calls for name in EVALUATORS), timeout_s, stop)
    return counts()


def _price_gpu_time(engine: Any, settings: Settings, end: datetime) -> int:
    from monitor.gpu_cost import attribute_gpu_costs

    settled = end + timedelta(seconds=settings.metrics.gpu_cost_settle_s)
    return attribute_gpu_costs(engine, settings.deployments, settled)


def _drift(engine: Any, project_name: str, start: datetime, midpoint: datetime, end: datetime
           ) -> tuple[int, list[str]]:
    """The drifted half against the first half, for all traffic and per model and variant."""
    from evaluators.config import EvaluatorConfig
    from evaluators.drift.compare import DriftOptions
    from evaluators.drift.detect import detect, store_results
    from evaluators.drift.load import Window
    from evaluators.registry import build_backend
    from monitor.store.keys import get_or_create_project

    project = get_or_create_project(engine, project_name).rowid
    reference, current = Window(start, midpoint), Window(midpoint, end)
    found = detect(engine, project, current, reference, ["model", "segment.variant"], DriftOptions(min_samples=5),
                   build_backend("embedding", EvaluatorConfig()))
    rows = store_results(engine, project, current, reference, found)
    return rows, sorted({f"{s.segment}:{r.feature}" for s in found for r in s.results if r.outcome.drifted})


def _describe_alert(payload: dict[str, Any]) -> str:
    """One line per delivered notification (the generic JSON format of ``monitor.alerts.payloads``)."""
    alert = payload.get("alert", {})
    labels = ", ".join(f"{k}={v}" for k, v in sorted((alert.get("labels") or {}).items()))
    value = alert.get("value")
    shown = "no data" if value is None else f"{value:.3g}"
    return (f"\n>>> webhook received ({payload.get('transition')}, signature checked): {alert.get('rule')} "
            f"[{alert.get('severity')}] {alert.get('condition')}; value {shown}"
            f"{f' ({labels})' if labels else ''}\n")
