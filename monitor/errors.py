"""One exception tree for llm-monitor; HTTP statuses are mapped from it in one place.

    MonitorError
    ├── ConfigError          invalid settings
    ├── AuthError            missing or invalid API key            -> 401
    ├── PayloadError         body cannot be decoded                -> 400
    │   └── PayloadTooLarge  over the size limit after decompress  -> 413
    ├── UnsupportedMediaType content type we do not speak          -> 415
    └── Overloaded           write path saturated or DB down       -> 503 + Retry-After
"""

from __future__ import annotations


class MonitorError(Exception):
    """Root of every error llm-monitor raises on purpose."""


class ConfigError(MonitorError):
    """Settings are inconsistent or invalid."""


class AuthError(MonitorError):
    """The request carries no valid API key for this operation."""


class PayloadError(MonitorError):
    """The request body cannot be decoded; retrying the same body will not help."""


class PayloadTooLarge(PayloadError):
    """The body, after decompression, is larger than the configured limit."""


class UnsupportedMediaType(MonitorError):
    """The content type is neither OTLP protobuf nor OTLP JSON."""


class Overloaded(MonitorError):
    """The write path cannot take more right now; the client should retry later."""

    def __init__(self, message: str, retry_after_s: int = 1, status: int = 429) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.status = status  # 429 when we are busy, 503 when the database is unavailable
