"""``llm-monitor up``: server, worker and dashboard together on one machine, stopped by Ctrl-C.

Meant for a laptop or a single VM on the embedded SQLite default; in production run
``serve``, ``worker`` and ``dashboard`` as separate processes.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from collections.abc import Mapping
from typing import Any

from monitor.config import Settings
from monitor.heap import freeze_startup_heap
from monitor.migrate import upgrade
from monitor.server import start_in_thread
from monitor.worker import Worker

log = logging.getLogger(__name__)


def run_up(settings: Settings, dashboard_port: int = 8501, with_dashboard: bool = True,
           stop: threading.Event | None = None, webhook_secrets: Mapping[str, str] | None = None) -> None:
    """Migrate, start everything, block until ``stop`` is set (or Ctrl-C / SIGTERM), stop everything."""
    stop = stop or threading.Event()
    upgrade(settings.database_url)
    s = settings.server
    service = start_in_thread(settings, host=s.host, port=s.port, grpc_port=s.grpc_port,
                              with_grpc=s.grpc_enabled)
    worker = Worker(settings, webhook_secrets=webhook_secrets)
    worker.start()
    dashboard = _start_dashboard(settings, dashboard_port) if with_dashboard else None
    if s.freeze_heap:  # everything above lives until we stop; keep the collector's scans short
        service.app.state.ingest.warm_up()
        freeze_startup_heap()
    log.info("llm-monitor is up: OTLP and REST on http://%s:%d, OTLP/gRPC on %s:%s%s", s.host, service.http_port,
             s.host, service.grpc_port, f", dashboard on http://127.0.0.1:{dashboard_port}" if dashboard else "")
    previous = _on_sigterm(stop)
    try:
        while not stop.wait(0.5):
            if dashboard is not None and dashboard.poll() is not None:
                log.warning("the dashboard exited with status %s", dashboard.returncode)
                dashboard = None
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if dashboard is not None:
            dashboard.terminate()
            try:
                dashboard.wait(15)
            except subprocess.TimeoutExpired:
                dashboard.kill()
        worker.stop()
        service.stop()
        log.info("stopped")


def _start_dashboard(settings: Settings, port: int) -> subprocess.Popen[Any] | None:
    from dashboard import launch

    if not launch.available():
        log.warning("dashboard not started: install the extra with pip install 'llm-monitor[dashboard]'")
        return None
    return launch.run(settings, port)


def _on_sigterm(stop: threading.Event) -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda *_: stop.set())
