"""Formatting and the empty states the pages share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard import data
from dashboard.filters import View
from monitor.query_views import bucket_start, pick_bucket_s

SEND_DATA_HINT = (
    "Point any OpenTelemetry exporter at the server (`OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318`, "
    "started by `llm-monitor serve`), decorate your code with `monitor.sdk.observe`, or run `llm-monitor demo`."
)


def usd(value: float | None) -> str:
    if value is None:
        return "–"
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:,.4f}"


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:,.2f} s" if value >= 10_000 else f"{value:,.0f} ms"


def count(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def bucket_label(bucket_s: int) -> str:
    if bucket_s % 86400 == 0:
        return "day" if bucket_s == 86400 else f"{bucket_s // 86400} days"
    if bucket_s % 3600 == 0:
        return "hour" if bucket_s == 3600 else f"{bucket_s // 3600} h"
    return "minute" if bucket_s == 60 else f"{bucket_s // 60} min"


def timeline(view: View) -> tuple[int, tuple[datetime, datetime]]:
    """Bucket width and the x-axis window for the view's range ("All time": from the first call), in
    whole buckets up to the one holding now.
    """
    now = datetime.now(UTC)
    start = view.start or data.bounds(view)[0] or now
    bucket_s = pick_bucket_s(start, now)
    return bucket_s, (bucket_start(start, bucket_s), bucket_start(now, bucket_s) + timedelta(seconds=bucket_s))


def has_calls(view: View) -> bool:
    """Whether the view shows any call; if not, draw the right empty state and say why."""
    if view.project_rowid is None:
        st.info("**No data yet.** " + SEND_DATA_HINT, icon=":material/inbox:")
        return False
    first, _ = data.bounds(view)
    if first is not None:
        return True
    _, latest = data.bounds(view, filtered=False)
    if latest is None:
        st.info(f"**Project {view.project!r} has no LLM calls yet.** " + SEND_DATA_HINT, icon=":material/inbox:")
    else:
        narrowed = " and filters" if view.narrowed else ""
        st.info(f"**No LLM calls match the time range ({view.range_label}){narrowed}.** The latest call arrived at "
                f"{latest:%Y-%m-%d %H:%M} UTC; widen the time range or clear filters in the sidebar.",
                icon=":material/filter_alt_off:")
    return False


def coming_with(issue: int, what: str) -> None:
    """The empty state of a page whose data another issue brings."""
    st.info(f"**Nothing to show yet.** {what} This page fills in once issue #{issue} lands.",
            icon=":material/hourglass_empty:")
