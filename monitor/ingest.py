"""The ingest service: normalise, price and store decoded batches for a project.

Shared by the HTTP and gRPC receivers. A batch is committed in one transaction; if the database
rejects the batch because of one bad row, the rows are retried one by one so that only the bad
ones are rejected (partial success) and everything else is stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError

from collectors.semconv import NormalizeOptions, normalize_span
from monitor.cost import CostCalculator
from monitor.domain import DecodedBatch, Rejected, Span
from monitor.errors import Overloaded
from monitor.limits import Limits, limit_log, limit_span, over_count
from monitor.privacy import ContentFilter
from monitor.store.metric_writer import MetricWriter
from monitor.store.points import MetricBatch
from monitor.store.writer import SpanWriter

log = logging.getLogger(__name__)
_MAX_NS = 253402300799 * 10**9  # 9999-12-31, the largest timestamp both databases store


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    rejected: list[Rejected]

    @property
    def error_message(self) -> str:
        """The first five distinct reasons (spans over the count limit all share one)."""
        return "; ".join(list(dict.fromkeys(r.reason for r in self.rejected))[:5])


class WriteGate:
    """Bounded admission to the write path: beyond ``max_pending`` requests, callers get ``Overloaded``."""

    def __init__(self, max_pending: int, retry_after_s: int) -> None:
        self._max = max_pending
        self._retry_after = retry_after_s
        self._pending = 0
        self._lock = threading.Lock()

    def __enter__(self) -> WriteGate:
        with self._lock:
            if self._pending >= self._max:
                raise Overloaded("write path saturated; retry later", self._retry_after)
            self._pending += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._pending -= 1

    def check(self) -> None:
        """Refuse early, before a body is read and decoded only to be refused at ``__enter__``."""
        if self._pending >= self._max:
            raise Overloaded("write path saturated; retry later", self._retry_after)

    @property
    def pending(self) -> int:
        return self._pending


class IngestService:
    """``limits`` bound what one request may store; ``content`` (privacy: redaction, or no content
    at all) is ``None`` unless configured, so by default it costs nothing."""

    def __init__(self, writer: SpanWriter, options: NormalizeOptions, cost: CostCalculator,
                 retry_after_s: int = 1, limits: Limits | None = None,
                 content: ContentFilter | None = None) -> None:
        self.writer = writer
        self.options = options
        self.cost = cost
        self.retry_after_s = retry_after_s
        self.limits = limits or Limits()
        self.content = content

    def ingest_traces(self, project_rowid: int, batch: DecodedBatch) -> IngestResult:
        """Normalise, price and commit; returns what was accepted and what was rejected.

        Spans are prepared lazily, while the writer streams earlier ones to the database.
        """
        rejected = list(batch.rejected)
        prepared: list[Span] = []
        within, over = over_count(batch.spans, self.limits, "spans")
        rejected += over

        def prepare() -> Iterator[Span]:
            for i, span in enumerate(within):
                if not (0 <= span.start_ns < _MAX_NS and 0 <= span.end_ns < _MAX_NS):
                    rejected.append(Rejected(i, f"span {span.span_id}: timestamp out of range"))
                    continue
                self._normalise(span)
                try:
                    self._finish(span)
                except Exception:  # fail closed: a span privacy could not process is not stored
                    log.exception("could not apply privacy/limits to span %s; rejecting it", span.span_id)
                    rejected.append(Rejected(i, f"span {span.span_id}: could not be processed for storage"))
                    continue
                prepared.append(span)
                yield span

        spans = prepare()
        failed = self._write(lambda items: self.writer.write_spans(project_rowid, items), spans, prepared,
                             rejected)
        return IngestResult(len(prepared) - failed, rejected)

    def warm_up(self) -> None:
        """Run one representative GenAI span through normalisation, pricing, privacy and limits,
        writing nothing, so that what they load lazily (the price catalogue, compiled patterns) is
        loaded at start-up: before ``monitor.heap`` freezes the heap, and not on a client's first request."""
        span = Span(
            trace_id="0" * 31 + "1", span_id="0" * 15 + "1", parent_span_id=None, name="chat gpt-4o-mini",
            kind=3, start_ns=1_700_000_000_000_000_000, end_ns=1_700_000_000_500_000_000, status_code=0,
            status_message=None, resource={"service.name": "llm-monitor-warm-up"},
            attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 3,
                "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]',
                "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text","content":"Hello"}]}]',
            })
        try:
            self._normalise(span)
            self._finish(span)
        except Exception:  # the first real span would meet the same problem and be rejected, not us
            log.exception("ingest warm-up failed; continuing without it")

    def _normalise(self, span: Span) -> None:
        """A span we cannot interpret is still stored, as a plain span: nothing accepted is lost."""
        try:
            normalize_span(span, self.options)
            if span.llm is not None:
                self.cost.apply(span.llm)
        except Exception:
            log.exception("could not normalise span %s; storing it without LLM fields", span.span_id)
            span.llm = None

    def _finish(self, span: Span) -> None:
        """The last step before the writer, where the span is final: privacy, then limits.

        Privacy first, so a secret is never cut in half by truncation and left half readable.
        """
        if self.content is not None:
            self.content.span(span)
        limit_span(span, self.limits)

    def ingest_logs(self, project_rowid: int, batch: DecodedBatch) -> IngestResult:
        rejected = list(batch.rejected)
        within, over = over_count(batch.logs, self.limits, "log records")
        rejected += over
        logs = [lg for lg in within if 0 <= lg.time_ns < _MAX_NS]
        rejected += [Rejected(i, "log record time out of range") for i, lg in enumerate(within)
                     if not 0 <= lg.time_ns < _MAX_NS]
        for record in logs:
            if self.content is not None:
                self.content.log(record)
            limit_log(record, self.limits)
        failed = self._write(lambda items: self.writer.write_logs(project_rowid, items), logs, logs, rejected)
        return IngestResult(len(logs) - failed, rejected)

    def _write(self, write: Callable[[Iterable[Any]], None], items: Iterable[Any], kept: list[Any],
               rejected: list[Rejected]) -> int:
        """Write all in one transaction; on a row the database refuses, retry one by one.

        Returns how many items the database refused (added to ``rejected``). ``kept`` fills up
        with the items as ``items`` is consumed.
        """
        try:
            write(items)
            return 0
        except (OperationalError, InterfaceError) as exc:
            log.warning("database unavailable: %s", exc.__class__.__name__)
            raise Overloaded("database unavailable; retry later", self.retry_after_s, 503) from exc
        except (DataError, IntegrityError):
            for _ in items:  # finish preparing whatever the failed attempt did not reach
                pass
            log.info("batch rejected by the database; retrying its %d items one by one", len(kept))
        failed = 0
        for i, item in enumerate(kept):
            try:
                write([item])
            except (DataError, IntegrityError) as exc:
                failed += 1
                rejected.append(Rejected(i, f"rejected by the database: {str(exc.orig)[:200]}"))
        return failed


