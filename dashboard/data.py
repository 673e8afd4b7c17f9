"""Every read the pages make, through ``monitor.query`` and ``monitor.query_views``, cached briefly.

Cached functions take the database URL (or a ``View``, which holds it) rather than an engine, so
the cache key says which database answered; the engine itself is one per URL for the process.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import streamlit as st
from sqlalchemy import Engine

from monitor import query, query_views
from monitor.store import make_engine

if TYPE_CHECKING:
    from dashboard.filters import View

TTL_S = 30  # a fresh call shows up within half a minute; reruns inside that reuse the answers
OPTIONS_TTL_S = 60


@st.cache_resource(show_spinner=False)
def engine(database_url: str) -> Engine:
    return make_engine(database_url)


@st.cache_data(ttl=OPTIONS_TTL_S, show_spinner=False)
def schema_ready(database_url: str) -> bool:
    """Whether the database is migrated to the schema this code reads."""
    from monitor.migrate import current_revision, head_revision

    return current_revision(database_url) == head_revision()


@st.cache_data(ttl=OPTIONS_TTL_S, show_spinner=False)
def projects(database_url: str) -> list[tuple[int, str]]:
    return query_views.list_projects(engine(database_url))


@st.cache_data(ttl=OPTIONS_TTL_S, show_spinner=False)
def options(database_url: str, project_rowid: int) -> query_views.FilterOptions:
    return query_views.filter_options(engine(database_url), project_rowid)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def bounds(view: View, filtered: bool = True) -> tuple[datetime | None, datetime | None]:
    """First and last call of the view (``filtered=False``: of the whole project)."""
    filters = view.filters() if filtered else query.CallFilters()
    return query_views.time_bounds(engine(view.database_url), _project(view), filters)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def summary(view: View, group_by: str | None = None) -> list[dict[str, Any]]:
    """``monitor.query.summary``'s figures, computed in the database (``query_views.call_stats``)."""
    return query_views.call_stats(engine(view.database_url), _project(view), view.filters(), group_by)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def series(view: View, bucket_s: int, group_by: str | None = None) -> list[dict[str, Any]]:
    return query_views.call_series(engine(view.database_url), _project(view), view.filters(), bucket_s, group_by)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def cost(view: View, by: str) -> list[dict[str, Any]]:
    return query_views.cost_breakdown(engine(view.database_url), _project(view), view.filters(), by)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def traces(view: View, search: str = "", errors_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
    filters = view.filters(has_error=True) if errors_only else view.filters()
    return query_views.list_traces(engine(view.database_url), _project(view), filters, search or None, limit)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def trace(database_url: str, project_rowid: int, trace_id: str) -> list[dict[str, Any]]:
    return query.get_trace(engine(database_url), project_rowid, trace_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def scores(database_url: str, project_rowid: int, trace_id: str) -> list[dict[str, Any]]:
    return query_views.trace_scores(engine(database_url), project_rowid, trace_id)


def _project(view: View) -> int:
    if view.project_rowid is None:
        raise ValueError("no project selected")
    return view.project_rowid


# --- human feedback (issue #10) ---------------------------------------------------------------

@st.cache_data(ttl=TTL_S, show_spinner=False)
def criteria(database_url: str, project_rowid: int) -> list[str]:
    """Score names worth labelling: the evaluators' and the ones people already labelled."""
    from monitor import feedback_query

    return feedback_query.criteria(engine(database_url), project_rowid)


def annotation_candidates(view: View, criterion: str, mode: str, limit: int = 50) -> list[dict[str, Any]]:
    """Not cached: a label just given must take its call out of the queue at once."""
    from monitor import feedback_query

    return feedback_query.annotation_candidates(engine(view.database_url), _project(view), criterion,
                                                view.filters(), mode, limit)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def audit(view: View, criterion: str, threshold: float) -> Any:
    from monitor import feedback_query

    return feedback_query.audit(engine(view.database_url), _project(view), criterion, threshold, view.start)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def satisfaction(view: View, bucket_s: int, group_by: str | None = None) -> list[dict[str, Any]]:
    from monitor import feedback_query

    return feedback_query.satisfaction(engine(view.database_url), _project(view), view.start, None, bucket_s,
                                       group_by)

