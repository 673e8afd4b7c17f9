"""The scrape loop the worker runs: every target on its own interval, a bounded pool of fetchers.

Each scrape stores its points plus three health series per target (``llm_monitor.scrape.up``,
``…duration``, ``…samples``), so a target that is down is visible, not silent. A scrape that is
still running when its target is due again is skipped (counted, never queued), so a slow target
cannot pile up threads. When the database refuses a write, the batch is kept (a bounded number
per target) and written before the next one; counters are stored cumulative, so even a dropped
batch loses no increment, only that interval's gauge values.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from collectors.prometheus.convert import TargetInfo
from collectors.prometheus.names import SCRAPE_DURATION, SCRAPE_SAMPLES, SCRAPE_UP
from collectors.prometheus.scrape import ScrapeError, Scraper
from monitor.config import ScrapeTarget, Settings
from monitor.store.keys import get_or_create_project
from monitor.store.metric_writer import MetricWriter
from monitor.store.points import GAUGE, MetricPoint

log = logging.getLogger(__name__)
UP, DURATION, SAMPLES = SCRAPE_UP, SCRAPE_DURATION, SCRAPE_SAMPLES
MAX_PENDING_BATCHES = 12


@dataclass
class TargetState:
    """What the runner knows of one target between scrapes."""

    target: ScrapeTarget
    scraper: Scraper
    project_rowid: int
    next_due: float = 0.0
    in_flight: Future | None = None
    pending: deque[list[MetricPoint]] = field(default_factory=lambda: deque(maxlen=MAX_PENDING_BATCHES))
    up: bool | None = None
    scrapes: int = 0
    failures: int = 0
    skipped: int = 0
    dropped_batches: int = 0
    refused_points: int = 0


class ScrapeRunner:
    """Scrapes the configured targets; ``run(stop)`` loops, ``scrape_once(name)`` serves tests and tools."""

    def __init__(self, settings: Settings, engine: Engine, writer: MetricWriter | None = None) -> None:
        self.writer = writer or MetricWriter(engine)
        self._pool = ThreadPoolExecutor(max_workers=settings.scrape.max_concurrent, thread_name_prefix="scrape")
        self.targets: dict[str, TargetState] = {}
        projects: dict[str, int] = {}
        for t in settings.scrape.targets:
            project = t.project or settings.default_project
            if project not in projects:
                projects[project] = get_or_create_project(engine, project).rowid
            timeout = t.timeout_s or min(t.interval_s, 10.0)
            scraper = Scraper(TargetInfo(t.name, t.kind, dict(t.labels)), t.url, timeout,
                              settings.scrape.max_body_bytes)
            self.targets[t.name] = TargetState(t, scraper, projects[project])

    def run(self, stop: threading.Event) -> None:
        """Scrape until ``stop`` is set; returns after in-flight scrapes finish."""
        start = time.monotonic()
        for i, state in enumerate(self.targets.values()):  # spread first scrapes over one interval
            state.next_due = start + state.target.interval_s * i / max(len(self.targets), 1)
        try:
            while not stop.is_set():
                now = time.monotonic()
                for state in self.targets.values():
                    if now >= state.next_due:
                        self._launch(state, now)
                wake = min((s.next_due for s in self.targets.values()), default=now + 1.0)
                stop.wait(max(wake - time.monotonic(), 0.01))
        finally:
            self.close()

    def scrape_once(self, name: str, now_ns: int | None = None) -> bool:
        """Scrape one target now, in this thread (stamped ``now_ns`` if given); returns whether it was up."""
        state = self.targets[name]
        self._scrape(state, now_ns)
        return bool(state.up)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for state in self.targets.values():
            state.scraper.close()

    def _launch(self, state: TargetState, now: float) -> None:
        interval = state.target.interval_s
        state.next_due += interval * max(1, int((now - state.next_due) // interval) + 1)
        if state.in_flight is not None and not state.in_flight.done():
            state.skipped += 1
            log.debug("scrape of %s still running; skipping this interval", state.target.name)
            return
        state.in_flight = self._pool.submit(self._scrape, state)

    def _scrape(self, state: TargetState, now_ns: int | None = None) -> None:
        state.scrapes += 1
        now_ns = now_ns if now_ns is not None else time.time_ns()
        try:
            result = state.scraper.scrape(now_ns)
            points = result.points + self._health(state, now_ns, 1.0, result.duration_s, result.samples)
            self._set_up(state, True, None)
        except ScrapeError as exc:
            state.failures += 1
            points = self._health(state, now_ns, 0.0, None, None)
            self._set_up(state, False, str(exc))
        except Exception:  # a bug must not stop the loop for every other target
            state.failures += 1
            log.exception("scrape of %s failed unexpectedly", state.target.name)
            points = self._health(state, now_ns, 0.0, None, None)
        self._store(state, points)

    def _store(self, state: TargetState, points: list[MetricPoint]) -> None:
        if len(state.pending) == state.pending.maxlen:
            state.dropped_batches += 1
            log.warning("%s: database unavailable for %d scrapes; dropping the oldest batch (%d dropped so far)",
                        state.target.name, len(state.pending), state.dropped_batches)
        state.pending.append(points)
        while state.pending:
            try:
                self.writer.write_points(state.project_rowid, state.pending[0])
            except (OperationalError, InterfaceError) as exc:
                log.warning("%s: cannot store scraped points yet (%s); will retry", state.target.name,
                            exc.__class__.__name__)
                return
            except SQLAlchemyError:  # a point the database refuses must not block the target forever
                try:
                    self._store_one_by_one(state, state.pending[0])
                except (OperationalError, InterfaceError):
                    return  # kept; rewriting the points already stored is harmless (one per series and time)
            state.pending.popleft()

    def _store_one_by_one(self, state: TargetState, points: list[MetricPoint]) -> None:
        refused = 0
        for point in points:
            try:
                self.writer.write_points(state.project_rowid, [point])
            except (OperationalError, InterfaceError):
                raise
            except SQLAlchemyError as exc:
                refused += 1
                log.warning("%s: the database refused %s: %s", state.target.name, point.name,
                            str(getattr(exc, "orig", exc))[:200])
        state.refused_points += refused

    def _health(self, state: TargetState, now_ns: int, up: float, duration: float | None,
                samples: int | None) -> list[MetricPoint]:
        labels = dict(state.target.labels)
        source = state.target.name
        out = [MetricPoint(UP, GAUGE, now_ns, up, labels, "1", source)]
        if duration is not None:
            out.append(MetricPoint(DURATION, GAUGE, now_ns, duration, dict(labels), "s", source))
        if samples is not None:
            out.append(MetricPoint(SAMPLES, GAUGE, now_ns, float(samples), dict(labels), "{sample}", source))
        return out

    def _set_up(self, state: TargetState, up: bool, reason: str | None) -> None:
        if state.up is not up:  # log transitions, not every failed scrape
            if up:
                log.info("scrape target %s is up (%s)", state.target.name, state.target.url)
            else:
                log.warning("scrape target %s is down: %s", state.target.name, reason)
        state.up = up


def run_scrapers(settings: Settings, stop_event: threading.Event, engine: Engine | None = None) -> None:
    """Blocking entry point for ``llm-monitor worker``: scrape every configured target until stopped."""
    from monitor.store import make_engine

    own = engine is None
    engine = engine or make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        if not settings.scrape.targets:
            log.info("no [[scrape.targets]] configured; the scraper is idle")
            stop_event.wait()
            return
        ScrapeRunner(settings, engine).run(stop_event)
    finally:
        if own:
            engine.dispose()
