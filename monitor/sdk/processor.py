"""Span processors of the SDK: a bounded batch exporter that counts what it drops, and the
processor that stamps ``monitor.sdk.context`` attributes on every span started inside it.

The exporter never blocks the application: ``on_end`` appends to a bounded deque or counts a
drop; a daemon thread ships batches. An unreachable server costs only the dropped spans.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter

from monitor.sdk.context import current_attributes

log = logging.getLogger("monitor.sdk")


class ContextStampProcessor(SpanProcessor):
    """Copies the attributes of the enclosing ``monitor.sdk.context(...)`` onto each new span."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attrs = current_attributes()
        if attrs:
            span.set_attributes(attrs)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class BoundedBatchProcessor(SpanProcessor):
    """Batches finished spans to an exporter from a daemon thread; a full queue drops and counts."""

    def __init__(self, exporter: SpanExporter, max_queue_size: int = 2048, max_batch_size: int = 512,
                 schedule_delay_s: float = 1.0) -> None:
        self._exporter = exporter
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._max_queue = max_queue_size
        self._max_batch = max_batch_size
        self._delay = schedule_delay_s
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stopped = False
        self.dropped = 0
        self.exported = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="llm-monitor-sdk-export", daemon=True)
        self._thread.start()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if self._stopped or not span.context.trace_flags.sampled:
            return
        if len(self._queue) >= self._max_queue:
            self.dropped += 1
            return
        self._queue.append(span)
        if len(self._queue) >= self._max_batch:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._delay)
            self._wake.clear()
            self._drain()
            if self._stopped:
                self._drain()
                return

    def _drain(self) -> None:
        self._idle.clear()
        try:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
                self._export(batch)
        finally:
            self._idle.set()

    def _export(self, batch: list[ReadableSpan]) -> None:
        try:
            result = self._exporter.export(batch)
            ok = getattr(result, "name", "") == "SUCCESS"
        except Exception as exc:  # an exporter must never take the application down
            log.debug("span export raised %r", exc)
            ok = False
        if ok:
            self.exported += len(batch)
        else:
            self.failed += len(batch)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000
        while time.monotonic() < deadline:
            if not self._queue and self._idle.is_set():
                return True
            self._wake.set()
            self._idle.wait(0.01)
        return not self._queue

    def shutdown(self) -> None:
        if self._stopped:
            return
        self.force_flush(5000)
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout=5)
        try:
            self._exporter.shutdown()
        except Exception as exc:
            log.debug("exporter shutdown raised %r", exc)

    def stats(self) -> dict[str, Any]:
        return {"queued": len(self._queue), "exported": self.exported, "failed": self.failed,
                "dropped": self.dropped}
