"""Evaluations: how far to trust each evaluator, measured against people's labels.

For the chosen criterion: precision, recall, F1 and Cohen's kappa with 95 % intervals and the
number of labels, the threshold the labels suggest, agreement over time, and the calls where people
and the evaluator disagree most. Labels come from the Annotate page, ``sdk.feedback`` and
``POST /api/v1/feedback``.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import data, filters, ui
from dashboard.filters import View


def render(view: View) -> None:
    st.title("Evaluations")
    if not ui.has_calls(view):
        return
    left, right = st.columns([2, 1])
    criterion = left.selectbox("Evaluator", data.criteria(view.database_url, view.project_rowid), key="ev_criterion")
    threshold = right.slider("Decision threshold", 0.0, 1.0, 0.5, 0.05, key="ev_threshold",
                             help="evaluator scores at or above it count as positive (relevant, toxic, …)")
    result = data.audit(view, criterion, threshold)
    a = result.overall
    st.subheader(f"Agreement with people: {criterion}")
    if a.n == 0:
        st.info(f"No call has both a human label and an evaluator score for **{criterion}** in this time range. "
                "Label some on the Annotate page (keys y / n), or send labels with `sdk.feedback(criterion=...)`.")
        return
    cols = st.columns(5)
    cols[0].metric("Labels compared", ui.count(a.n))
    cols[1].metric("Precision", _fmt(a.precision), help=_ci(a.precision_ci))
    cols[2].metric("Recall", _fmt(a.recall), help=_ci(a.recall_ci))
    cols[3].metric("F1", _fmt(a.f1), help=_ci(a.f1_ci))
    cols[4].metric("Cohen's kappa", _fmt(a.kappa), help=_ci(a.kappa_ci))
    st.caption(" · ".join([
        f"95 % intervals: precision {_ci(a.precision_ci)}, recall {_ci(a.recall_ci)}, F1 {_ci(a.f1_ci)}, "
        f"kappa {_ci(a.kappa_ci)}",
        f"confusion at {threshold:.2f}: {a.confusion.tp} agree positive, {a.confusion.tn} agree negative, "
        f"{a.confusion.fp} evaluator-only, {a.confusion.fn} people-only"]))
    if result.suggested_threshold is not None:
        st.info(f"The labels suggest a threshold of **{result.suggested_threshold:.2f}** "
                f"(F1 {result.suggested_f1:.2f} on these {a.n} labels; set `threshold` in "
                f"`[evaluators.{criterion}]`).", icon=":material/tune:")
    if a.n < 30:
        st.warning(f"Only {a.n} labels: the intervals above are wide; label more before trusting them.")
    if len(result.over_time) > 1:
        trend = pd.DataFrame(result.over_time).melt(id_vars=["bucket", "n"], value_vars=["f1", "kappa"],
                                                    var_name="statistic", value_name="value").dropna()
        fig = px.line(trend, x="bucket", y="value", color="statistic", markers=True, hover_data=["n"])
        fig.update_layout(title={"text": f"Agreement with people per day: {criterion}"},
                          xaxis_title="Day labelled (UTC)", yaxis_title="F1 / Cohen's kappa", height=330)
        st.plotly_chart(fig, key="ev_trend")
    st.subheader("Where people and the evaluator disagree most")
    worst = pd.DataFrame(result.disagreements)
    st.dataframe(worst[["gap", "human", "evaluator", "input", "output", "by", "trace_id"]], hide_index=True,
                 column_config={"gap": st.column_config.NumberColumn("Gap", format="%.2f"),
                                "human": st.column_config.NumberColumn("Person", format="%.2f"),
                                "evaluator": st.column_config.NumberColumn("Evaluator", format="%.2f"),
                                "input": "Input", "output": "Output", "by": "Labelled by", "trace_id": "Trace"})


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _ci(interval: tuple[float, float] | None) -> str:
    return "n/a" if interval is None else f"{interval[0]:.2f}–{interval[1]:.2f}"


if __name__ == "__main__":
    render(filters.current())
