"""Drift: which input and output features drifted, when, and how the distributions moved.

Reads the stored results of the worker's drift job (``evaluators.drift``; ``GET /api/v1/drift``):
the latest window's verdicts per feature for the chosen segment, drifted features over time, and
reference vs current values (means for numbers, shares for categories such as language).
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import data, filters, ui
from dashboard.filters import View

ALL = "all"


def render(view: View) -> None:
    st.title("Drift")
    if view.project_rowid is None:
        ui.has_calls(view)
        return
    results = pd.DataFrame(data.drift_results(view))
    if results.empty:
        st.info("**No drift results yet.** `llm-monitor worker` compares each window of traffic (an hour by "
                "default, `[drift] window_s`) with the one before or a fixed baseline once a window holds at "
                f"least `[drift] min_samples` calls ({view.range_label.lower()} shown).",
                icon=":material/hourglass_empty:")
        return
    segments = sorted(results["segment"].unique(), key=lambda s: (s != ALL, s))
    segment = st.selectbox("Segment", segments, key="dr_segment", help="all traffic, or one model / service / "
                           "segment value")
    rows = results[results["segment"] == segment]
    latest_end = rows["window_end"].max()
    latest = rows[rows["window_end"] == latest_end].sort_values(["drifted", "feature"], ascending=[False, True])
    first = latest.iloc[0]
    drifted = latest[latest["drifted"]]
    cols = st.columns(3)
    cols[0].metric("Drifted features", f"{len(drifted)} of {len(latest)}", help="in the latest window")
    cols[1].metric("Current window", f"{_when(first['window_start'])} – {_when(first['window_end'])}",
                   help=f"{_day(first['window_start'])} (UTC), {int(first['current_count'])} calls")
    cols[2].metric("Reference", f"{_when(first['reference_start'])} – {_when(first['reference_end'])}",
                   help=f"{_day(first['reference_start'])} (UTC), {int(first['reference_count'])} calls")
    if len(drifted):
        st.warning("Drifted: " + ", ".join(f"**{f}**" for f in drifted["feature"]), icon=":material/trending_up:")
    _over_time(rows, segment)
    _distributions(latest, segment)
    st.subheader("Latest window, every test")
    st.dataframe(latest[["feature", "drifted", "statistic", "score", "threshold", "current_count",
                         "reference_count"]], hide_index=True,
                 column_config={"feature": "Feature", "drifted": "Drifted", "statistic": "Test",
                                "score": st.column_config.NumberColumn("Score", format="%.4f",
                                                                       help="p-value (K-S, chi², z) or distance"),
                                "threshold": st.column_config.NumberColumn("Threshold", format="%.3f"),
                                "current_count": "Current calls", "reference_count": "Reference calls"})


def _over_time(rows: pd.DataFrame, segment: str) -> None:
    if rows["window_end"].nunique() < 2:
        return
    frame = rows.assign(verdict=rows["drifted"].map({True: "drifted", False: "stable"}))
    fig = px.scatter(frame, x="window_end", y="feature", color="verdict", symbol="verdict",
                     color_discrete_map={"drifted": "#d62728", "stable": "#9aa5b1"})
    fig.update_layout(title={"text": f"Drift verdicts per window ({segment})"}, xaxis_title="Window end (UTC)",
                      yaxis_title="Feature", height=max(330, 60 + 22 * frame["feature"].nunique()),
                      legend_title_text="")
    st.plotly_chart(fig, key="dr_time")


def _distributions(latest: pd.DataFrame, segment: str) -> None:
    """Reference vs current: means of the numeric features, shares of the categorical ones."""
    numeric, shares = [], []
    for row in latest.itertuples():
        details = row.details or {}
        if "reference_mean" in details:
            numeric += [{"feature": row.feature, "side": side, "mean": details[f"{side}_mean"]}
                        for side in ("reference", "current")]
        for side in ("reference", "current"):
            for value, share in (details.get(f"{side}_shares") or {}).items():
                shares.append({"feature": row.feature, "side": side, "value": value, "share": share})
    left, right = st.columns(2)
    if numeric:
        frame = pd.DataFrame(numeric).dropna()
        fig = px.bar(frame, x="mean", y="feature", color="side", barmode="group", orientation="h")
        fig.update_layout(title={"text": f"Reference vs current mean ({segment})"},
                          xaxis_title="mean (characters, tokens, rate or score)",
                          yaxis_title="", height=max(330, 60 + 40 * frame["feature"].nunique()),
                          legend_title_text="")
        left.plotly_chart(fig, key="dr_means")
    if shares:
        frame = pd.DataFrame(shares)
        drifted = set(latest.loc[latest["drifted"], "feature"])
        # the categorical feature to show: a drifted one first, else the language mix
        feature = min(frame["feature"].unique(), key=lambda f: (f not in drifted, f != "language", f))
        frame = frame[frame["feature"] == feature]
        fig = px.bar(frame, x="value", y="share", color="side", barmode="group")
        fig.update_yaxes(tickformat=".0%")
        fig.update_layout(title={"text": f"Reference vs current shares: {feature} ({segment})"},
                          xaxis_title=feature, yaxis_title="% of calls", height=330, legend_title_text="")
        right.plotly_chart(fig, key="dr_shares")


def _when(value: object) -> str:
    return pd.Timestamp(value).strftime("%H:%M")


def _day(value: object) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


if __name__ == "__main__":
    render(filters.current())
