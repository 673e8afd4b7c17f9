"""The periodic drift job of ``llm-monitor worker``: profile the last complete window, compare, store.

Windows are aligned to ``drift.window_s`` (hourly windows start on the hour), so every replica and
every re-run computes the same windows, and results for a window are replaced, not duplicated.
The reference is the previous window (``reference = "previous"``) or the fixed baseline period.
Heavy imports (pandas, evidently, whylogs, the embedding model) happen in the thread, not at start-up.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from monitor.config import DriftSettings, Settings
from monitor.store.models import ProjectRow

log = logging.getLogger(__name__)


def windows(settings: DriftSettings, now: datetime) -> tuple[Any, Any]:
    """The last complete current window and its reference window."""
    from evaluators.drift.load import Window

    step = settings.window_s
    end = datetime.fromtimestamp(int(now.timestamp()) // step * step, UTC)
    current = Window(end - timedelta(seconds=step), end)
    if settings.reference == "baseline":
        if settings.baseline_start is None or settings.baseline_end is None:
            raise ValueError("drift.reference = 'baseline' needs drift.baseline_start and drift.baseline_end")
        return current, Window(_utc(settings.baseline_start), _utc(settings.baseline_end))
    return current, Window(current.start - timedelta(seconds=step), current.start)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DriftJob:
    """One drift round per call of ``run_once``; the embedder is built on first use."""

    def __init__(self, settings: DriftSettings, engine: Engine, embedder: Any = None) -> None:
        self.settings, self.engine, self._embedder = settings, engine, embedder

    def embedder(self) -> Any:
        if self._embedder is None and self.settings.embeddings:
            from evaluators.config import EvaluatorConfig
            from evaluators.registry import build_backend

            self._embedder = build_backend("embedding", EvaluatorConfig())
        return self._embedder

    def run_once(self, now: datetime | None = None) -> dict[str, int]:
        """Profile and compare the last complete window of every project; returns result rows per project."""
        from evaluators.drift.compare import DriftOptions
        from evaluators.drift.detect import detect, store_profiles, store_results

        current, reference = windows(self.settings, now or datetime.now(UTC))
        options = DriftOptions(min_samples=self.settings.min_samples, embedding_sample=self.settings.embedding_sample)
        with self.engine.connect() as conn:
            projects = conn.execute(select(ProjectRow.id, ProjectRow.name)).all()
        written: dict[str, int] = {}
        for project_rowid, name in projects:
            store_profiles(self.engine, project_rowid, current, self.settings.segments)
            found = detect(self.engine, project_rowid, current, reference, self.settings.segments, options,
                           self.embedder())
            written[name] = store_results(self.engine, project_rowid, current, reference, found)
            drifted = sorted({f"{s.segment}:{r.feature}" for s in found for r in s.results if r.outcome.drifted})
            log.info("drift %s %s..%s: %d result(s), drifted: %s", name, current.start, current.end, written[name],
                     ", ".join(drifted) or "none")
        return written


def drift_thread(settings: Settings, engine: Engine, stop: threading.Event) -> list[threading.Thread]:
    """The job's thread (none when the drift extra is not installed: the worker runs without it)."""
    missing = [name for name in ("evidently", "whylogs", "pandas") if importlib.util.find_spec(name) is None]
    if missing:  # found without importing: start-up stays fast
        log.warning("drift detection is off: install llm-monitor[drift] (missing %s)", ", ".join(missing))
        return []
    job = DriftJob(settings.drift, engine)

    def loop() -> None:
        while not stop.wait(settings.drift.interval_s):
            try:
                job.run_once()
            except Exception:  # a bad round must not end the thread
                log.exception("drift round failed; retrying next interval")

    return [threading.Thread(target=loop, name="llm-monitor-drift", daemon=True)]
