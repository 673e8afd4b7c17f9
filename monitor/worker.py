"""``llm-monitor worker`` (metrics part): scraping, rollups, retention and GPU-time pricing.

Two threads: the scrape loop (``collectors.prometheus.runner``) and a maintenance loop that,
every ``metrics.maintenance_interval_s``, rolls metric points up, applies retention and prices
finished calls of self-hosted deployments by GPU time. A failing job is logged and retried on
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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from collectors.prometheus.runner import run_scrapers
from monitor.config import Settings
from monitor.gpu_cost import attribute_gpu_costs
from monitor.store import make_engine
from monitor.store.rollup import prune, roll_up

log = logging.getLogger(__name__)


class Worker:
    """Runs the metric jobs until ``stop()``; ``maintain_once()`` runs one round in the caller's thread."""

    def __init__(self, settings: Settings, engine: Engine | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self._own_engine = engine is None
        self.engine = engine or make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        self._clock = clock
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the scrape and maintenance threads and return."""
        self._threads = [
            threading.Thread(target=run_scrapers, args=(self.settings, self._stop, self.engine),
                             name="llm-monitor-scrape", daemon=True),
            threading.Thread(target=self._maintain_loop, name="llm-monitor-maintenance", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info("worker started: %d scrape target(s), %d deployment(s)", len(self.settings.scrape.targets),
                 len(self.settings.deployments))

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
        """Rollups, retention, GPU-time pricing; returns what each job did (or its error)."""
        now = now or self._clock()
        m = self.settings.metrics
        jobs: dict[str, Callable[[], Any]] = {
            "rollup": lambda: roll_up(self.engine, now, m.rollup_grace_s, timedelta(hours=m.raw_retention_h)),
            "retention": lambda: prune(self.engine, now, timedelta(hours=m.raw_retention_h),
                                       timedelta(days=m.minute_retention_d), timedelta(days=m.hour_retention_d),
                                       m.rollup_grace_s),
            "gpu_cost": lambda: attribute_gpu_costs(self.engine, self.settings.deployments, now, m.gpu_cost_settle_s),
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
