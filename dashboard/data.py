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
def languages(view: View) -> list[dict[str, Any]]:
    """Tokens per character and cost per request by input language (``query_views.language_breakdown``)."""
    return query_views.language_breakdown(engine(view.database_url), _project(view), view.filters())


SEARCH_BUDGET_S = 0.8  # a text search stops reading older calls after this long (the page says so): < 1 s in all


@st.cache_data(ttl=TTL_S, show_spinner=False)
def traces(view: View, search: str = "", errors_only: bool = False, limit: int = 100) -> query_views.TraceSearch:
    """The Traces list (``query_views.search_traces``): a text search reads newest first within a time budget."""
    filters = view.filters(has_error=True) if errors_only else view.filters()
    return query_views.search_traces(engine(view.database_url), _project(view), filters, search or None, limit,
                                     SEARCH_BUDGET_S)


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


# --- alerts (issue #7) ------------------------------------------------------------------------

@st.cache_data(ttl=TTL_S, show_spinner=False)
def alert_rules(database_url: str, project_rowid: int) -> list[dict[str, Any]]:
    from monitor.alerts import query as alert_query

    return alert_query.rules(engine(database_url), project_rowid)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def alert_events(database_url: str, project_rowid: int, since: datetime | None, limit: int = 200
                 ) -> list[dict[str, Any]]:
    from monitor.alerts import query as alert_query

    return alert_query.events(engine(database_url), project_rowid, since=since, limit=limit)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def alert_deliveries(database_url: str, project_rowid: int, limit: int = 200) -> list[dict[str, Any]]:
    from monitor.alerts import query as alert_query

    return alert_query.deliveries(engine(database_url), project_rowid, limit=limit)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def alert_counts(database_url: str, project_rowid: int) -> dict[str, int]:
    from monitor.alerts import query as alert_query

    return alert_query.counts(engine(database_url), project_rowid)


# --- drift (issue #6) -------------------------------------------------------------------------

@st.cache_data(ttl=TTL_S, show_spinner=False)
def drift_results(view: View, limit: int = 5000) -> list[dict[str, Any]]:
    """Stored drift results whose window ended in the view's time range, newest first."""
    from evaluators.drift.query import DriftFilters, list_drift_results

    return list_drift_results(engine(view.database_url), _project(view), DriftFilters(start=view.start), limit)


# --- servers and GPUs (issue #4) --------------------------------------------------------------

@st.cache_data(ttl=OPTIONS_TTL_S, show_spinner=False)
def deployments() -> list[dict[str, Any]]:
    """``[[deployments]]`` from the settings the dashboard runs with."""
    from monitor.config import load_settings

    return [d.model_dump() for d in load_settings().deployments]


def _settings_deployment(name: str) -> Any:
    from monitor.config import load_settings

    settings = load_settings()
    return settings, settings.deployment(name)


def _retention(settings: Any) -> Any:
    from monitor.store.metric_reads import Retention

    return Retention.of(settings.metrics)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def server_view(view: View, name: str, start: datetime, end: datetime) -> dict[str, Any]:
    from datetime import UTC

    settings, deployment = _settings_deployment(name)
    return query.server_view(engine(view.database_url), _project(view), deployment, start, end, datetime.now(UTC),
                             _retention(settings))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def deployment_cost(view: View, name: str, start: datetime, end: datetime, compare_model: str | None
                    ) -> dict[str, Any]:
    from monitor.gpu_cost import cost_report

    _, deployment = _settings_deployment(name)
    return cost_report(engine(view.database_url), _project(view), deployment, start, end, compare_model)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def metric_series(view: View, name: str, metric: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """One metric of a deployment per bucket: ``bucket``, ``value`` (the bucket's mean) and ``series`` (labels)."""
    from datetime import UTC

    from monitor.gpu_cost import series_matcher
    from monitor.store.metric_reads import bucketed

    settings, deployment = _settings_deployment(name)
    _, lines = bucketed(engine(view.database_url), _project(view), metric, start, end, datetime.now(UTC),
                        _retention(settings), series_matcher(deployment))
    rows = []
    for head, buckets in lines:
        label = ", ".join(f"{k}={v}" for k, v in sorted(head.labels.items()) if k not in ("deployment",)) or head.name
        for epoch, agg in buckets:
            rows.append({"bucket": datetime.fromtimestamp(epoch, UTC), "value": agg.mean, "series": label})
    return rows
