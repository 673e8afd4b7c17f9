"""``llm-monitor worker`` (metrics part): scraping, rollups, retention and GPU-time pricing.

Two threads: the scrape loop (``collectors.prometheus.runner``) and a maintenance loop that,
every ``metrics.maintenance_interval_s``, creates time partitions ahead (PostgreSQL), rolls metric
points up, applies metric and span retention (``[retention]``, ``monitor.store.partitions``), prices
finished calls of self-hosted deployments by GPU time, rolls LLM calls up per hour for the
dashboard's long ranges (``monitor.store.call_rollup``) and labels new calls with their input's
language (``monitor.language_job``). A failing job is logged and retried on
the next round; it never stops the other jobs or the scraper. ``stop()`` lets the current scrape
and job finish (bounded by ``timeout_s``).

Every job is idempotent (rollups are recomputed, prices are written once per call), so two
worker replicas do redundant work, not wrong work; scraped points land once thanks to the
(series, time) unique index only when replicas scrape at the same instant, so run one worker
per set of targets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from collectors.prometheus.runner import run_scrapers
from monitor.alerts.service import AlertService
from monitor.config import Settings
from monitor.gpu_cost import attribute_gpu_costs
from monitor.language_job import label_languages
from monitor.store import make_engine
from monitor.store.call_rollup import roll_up_calls
from monitor.store.partitions import ensure_all, span_retention
from monitor.store.rollup import prune, roll_up

log = logging.getLogger(__name__)


class Worker:
    """Runs the metric jobs until ``stop()``; ``maintain_once()`` runs one round in the caller's thread."""

    def __init__(self, settings: Settings, engine: Engine | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 webhook_secrets: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self._own_engine = engine is None
        self.engine = engine or make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        self._clock = clock
        self.alerts = AlertService(self.engine, settings, webhook_secrets, clock)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the scrape and maintenance threads and return."""
        self._threads = [
            threading.Thread(target=run_scrapers, args=(self.settings, self._stop, self.engine),
                             name="llm-monitor-scrape", daemon=True),
            threading.Thread(target=self._maintain_loop, name="llm-monitor-maintenance", daemon=True),
            *self._alert_threads(),
            *self._evaluation_threads(),
        ]
        for thread in self._threads:
            thread.start()
        log.info("worker started: %d scrape target(s), %d deployment(s)", len(self.settings.scrape.targets),
                 len(self.settings.deployments))

    def _evaluation_threads(self) -> list[threading.Thread]:
        """Online scoring (when ``[evaluators.*]`` tables exist) and the drift job; imported lazily (torch)."""
        threads = []
        if self.settings.evaluators:
            try:
                from evaluators.worker import EvaluationWorker
            except ImportError as exc:  # the worker's other jobs still run
                log.error("online evaluation is off: install llm-monitor[evaluators] (%s)", exc)
            else:
                scorer = EvaluationWorker(self.engine, self.settings.evaluators, self.settings.evaluation)
                threads.append(threading.Thread(target=scorer.run, args=(self._stop,),
                                                name="llm-monitor-evaluations", daemon=True))
        if self.settings.drift.enabled:
            from evaluators.drift.job import drift_thread

            threads.extend(drift_thread(self.settings, self.engine, self._stop))
        return threads

    def run(self) -> None:
        """Start, then block until ``stop()`` (from a signal handler or another thread)."""
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            self.stop()

    def request_stop(self) -> None:
        """Ask ``run()`` to return (safe from a signal handler: it only sets an event)."""
        self._stop.set()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop and wait for the threads (the scrape loop lets in-flight scrapes finish)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout_s)
            if thread.is_alive():
                log.warning("worker thread %s did not stop within %.0f s", thread.name, timeout_s)
        self._threads = []
        if self._own_engine:
            self.engine.dispose()

    def maintain_once(self, now: datetime | None = None) -> dict[str, Any]:
        """Partitions ahead, rollups, retention, GPU-time pricing, input languages; returns what each job did."""
        now = now or self._clock()
        m, r = self.settings.metrics, self.settings.retention
        jobs: dict[str, Callable[[], Any]] = {
            "partitions": lambda: ensure_all(self.engine, now, r.partition_hours, r.metric_partition_hours,
                                             r.ahead_days, r.lock_timeout_s),
            "rollup": lambda: roll_up(self.engine, now, m.rollup_grace_s, timedelta(hours=m.raw_retention_h)),
            "retention": lambda: prune(self.engine, now, timedelta(hours=m.raw_retention_h),
                                       timedelta(days=m.minute_retention_d), timedelta(days=m.hour_retention_d),
                                       m.rollup_grace_s, batch_rows=r.batch_rows, lock_timeout_s=r.lock_timeout_s),
            "span_retention": lambda: span_retention(self.engine, now, r.spans_days, batch_rows=r.batch_rows,
                                                     lock_timeout_s=r.lock_timeout_s),
            "gpu_cost": lambda: attribute_gpu_costs(self.engine, self.settings.deployments, now, m.gpu_cost_settle_s),
            "call_rollup": lambda: roll_up_calls(self.engine, now, m.call_rollup_grace_s),
            "language": lambda: label_languages(self.engine),
        }
        results: dict[str, Any] = {}
        for name, job in jobs.items():
            try:
                results[name] = job()
            except Exception as exc:  # one failing job must not stop the others
                log.exception("worker job %s failed; retrying next round", name)
                results[name] = exc
        return results

    def _maintain_loop(self) -> None:
        interval = self.settings.metrics.maintenance_interval_s
        while not self._stop.wait(interval):
            self.maintain_once()

    def _alert_threads(self) -> list[threading.Thread]:
        """Alert evaluation and webhook delivery; config rules are synced into the database first."""
        try:
            self.alerts.sync_rules()
        except Exception:  # a bad sync must not stop scraping; the loops still run the stored rules
            log.exception("could not sync [[alerts.rules]] into the database")
        return [threading.Thread(target=self._alert_loop, name="llm-monitor-alerts", daemon=True),
                threading.Thread(target=self._send_loop, name="llm-monitor-alert-sender", daemon=True)]

    def _alert_loop(self) -> None:
        """Evaluate every rule each ``alerts.evaluation_interval_s`` (first round right away)."""
        interval = self.settings.alerts.evaluation_interval_s
        while not self._stop.is_set():
            try:
                self.alerts.evaluate_once()
            except Exception:  # the database may be down: log, retry next round
                log.exception("alert evaluation failed; retrying next round")
            self._stop.wait(interval)

    def _send_loop(self) -> None:
        """Drain the outbox: sends due notifications, polls every ``alerts.send_interval_s`` when idle."""
        interval = self.settings.alerts.send_interval_s
        while not self._stop.is_set():
            try:
                busy = sum(self.alerts.send_once().values()) > 0
            except Exception:
                log.exception("alert delivery failed; retrying")
                busy = False
            if not busy:
                self._stop.wait(interval)
