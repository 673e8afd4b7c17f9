"""Fetching one target's ``/metrics`` over a kept-alive HTTP connection, bounded in time and size.

The standard library's ``http.client`` is enough (no client dependency at run time) and lets a
connection be reused between scrapes, which matters for CPU when twenty targets are scraped
every five seconds.
"""

from __future__ import annotations

import http.client
import logging
import time
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from collectors.prometheus.convert import TargetInfo, to_points
from collectors.prometheus.parse import ExpositionParser
from monitor.errors import MonitorError, PayloadError
from monitor.store.points import MetricPoint

log = logging.getLogger(__name__)
# Only the classic text format: prometheus_client servers (vLLM, SGLang) switch to OpenMetrics whenever it is
# listed at all, and prometheus_client's OpenMetrics parser rejects their colon names ("Clashing name").
ACCEPT = "text/plain;version=0.0.4"


class ScrapeError(MonitorError):
    """The target could not be scraped (unreachable, HTTP error, too large, not an exposition)."""


@dataclass(frozen=True, slots=True)
class ScrapeResult:
    points: list[MetricPoint]
    duration_s: float
    samples: int


class Scraper:
    """Scrapes one target; keeps its connection and the parser's memory of the last layout."""

    def __init__(self, target: TargetInfo, url: str, timeout_s: float, max_body_bytes: int) -> None:
        self.target, self.url = target, url
        self.timeout_s, self.max_body_bytes = timeout_s, max_body_bytes
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"scrape target {target.name!r}: {url!r} is not an http(s) URL")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._conn: http.client.HTTPConnection | None = None
        self.parser = ExpositionParser()

    def scrape(self, now_ns: int | None = None) -> ScrapeResult:
        """Fetch and convert; raises ``ScrapeError`` with a reason a person can act on."""
        started = time.perf_counter()
        now_ns = now_ns if now_ns is not None else time.time_ns()
        body, content_type = self._fetch()
        try:
            text = body.decode("utf-8")
            exposition = self.parser.parse(text, openmetrics=content_type.startswith("application/openmetrics-text"))
        except (UnicodeDecodeError, PayloadError) as exc:
            raise ScrapeError(f"{self.target.name}: {exc}") from exc
        points = to_points(exposition, self.target, now_ns)
        return ScrapeResult(points, time.perf_counter() - started, len(exposition.values))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _fetch(self) -> tuple[bytes, str]:
        for attempt in (1, 2):  # a kept-alive connection the server has closed gets one fresh retry
            conn = self._connection()
            try:
                conn.request("GET", self._path, headers={"Accept": ACCEPT, "Accept-Encoding": "gzip",
                                                         "User-Agent": "llm-monitor-scraper"})
                response = conn.getresponse()
                body = response.read(self.max_body_bytes + 1)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if attempt == 2:
                    raise ScrapeError(f"{self.target.name}: connection lost: {exc}") from exc
                continue
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise ScrapeError(f"{self.target.name}: cannot fetch {self.url}: {exc}") from exc
            if response.will_close:
                self.close()
            return self._check(response, body)
        raise AssertionError("unreachable")

    def _check(self, response: http.client.HTTPResponse, body: bytes) -> tuple[bytes, str]:
        if response.status != 200:
            raise ScrapeError(f"{self.target.name}: {self.url} answered HTTP {response.status}")
        if len(body) > self.max_body_bytes:
            self.close()
            raise ScrapeError(f"{self.target.name}: exposition larger than {self.max_body_bytes} bytes")
        if (response.getheader("Content-Encoding") or "").lower() == "gzip":
            body = _gunzip(body, self.max_body_bytes, self.target.name)
        return body, (response.getheader("Content-Type") or "text/plain").lower()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.timeout_s)
        return self._conn


def _gunzip(body: bytes, limit: int, name: str) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ScrapeError(f"{name}: bad gzip body: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise ScrapeError(f"{name}: exposition larger than {limit} bytes once decompressed")
    return out

