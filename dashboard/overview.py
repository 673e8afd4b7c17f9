"""Overview: is the LLM service healthy, fast and affordable? Requests, errors, latency, TTFT,
tokens and cost over time, broken down by model or a segment label; alerts on top.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard import charts, data, filters, ui
from dashboard.filters import View

NONE_LABEL = "(none)"
APPROXIMATE = ("Over this range, figures come from the worker's hourly call rollups plus the newest calls: "
               "requests, errors, tokens and cost are exact; latency and TTFT percentiles are within 2 %.")


def render(view: View) -> None:
    st.title("Overview")
    _alerts(view)
    if not ui.has_calls(view):
        return
    _kpis(view)
    group_by, group_name = _breakdown(view)
    _charts(view, group_by, group_name)
    _satisfaction(view, group_by, group_name)
    _table(view, group_by, group_name)


def _charts(view: View, group_by: str, group_name: str) -> None:
    bucket_s, window = ui.timeline(view)
    per = ui.bucket_label(bucket_s)
    overall = pd.DataFrame(data.series(view, bucket_s))
    grouped = pd.DataFrame(data.series(view, bucket_s, group_by))
    grouped["group"] = grouped["group"].fillna(NONE_LABEL).astype(str)

    def chart(place: DeltaGenerator, y: str, title: str, y_title: str, df: pd.DataFrame = grouped,
              **kw: bool) -> None:
        place.plotly_chart(charts.over_time(df, y, title, y_title, window, bucket_s, **kw), key=f"ov_{y}")

    left, right = st.columns(2)
    chart(left, "requests", f"Requests per {per} by {group_name}", f"requests / {per}", bar=True)
    chart(right, "error_rate", f"Error rate by {group_name}", "% of requests", percent=True)
    left, right = st.columns(2)
    left.plotly_chart(charts.percentiles_over_time(overall, "latency_ms", ("p50", "p95", "p99"),
                                                   "Latency p50 / p95 / p99 (all calls)", "latency (ms)", window),
                      key="ov_latency")
    chart(right, "latency_ms_p95", f"Latency p95 by {group_name}", "latency (ms)")
    left, right = st.columns(2)
    chart(left, "ttft_ms_p50", f"Time to first token p50 by {group_name}", "TTFT (ms)")
    chart(right, "total_tokens", f"Tokens per {per} by {group_name}", f"tokens (input + output) / {per}", bar=True)
    priced = grouped.dropna(subset=["cost_usd"])
    if priced.empty:
        st.caption("No call in view has a price, so there is no cost chart: see the Cost page.")
    else:
        chart(st.container(), "cost_usd", f"Cost per {per} by {group_name}", f"USD / {per}", priced, bar=True)


def _satisfaction(view: View, group_by: str, group_name: str) -> None:
    """User satisfaction: the share of thumbs-up among users' votes (``sdk.feedback`` / ``POST /api/v1/feedback``)."""
    bucket_s, window = ui.timeline(view)
    votes = pd.DataFrame(data.satisfaction(view, bucket_s, group_by))
    if votes.empty:
        st.caption("User satisfaction appears here once users' thumbs up/down arrive through `sdk.feedback(...)` "
                   "or `POST /api/v1/feedback`.")
        return
    total = int(votes["votes"].sum())
    up = float((votes["thumbs_up_share"] * votes["votes"]).sum()) / total
    left, right = st.columns([1, 3])
    left.metric("User satisfaction", ui.percent(up), help=f"thumbs up among {total:,} votes in view")
    right.plotly_chart(charts.over_time(votes, "thumbs_up_share", f"User satisfaction by {group_name}",
                                        "% thumbs up", window, bucket_s, percent=True), key="ov_satisfaction")


def _alerts(view: View) -> None:
    """One line on top: what is firing, or that nothing is (details on the Alerts page)."""
    if view.project_rowid is None:
        return
    firing = data.alert_counts(view.database_url, view.project_rowid)["firing"]
    if firing:  # red on purpose; keyed so the browser test tells it from an error box
        st.container(key="firing_alerts").error(f"**{firing} alert(s) firing**: see the Alerts page.",
                                                icon=":material/notifications_active:")
    elif data.alert_rules(view.database_url, view.project_rowid):
        st.success("**Alerts:** none firing.", icon=":material/notifications:")
    else:
        st.info("**Alerts:** no alert rules yet; add them in `llm-monitor.toml` or with `llm-monitor alerts add` "
                "(see the Alerts page).", icon=":material/notifications_off:")


def _kpis(view: View) -> None:
    (total,) = data.summary(view) or [None]
    if total is None:
        return
    tokens = total["input_tokens"] + total["output_tokens"]
    cols = [*st.columns(4), *st.columns(4)]  # two rows: eight in one row cut "500 ms" to "500 …" on a laptop
    cols[0].metric("Requests", ui.count(total["requests"]))
    cols[1].metric("Error rate", ui.percent(total["error_rate"]), help=f"{total['errors']} failed calls")
    cols[2].metric("Latency p50", ui.ms(total["latency_ms_p50"]))
    cols[3].metric("Latency p95", ui.ms(total["latency_ms_p95"]))
    cols[4].metric("Latency p99", ui.ms(total["latency_ms_p99"]))
    cols[5].metric("TTFT p50", ui.ms(total["ttft_ms_p50"]), help="time to first token, streamed calls only")
    cols[6].metric("Tokens", ui.count(tokens), help=f"{total['input_tokens']:,} in, {total['output_tokens']:,} out")
    cols[7].metric("Cost", ui.usd(total["cost_usd"]),
                   help=f"{total['priced_requests']} of {total['requests']} calls priced")
    if total.get("approximate"):
        st.caption(APPROXIMATE)


def _breakdown(view: View) -> tuple[str, str]:
    labels = list(data.options(view.database_url, view.project_rowid or 0).segments)
    choices = {"model": "model", **{f"segment.{label}": f"segment {label}" for label in labels}}
    picked = st.radio("Break down by", list(choices), format_func=choices.get, horizontal=True, key="ov_group")
    return picked, choices[picked]


def _table(view: View, group_by: str, group_name: str) -> None:
    rows = data.summary(view, group_by)
    df = pd.DataFrame(rows)
    df["group"] = df["group"].fillna(NONE_LABEL)
    st.subheader(f"By {group_name}")
    st.dataframe(df[["group", "requests", "error_rate", "latency_ms_p50", "latency_ms_p95", "latency_ms_p99",
                     "ttft_ms_p50", "input_tokens", "output_tokens", "cost_usd"]],
                 hide_index=True, column_config={
                     "group": group_name.capitalize(), "requests": "Requests",
                     "error_rate": st.column_config.NumberColumn("Error rate", format="percent"),
                     "latency_ms_p50": st.column_config.NumberColumn("p50 (ms)", format="%.0f"),
                     "latency_ms_p95": st.column_config.NumberColumn("p95 (ms)", format="%.0f"),
                     "latency_ms_p99": st.column_config.NumberColumn("p99 (ms)", format="%.0f"),
                     "ttft_ms_p50": st.column_config.NumberColumn("TTFT p50 (ms)", format="%.0f"),
                     "input_tokens": "Input tokens", "output_tokens": "Output tokens",
                     "cost_usd": st.column_config.NumberColumn("Cost (USD)", format="$%.4f"),
                 })


if __name__ == "__main__":
    render(filters.current())
