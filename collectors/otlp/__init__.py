"""OTLP decoding (pure functions) and the thin HTTP/gRPC shells around it."""

from collectors.otlp.logs import decode_logs
from collectors.otlp.traces import decode_traces

__all__ = ["decode_logs", "decode_traces"]
