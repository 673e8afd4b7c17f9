"""``monitor.sdk.configure``: where spans go and what they may carry.

Standard OpenTelemetry variables work unchanged (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_SERVICE_NAME``, ``OTEL_SDK_DISABLED``). If the application
already installed an SDK ``TracerProvider``, the SDK attaches its processors to it instead of
replacing it (sampling is then the application's).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from monitor.sdk.processor import BoundedBatchProcessor, ContextStampProcessor

log = logging.getLogger("monitor.sdk")
INSTRUMENTATION_NAME = "llm-monitor-sdk"
Redactor = Callable[[str], str]


@dataclass
class SdkState:
    """What ``@observe`` needs at call time; replaced wholesale by ``configure``."""

    tracer: Any
    enabled: bool = True
    capture_content: bool = True
    redact: Redactor | None = None
    max_content_chars: int = 32_000
    exporter_processor: BoundedBatchProcessor | None = None
    provider: TracerProvider | None = None
    owns_provider: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


_lock = threading.Lock()
_state: SdkState | None = None


def state() -> SdkState:
    """The current state, configuring from the environment on first use."""
    current = _state
    if current is None:
        with _lock:
            if _state is None:
                _configure_locked()
            current = _state
    assert current is not None
    return current


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def configure(endpoint: str | None = None, api_key: str | None = None, service_name: str | None = None,
              sample_rate: float = 1.0, capture_content: bool = True, redact: Redactor | None = None,
              max_content_chars: int = 32_000, max_queue_size: int = 2048, export_timeout_s: float = 10.0,
              schedule_delay_s: float = 1.0, tracer_provider: TracerProvider | None = None) -> SdkState:
    """Set up (or re-set up) the SDK; safe to call more than once."""
    with _lock:
        return _configure_locked(endpoint, api_key, service_name, sample_rate, capture_content, redact,
                                 max_content_chars, max_queue_size, export_timeout_s, schedule_delay_s,
                                 tracer_provider)


def _configure_locked(endpoint: str | None = None, api_key: str | None = None, service_name: str | None = None,
                      sample_rate: float = 1.0, capture_content: bool = True, redact: Redactor | None = None,
                      max_content_chars: int = 32_000, max_queue_size: int = 2048,
                      export_timeout_s: float = 10.0, schedule_delay_s: float = 1.0,
                      tracer_provider: TracerProvider | None = None) -> SdkState:
    global _state
    if not 0.0 <= sample_rate <= 1.0:
        raise ValueError("sample_rate must be between 0 and 1")
    _shutdown_locked()
    if _env_true("OTEL_SDK_DISABLED"):
        _state = SdkState(tracer=trace.NoOpTracer(), enabled=False)
        return _state
    provider = tracer_provider
    owns = False
    existing = trace.get_tracer_provider()
    if provider is None and isinstance(existing, TracerProvider) and not getattr(existing, "_llm_monitor", False):
        provider = existing  # the application's own provider: attach, don't replace
    if provider is None:
        attrs = {"service.name": service_name} if service_name else {}
        provider = TracerProvider(resource=Resource.create(attrs),
                                  sampler=ParentBased(TraceIdRatioBased(sample_rate)))
        provider._llm_monitor = True  # type: ignore[attr-defined]  # ours: a later configure replaces it
        owns = True
    provider.add_span_processor(ContextStampProcessor())
    processor = None
    if endpoint or api_key or _exporting_by_env() or owns:
        exporter = _exporter(endpoint, api_key, export_timeout_s)
        processor = BoundedBatchProcessor(exporter, max_queue_size=max_queue_size,
                                          schedule_delay_s=schedule_delay_s)
        provider.add_span_processor(processor)
    if owns and not isinstance(existing, TracerProvider):
        # The global provider can be set once per process; a re-configure keeps ours private.
        trace.set_tracer_provider(provider)
    _state = SdkState(tracer=provider.get_tracer(INSTRUMENTATION_NAME), capture_content=capture_content,
                      redact=redact, max_content_chars=max_content_chars, exporter_processor=processor,
                      provider=provider, owns_provider=owns,
                      extra={"endpoint": endpoint, "api_key": api_key, "timeout_s": export_timeout_s})
    return _state


def _exporting_by_env() -> bool:
    return any(os.environ.get(v) for v in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


class _RateLimitFilter(logging.Filter):
    """Lets one exporter complaint through per interval: an unreachable server must not flood
    the application's logs with a warning per batch."""

    def __init__(self, interval_s: float = 60.0) -> None:
        super().__init__()
        self._interval = interval_s
        self._last = -interval_s
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            if self.suppressed:
                record.msg = f"{record.msg} ({self.suppressed} similar messages suppressed)"
                self.suppressed = 0
            return True
        self.suppressed += 1
        return False


_EXPORTER_LOGGERS = ("opentelemetry.exporter.otlp.proto.http.trace_exporter",
                     "opentelemetry.exporter.otlp.proto.http._common", "opentelemetry.exporter.otlp.proto.http")


def _quiet_exporter_logs() -> None:
    for name in _EXPORTER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RateLimitFilter) for f in logger.filters):
            logger.addFilter(_RateLimitFilter())


def _exporter(endpoint: str | None, api_key: str | None, timeout_s: float) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    _quiet_exporter_logs()

    traces_endpoint = None
    if endpoint:
        traces_endpoint = endpoint if endpoint.rstrip("/").endswith("/v1/traces") \
            else endpoint.rstrip("/") + "/v1/traces"
    headers = None
    if api_key:
        from opentelemetry.util.re import parse_env_headers

        raw = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", "")
        headers = {**parse_env_headers(raw, liberal=True), "authorization": f"Bearer {api_key}"}
    return OTLPSpanExporter(endpoint=traces_endpoint, headers=headers, timeout=timeout_s)


def flush(timeout_s: float = 10.0) -> bool:
    """Send everything queued so far; returns False if it could not within the timeout."""
    current = _state
    if current is None or current.exporter_processor is None:
        return True
    return current.exporter_processor.force_flush(int(timeout_s * 1000))


def stats() -> dict[str, Any]:
    """Queued, exported, failed and dropped span counts of the SDK's exporter."""
    current = _state
    if current is None or current.exporter_processor is None:
        return {"queued": 0, "exported": 0, "failed": 0, "dropped": 0}
    return current.exporter_processor.stats()


def shutdown() -> None:
    with _lock:
        _shutdown_locked()


def _shutdown_locked() -> None:
    global _state
    current, _state = _state, None
    if current is None or current.exporter_processor is None:
        return
    current.exporter_processor.shutdown()


atexit.register(shutdown)
