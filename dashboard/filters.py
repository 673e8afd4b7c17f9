"""The global filters in the sidebar (project, time range, model, service, segment, tag) and the
``View`` they make, which every page reads its data through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st

from dashboard import data
from monitor.query import CallFilters

VIEW_KEY = "llm_monitor_view"
RANGES: dict[str, timedelta | None] = {
    "Last 15 minutes": timedelta(minutes=15),
    "Last hour": timedelta(hours=1),
    "Last 6 hours": timedelta(hours=6),
    "Last 24 hours": timedelta(hours=24),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "All time": None,
}
DEFAULT_RANGE = "Last 24 hours"
ALL_MODELS, ALL_SERVICES, ALL_TAGS = "All models", "All services", "All tags"


@dataclass(frozen=True)
class View:
    """What the person is looking at: one project, a time range and the call filters (hashable, cacheable)."""

    database_url: str
    project_rowid: int | None = None
    project: str | None = None
    range_label: str = DEFAULT_RANGE
    start: datetime | None = None
    model: str | None = None
    service: str | None = None
    segment: tuple[tuple[str, tuple[str, ...]], ...] = ()
    tag: str | None = None

    def filters(self, **overrides: Any) -> CallFilters:
        values = {"start": self.start, "model": self.model, "service": self.service, "tag": self.tag,
                  "segment": {label: list(values) for label, values in self.segment}}
        return CallFilters(**{**values, **overrides})

    @property
    def narrowed(self) -> bool:
        """Whether anything beyond project and time range filters the calls."""
        return bool(self.model or self.service or self.segment or self.tag)


def range_start(label: str, now: datetime | None = None) -> datetime | None:
    """Start of a relative range, floored to the minute so cached reads are shared within a minute."""
    delta = RANGES[label]
    if delta is None:
        return None
    return ((now or datetime.now(UTC)) - delta).replace(second=0, microsecond=0)


def sidebar(database_url: str, default_project: str) -> View:
    """Draw the filters and return the resulting view."""
    bar = st.sidebar
    bar.header("Filters")
    projects = data.projects(database_url)
    if not projects:
        bar.caption("No project has sent data yet.")
        return View(database_url)
    names = [name for _, name in projects]
    preferred = default_project if default_project in names else names[0]
    keep_valid("f_project", names, preferred)
    project = bar.selectbox("Project", names, index=names.index(preferred), key="f_project")
    rowid = dict((name, rid) for rid, name in projects)[project]
    keep_valid("f_range", list(RANGES), DEFAULT_RANGE)
    range_label = bar.selectbox("Time range", list(RANGES), index=list(RANGES).index(DEFAULT_RANGE), key="f_range")
    opts = data.options(database_url, rowid)
    model = _choice(bar, "Model", "f_model", ALL_MODELS, opts.models)
    service = _choice(bar, "Service", "f_service", ALL_SERVICES, opts.services)
    pairs = [f"{label} = {value}" for label, values in opts.segments.items() for value in values]
    keep_valid("f_segment", pairs, [], multi=True)
    chosen = bar.multiselect("Segment", pairs, key="f_segment", help="A/B variant, region…: OR within a label, "
                             "AND across labels")
    tag = _choice(bar, "Tag", "f_tag", ALL_TAGS, opts.tags)
    return View(database_url, rowid, project, range_label, range_start(range_label), model, service,
                _segment(chosen), tag)


def _choice(bar: Any, label: str, key: str, everything: str, options: list[str]) -> str | None:
    keep_valid(key, [everything, *options], everything)
    picked = bar.selectbox(label, [everything, *options], key=key)
    return None if picked == everything else picked


def keep_valid(key: str, options: list[str], default: Any, multi: bool = False) -> None:
    """Reset a filter whose value is no longer offered (another project, data gone)."""
    current = st.session_state.get(key)
    if current is None:
        return
    valid = all(v in options for v in current) if multi else current in options
    if not valid:
        st.session_state[key] = default


def _segment(chosen: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    by_label: dict[str, list[str]] = {}
    for pair in chosen:
        label, _, value = pair.partition(" = ")
        by_label.setdefault(label, []).append(value)
    return tuple((label, tuple(values)) for label, values in sorted(by_label.items()))


def publish(view: View) -> None:
    st.session_state[VIEW_KEY] = view


def current() -> View:
    """The view the sidebar made on this run (pages call this)."""
    return st.session_state[VIEW_KEY]
