"""The online scoring worker: queue new LLM calls per evaluator, claim them in batches, score, write.

One loop serves every configured evaluator (``[evaluators.NAME]`` tables). Each round it queues
calls that arrived since the last round (sampling and filters from ``evaluators.sampling``), then
per evaluator claims up to a batch and scores it when the batch is full or its oldest item has
waited ``max_batch_wait_s`` (so GPU judges run full batches without starving a quiet service).
A failed batch goes back with an exponential backoff; an item that fails ``max_attempts`` times is
parked with its error (``GET /api/v1/evaluations/queue`` shows it). ``stop`` lets the batch in
hand finish, then releases what is still claimed.

On PostgreSQL any number of workers share the queue (``SKIP LOCKED`` claims); on SQLite the
worker that holds the ``evaluations`` lease runs and the others wait for it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from evaluators import lease, queue
from evaluators.base import Evaluator
from evaluators.errors import InvalidItemError
from evaluators.queue import Claimed
from evaluators.queue_stats import queue_stats
from evaluators.registry import build_evaluator
from evaluators.sampling import SamplingRule
from monitor.config import EvaluationSettings

log = logging.getLogger(__name__)
LEASE_NAME = "evaluations"
STATS_LOG_INTERVAL_S = 60.0
ENQUEUE_GRACE_S = 60.0  # spans committed up to this late, out of id order, are still queued on the next round
FULL_SCAN_S = 600.0  # and every so often the whole lookback is scanned again, for anything later still


def new_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class EvaluationWorker:
    """Scores live traffic for the configured evaluators until ``stop`` is set."""

    def __init__(self, engine: Engine, tables: Mapping[str, Mapping[str, Any]], options: EvaluationSettings,
                 *, evaluators: Mapping[str, Evaluator] | None = None, worker_id: str | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine, self.options, self.clock = engine, options, clock
        self.worker_id = worker_id or new_worker_id()
        self.rules = {name: SamplingRule.from_table(table) for name, table in tables.items()}
        self._evaluators = dict(evaluators or {})
        self._tables = tables
        self._held: dict[str, list[Claimed]] = {name: [] for name in tables}
        self._held_since: dict[str, float] = {}
        self._sqlite = engine.dialect.name == "sqlite"
        self._last_stats = 0.0
        self._marks: dict[str, list[tuple[float, int]]] = {name: [] for name in tables}  # (monotonic, max span id)
        self._last_full_scan: dict[str, float] = {}

    def evaluator(self, name: str) -> Evaluator:
        """Built on first use, so a worker with a broken model table still serves the others."""
        if name not in self._evaluators:
            self._evaluators[name] = build_evaluator(name, self._tables)
        return self._evaluators[name]

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set; then finish nothing new, release claims and the SQLite lease."""
        log.info("evaluation worker %s: %s", self.worker_id, ", ".join(self.rules) or "no evaluators")
        try:
            while not stop.is_set():
                if self._sqlite and not self._hold_lease():
                    stop.wait(self.options.poll_interval_s)
                    continue
                try:
                    busy = self.run_once(stop=stop)
                except Exception:  # a database outage must not end the thread; retry next round
                    log.exception("evaluation round failed; retrying")
                    busy = 0
                self._maybe_log_stats()
                if not busy:
                    stop.wait(self.options.poll_interval_s)
        finally:
            self.shutdown()

    def run_once(self, *, flush: bool = False, stop: threading.Event | None = None) -> int:
        """One round: enqueue, then claim and score per evaluator; returns the calls scored or parked."""
        now = self.clock()
        for name, rule in self.rules.items():
            found = queue.enqueue(self.engine, name, rule, now, timedelta(hours=self.options.lookback_h),
                                  self.options.enqueue_limit, self._scan_from(name))
            self._marks[name].append((time.monotonic(), found["max_rowid"]))
        done = 0
        for name in self.rules:
            if stop is not None and stop.is_set():
                break
            try:
                done += self._step(name, flush)
            except Exception:  # one broken evaluator (a model that will not load) must not stop the others
                log.exception("evaluator %s could not run this round", name)
        return done

    def _scan_from(self, name: str) -> int:
        """The span id above which new calls are looked for: what was seen ``ENQUEUE_GRACE_S`` ago.

        Ids are assigned before commit, so a span can become visible after one with a higher id;
        rescanning the last minute (and the whole lookback every ``FULL_SCAN_S``) catches it, while a
        round stays proportional to the traffic of the last minute, not of the last day.
        """
        now = time.monotonic()
        if now - self._last_full_scan.get(name, float("-inf")) >= FULL_SCAN_S:
            self._last_full_scan[name] = now
            self._marks[name] = []
            return 0
        marks = self._marks[name]
        settled = [mark for at, mark in marks if now - at >= ENQUEUE_GRACE_S]
        if settled:
            self._marks[name] = [m for m in marks if now - m[0] < ENQUEUE_GRACE_S] + [(now - ENQUEUE_GRACE_S,
                                                                                          max(settled))]
        return max(settled, default=0)

    def _step(self, name: str, flush: bool) -> int:
        evaluator = self.evaluator(name)
        held = self._held[name]
        wanted = evaluator.batch_size - len(held)
        if wanted > 0:
            fresh = queue.claim(self.engine, name, self.worker_id, wanted, self.clock(),
                                timedelta(seconds=self.options.lease_s))
            if fresh and not held:
                self._held_since[name] = time.monotonic()
            held.extend(fresh)
        if not held:
            return 0
        waited = time.monotonic() - self._held_since.get(name, time.monotonic())
        if len(held) < evaluator.batch_size and waited < self.options.max_batch_wait_s and not flush:
            return 0
        batch, self._held[name] = held, []
        return self.process(evaluator, batch)

    def process(self, evaluator: Evaluator, batch: list[Claimed]) -> int:
        """Score one batch and record the outcome; never raises for an evaluator's failure."""
        valid, invalid = [], []
        for claimed in batch:
            try:
                evaluator.validate([claimed.item])
                valid.append(claimed)
            except InvalidItemError as exc:
                invalid.append((claimed, str(exc)))
        for claimed, message in invalid:  # no retry can add the missing text
            queue.park(self.engine, self.worker_id, [claimed], message, self.clock())
        if not valid:
            return len(invalid)
        try:
            scores = evaluator.score([c.item for c in valid])
        except Exception as exc:
            outcome = queue.fail(self.engine, self.worker_id, valid, f"{type(exc).__name__}: {exc}", self.clock(),
                                 self.options.max_attempts, self.options.backoff_s, self.options.max_backoff_s)
            log.warning("%s: batch of %d failed (%s); %d will retry, %d parked", evaluator.score_name, len(valid),
                        exc, outcome[queue.PENDING], outcome[queue.PARKED])
            return len(invalid) + outcome[queue.PARKED]
        written = queue.complete(self.engine, self.worker_id, list(zip(valid, scores, strict=True)), self.clock())
        if written < len(valid):
            log.warning("%s: %d claim(s) expired before their scores were written; another worker has them",
                        evaluator.score_name, len(valid) - written)
        return written + len(invalid)

    def shutdown(self) -> None:
        """Release every claim still held (nothing is lost: they are pending again) and the lease."""
        held = [c.queue_id for batch in self._held.values() for c in batch]
        self._held = {name: [] for name in self.rules}
        try:
            released = queue.release(self.engine, self.worker_id, held, self.clock())
            if released:
                log.info("evaluation worker %s released %d claimed call(s)", self.worker_id, released)
            if self._sqlite:
                lease.release(self.engine, LEASE_NAME, self.worker_id)
        except Exception:
            log.exception("could not release claims on shutdown; they return when their lease expires")

    def _hold_lease(self) -> bool:
        ttl = timedelta(seconds=max(self.options.lease_s, 10 * self.options.poll_interval_s))
        return lease.acquire(self.engine, LEASE_NAME, self.worker_id, self.clock(), ttl)

    def _maybe_log_stats(self) -> None:
        if time.monotonic() - self._last_stats < STATS_LOG_INTERVAL_S:
            return
        self._last_stats = time.monotonic()
        for entry in queue_stats(self.engine, self.clock(), parked_limit=0):
            age = entry["oldest_unscored_age_s"]
            log.info("evaluation queue %s: depth %d, oldest unscored %s, done %d, parked %d", entry["evaluator"],
                     entry["depth"], f"{age:.0f} s" if age is not None else "-", entry["done"], entry["parked"])