class MetricIngest:
    """Stores decoded OTLP metric batches (``/v1/metrics``, gRPC MetricsService) for a project.

    Same contract as span ingest: committed before the acknowledgement, a database outage is
    ``Overloaded`` (503, retried by the client), and a point the database refuses is rejected on
    its own (partial success) while the rest are stored.
    """

    def __init__(self, writer: MetricWriter, retry_after_s: int = 1) -> None:
        self.writer = writer
        self.retry_after_s = retry_after_s

    def ingest_metrics(self, project_rowid: int, batch: MetricBatch) -> IngestResult:
        rejected = [Rejected(i, reason) for i, reason in batch.rejected]
        try:
            self.writer.write_points(project_rowid, batch.points)
            return IngestResult(len(batch.points), rejected)
        except (OperationalError, InterfaceError) as exc:
            log.warning("database unavailable: %s", exc.__class__.__name__)
            raise Overloaded("database unavailable; retry later", self.retry_after_s, 503) from exc
        except (DataError, IntegrityError):
            log.info("metric batch rejected by the database; retrying its %d points one by one", len(batch.points))
        failed = 0
        for i, point in enumerate(batch.points):
            try:
                self.writer.write_points(project_rowid, [point])
            except (DataError, IntegrityError) as exc:
                failed += 1
                rejected.append(Rejected(i, f"{point.name}: rejected by the database: {str(exc.orig)[:200]}"))
        return IngestResult(len(batch.points) - failed, rejected)
