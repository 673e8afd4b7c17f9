"""Composition root of the HTTP side: ``create_app(settings)`` receives or builds every dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, InterfaceError, OperationalError

from collectors.otlp.admission import AdmissionLimit
from collectors.otlp.http import otlp_routes
from collectors.otlp.rebalance import ConnectionRecycler
from collectors.semconv import NormalizeOptions
from monitor import __version__, query
from monitor.api.alert_routes import router as alert_router
from monitor.api.eval_routes import router as eval_router
from monitor.api.feedback_routes import router as feedback_router
from monitor.api.metric_routes import router as metric_router
from monitor.api.routes import router
from monitor.api.schemas import Health
from monitor.auth import Authenticator
from monitor.config import Settings
from monitor.errors import AuthError, Overloaded
from monitor.gpu_cost import DeploymentAwareCost
from monitor.ingest import IngestService, MetricIngest, WriteGate
from monitor.limits import Limits
from monitor.privacy import build_content_filter
from monitor.store import SpanWriter, make_engine
from monitor.store.checkpoint import WalCheckpointer
from monitor.store.metric_writer import MetricWriter

# The background checkpointer does the work; SQLite's own (inside a commit) is only the safety net.
SERVER_AUTOCHECKPOINT_PAGES = 20_000


def build_ingest(settings: Settings, engine: Engine) -> IngestService:
    """Span ingest; calls to a self-hosted deployment's model are left for GPU-time pricing."""
    server, privacy = settings.server, settings.privacy
    limits = Limits(server.max_attribute_value_chars, server.max_attributes_per_span, server.max_spans_per_request)
    content = build_content_filter(privacy.kinds, privacy.patterns, privacy.store_content)
    return IngestService(SpanWriter(engine), NormalizeOptions(settings.segment_attributes),
                         DeploymentAwareCost(settings.prices, settings.deployments), server.retry_after_s,
                         limits=limits, content=content)


def create_app(settings: Settings, engine: Engine | None = None, host: str | None = None,
               background_checkpoints: bool = True, shared_port: bool = False) -> FastAPI:
    """The whole HTTP application; the engine is created here unless one is injected.

    ``shared_port``: this process is one of several ``serve`` workers on one port, so OTLP
    connections are closed every ``[server] requests_per_connection`` requests to spread clients
    over the workers (``collectors.otlp.rebalance``).

    ``background_checkpoints``: run SQLite's WAL checkpointer in this process (with several
    ``serve`` workers, one of them does it for all).
    """
    engine = engine or make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous,
                                   sqlite_autocheckpoint_pages=SERVER_AUTOCHECKPOINT_PAGES)
    host = host if host is not None else settings.server.host
    checkpointer = WalCheckpointer(engine)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if background_checkpoints:
            checkpointer.start()  # SQLite only: commits on the ingest path no longer checkpoint
        try:
            yield
        finally:
            checkpointer.stop()

    app = FastAPI(title="llm-monitor", version=__version__, lifespan=lifespan,
                  description="LLM observability: OTLP ingest, LLM calls, traces and summaries.")
    app.state.engine = engine
    app.state.settings = settings
    app.state.auth = Authenticator(engine, settings, host)
    app.state.ingest = build_ingest(settings, engine)
    app.state.metrics = MetricIngest(MetricWriter(engine), settings.server.retry_after_s)
    app.state.gate = WriteGate(settings.server.max_pending_writes, settings.server.retry_after_s)
    limiter = anyio.CapacityLimiter(settings.server.write_threads)
    for route in otlp_routes(app.state.ingest, app.state.auth, app.state.gate, settings.server.max_body_bytes,
                             limiter, app.state.metrics):
        app.router.routes.append(route)
    app.add_middleware(AdmissionLimit, max_inflight=settings.server.max_inflight_requests,
                       retry_after_s=settings.server.retry_after_s)
    if shared_port and settings.server.requests_per_connection:
        app.add_middleware(ConnectionRecycler, after_requests=settings.server.requests_per_connection)
    app.include_router(router)
    app.include_router(metric_router)
    app.include_router(eval_router)
    app.include_router(feedback_router)
    app.include_router(alert_router)

    @app.exception_handler(AuthError)
    async def _auth_error(_: Request, exc: AuthError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(Overloaded)
    async def _overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, exc.status, headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        """The database is unreachable (restarting, network): retryable, so 503 + Retry-After, not a 500."""
        return JSONResponse({"detail": "database unavailable; retry later"}, 503,
                            headers={"Retry-After": str(settings.server.retry_after_s)})

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def _unstorable_value(_: Request, exc: Exception) -> JSONResponse:
        """A parameter the database cannot hold (NUL in text on PostgreSQL, an id beyond int64): the
        client's bad request, not a server error it would retry (found by schemathesis)."""
        reason = exc.orig if isinstance(exc, DataError) else exc
        return JSONResponse({"detail": f"a parameter value the database cannot hold: {str(reason)[:200]}"}, 400)

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        """The process is up."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, responses={503: {"model": Health}})
    async def readyz() -> Health | JSONResponse:
        """The database is reachable."""
        if await anyio.to_thread.run_sync(query.database_ready, engine):
            return Health(status="ready")
        return JSONResponse({"status": "database unavailable"}, 503, headers={"Retry-After": "1"})

    return app
