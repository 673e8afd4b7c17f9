"""Running the service: uvicorn for HTTP (OTLP + REST) and the gRPC receiver beside it."""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from collectors.otlp.grpc import start_grpc_server
from monitor.api import create_app
from monitor.config import Settings
from monitor.heap import freeze_startup_heap
from monitor.supervisor import Supervisor, bind_worker_listener, can_fork, default_workers, ensure_port_free

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServiceHandle:
    """A running service (HTTP and gRPC); ``stop()`` shuts both down."""

    def __init__(self, app: FastAPI, http: uvicorn.Server, thread: threading.Thread | None, grpc_server: object,
                 http_port: int, grpc_port: int | None) -> None:
        self.app, self._http, self._thread, self._grpc = app, http, thread, grpc_server
        self.http_port, self.grpc_port = http_port, grpc_port

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=2).wait()  # type: ignore[attr-defined]
        self._http.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def _build(settings: Settings, host: str, port: int, grpc_port: int | None, worker: int | None = None) -> tuple:
    """``worker``: this process's index among several ``serve`` workers (``None``: the only one)."""
    app = create_app(settings, host=host, background_checkpoints=not worker, shared_port=worker is not None)
    grpc_server = None
    if grpc_port is not None and settings.server.grpc_enabled:
        grpc_server, grpc_port = start_grpc_server(
            app.state.ingest, app.state.auth, app.state.gate, host, grpc_port, settings.server.max_body_bytes,
            metrics=app.state.metrics, share_port=worker is not None,
            max_connection_age_s=settings.server.grpc_max_connection_age_s)
    # Keep-alive longer than exporters' idle gaps (the OTel SDKs export every 5 s, uvicorn's default
    # is 5 s): otherwise a client's next request races the server closing the connection and gets
    # a reset instead of an answer (found by tests/integration/test_overload.py).
    config = uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False,
                            timeout_graceful_shutdown=5, timeout_keep_alive=75)
    return app, uvicorn.Server(config), grpc_server, grpc_port


def serve(settings: Settings) -> int:
    """Run in the foreground until Ctrl-C or SIGTERM (``llm-monitor serve``); returns the exit code.

    ``[server] workers`` processes share the ports (``monitor.supervisor``); with one, or where
    forking is not supported, everything runs in this process.
    """
    s = settings.server
    workers = s.workers or default_workers()
    if workers > 1 and not can_fork():
        log.warning("several workers need Linux; running one process")
        workers = 1
    log.info("llm-monitor on http://%s:%d (OTLP/HTTP, REST /api/v1, /openapi.json); OTLP/gRPC on %s; %d worker(s)",
             s.host, s.port, s.grpc_port if s.grpc_enabled else "off", workers)
    if workers == 1:
        _serve_one(settings, None)
        return 0
    ensure_port_free(s.host, s.port)
    if s.grpc_enabled:
        ensure_port_free(s.host, s.grpc_port)
    return Supervisor(workers, lambda index: _serve_one(settings, index)).run()


def _serve_one(settings: Settings, worker: int | None) -> None:
    s = settings.server
    listener = bind_worker_listener(s.host, s.port) if worker is not None else None
    app, http, grpc_server, _grpc_port = _build(settings, s.host, s.port, s.grpc_port, worker)
    if s.freeze_heap:
        app.state.ingest.warm_up()
        freeze_startup_heap()
    try:
        http.run(sockets=[listener] if listener is not None else None)
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=2).wait()


def start_in_thread(settings: Settings, host: str = "127.0.0.1", with_grpc: bool = True,
                    port: int | None = None, grpc_port: int | None = None) -> ServiceHandle:
    """Start in a background thread (tests, demos, ``llm-monitor up``) on the given ports, or free
    ones; returns once it accepts requests."""
    port = port if port is not None else free_port(host)
    app, http, grpc_server, grpc_port = _build(settings, host, port,
                                               (grpc_port if grpc_port is not None else 0) if with_grpc else None)
    thread = threading.Thread(target=http.run, name="llm-monitor-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not http.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    return ServiceHandle(app, http, thread, grpc_server, port, grpc_port)
