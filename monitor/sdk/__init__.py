"""llm-monitor's tracing SDK: ``@observe`` for applications, built on OpenTelemetry.

Three lines to start::

    from monitor import sdk
    sdk.configure(endpoint="http://127.0.0.1:4318", service_name="my-app")
    @sdk.observe(kind="llm", model="gpt-4o-mini")
    def answer(messages): ...

Importing this package pulls in only OpenTelemetry packages (never torch or pandas).
"""

from monitor.sdk.context import context
from monitor.sdk.feedback import FeedbackError, feedback
from monitor.sdk.observe import ObservedSpan, observe, span
from monitor.sdk.setup import configure, flush, shutdown, stats

__all__ = [
    "FeedbackError", "ObservedSpan", "configure", "context", "feedback", "flush", "observe", "shutdown", "span",
    "stats",
]
