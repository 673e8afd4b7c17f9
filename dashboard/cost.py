"""Cost: where the money goes, by model, user, service, segment and input language; API prices vs self-hosted GPU
time."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard import charts, data, filters, ui
from dashboard.filters import View
from monitor.language import language_name
from monitor.query_views import HOSTING_API, HOSTING_SELF, HOSTING_UNPRICED

NONE_LABEL = "(none)"
TOP = 20
SOURCES = {"genai-prices": "API list price (genai-prices)", "config": "your price table ([prices])",
           "reported": "reported by the instrumentation", "gpu_time": "self-hosted GPU time ([[deployments]])"}


def render(view: View) -> None:
    st.title("Cost")
    if not ui.has_calls(view):
        return
    hosting = {r["group"]: r for r in data.cost(view, "hosting")}
    _kpis(view, hosting)
    if not any(r["cost_usd"] for r in hosting.values()):
        st.info("**No call in view has a price.** Add a `[prices.\"<model>\"]` table (USD per 1M tokens) for models "
                "genai-prices does not know, or a `[[deployments]]` entry for self-hosted ones.",
                icon=":material/money_off:")
        return
    left, right = st.columns(2)
    _bars(left, view, "model", "Cost by model")
    _bars(right, view, "user", f"Cost by user, top {TOP}")
    left, right = st.columns(2)
    _bars(left, view, "service", "Cost by service")
    _segment(right, view)
    left, right = st.columns(2)
    split = pd.DataFrame([{"hosting": k, "cost_usd": r["cost_usd"]} for k, r in hosting.items() if r["cost_usd"]])
    left.plotly_chart(charts.share(split, "hosting", "cost_usd", "API vs self-hosted (USD)"), key="hosting")
    _sources(right, view)
    _over_time(view)
    _model_table(view)
    _languages(view)


def _kpis(view: View, hosting: dict) -> None:
    (total,) = data.summary(view) or [None]
    if total is None:
        return
    unpriced = hosting.get(HOSTING_UNPRICED, {}).get("requests", 0)
    priced_tokens = sum(r["priced_tokens"] for r in hosting.values())
    cols = st.columns(5)
    cols[0].metric("Total cost", ui.usd(total["cost_usd"]))
    cols[1].metric("API", ui.usd(hosting.get(HOSTING_API, {}).get("cost_usd")))
    cols[2].metric("Self-hosted", ui.usd(hosting.get(HOSTING_SELF, {}).get("cost_usd")))
    cols[3].metric("Priced calls", f"{total['priced_requests']:,} of {total['requests']:,}",
                   help=f"{unpriced} calls have no price")
    per_1m = total["cost_usd"] * 1e6 / priced_tokens if total["cost_usd"] and priced_tokens else None
    cols[4].metric("Per 1M tokens", ui.usd(per_1m), help="cost over the input and output tokens of priced calls")


def _frame(view: View, by: str) -> pd.DataFrame:
    df = pd.DataFrame(data.cost(view, by))
    df = df[df["cost_usd"].notna()].head(TOP).copy()
    df["group"] = df["group"].fillna(NONE_LABEL).astype(str)
    return df


def _bars(place: DeltaGenerator, view: View, by: str, title: str) -> None:
    df = _frame(view, by)
    if df.empty:
        place.caption(f"{title}: no priced calls.")
        return
    axis = by.removeprefix("segment.")
    place.plotly_chart(charts.bars(df, "cost_usd", "group", f"{title} (USD)", "cost (USD)", axis), key=f"by_{by}")


def _segment(place: DeltaGenerator, view: View) -> None:
    labels = list(data.options(view.database_url, view.project_rowid or 0).segments)
    if not labels:
        place.caption("Cost by segment: no call carries a segment label (`llm_monitor.segment.<label>`).")
        return
    label = place.selectbox("Segment label", labels, key="cost_segment")
    _bars(place, view, f"segment.{label}", f"Cost by segment {label}")


def _sources(place: DeltaGenerator, view: View) -> None:
    df = pd.DataFrame(data.cost(view, "source"))
    df["source"] = df["group"].map(lambda s: SOURCES.get(s, s) if s else "unpriced")
    place.markdown("**Where prices come from**")
    place.dataframe(df[["source", "requests", "cost_usd", "usd_per_1m_tokens"]], hide_index=True, column_config={
        "source": "Price source", "requests": "Calls",
        "cost_usd": st.column_config.NumberColumn("Cost (USD)", format="$%.4f"),
        "usd_per_1m_tokens": st.column_config.NumberColumn("USD per 1M tokens", format="$%.4f")})


def _over_time(view: View) -> None:
    bucket_s, window = ui.timeline(view)
    per = ui.bucket_label(bucket_s)
    df = pd.DataFrame(data.series(view, bucket_s, "model")).dropna(subset=["cost_usd"])
    df["group"] = df["group"].fillna(NONE_LABEL).astype(str)
    st.plotly_chart(charts.over_time(df, "cost_usd", f"Cost per {per} by model", f"USD / {per}", window, bucket_s,
                                     bar=True), key="cost_time")


def _model_table(view: View) -> None:
    df = pd.DataFrame(data.cost(view, "model"))
    df["group"] = df["group"].fillna(NONE_LABEL)
    st.subheader("By model")
    st.dataframe(df[["group", "requests", "priced_requests", "input_tokens", "output_tokens", "cost_usd",
                     "usd_per_1m_tokens"]], hide_index=True, column_config={
        "group": "Model", "requests": "Calls", "priced_requests": "Priced calls", "input_tokens": "Input tokens",
        "output_tokens": "Output tokens", "cost_usd": st.column_config.NumberColumn("Cost (USD)", format="$%.4f"),
        "usd_per_1m_tokens": st.column_config.NumberColumn("USD per 1M tokens", format="$%.4f")})


def _languages(view: View) -> None:
    """Cost per request and input tokens per character by the language of the input (worker-labelled)."""
    st.subheader("By input language")
    rows = data.languages(view)
    if not any(r["language"] for r in rows):
        st.caption("No call in view has a language yet: `llm-monitor worker` labels the calls that carry input "
                   "text, a batch each maintenance round.")
        return
    df = pd.DataFrame(rows)
    df["language"] = df["language"].map(language_name)
    priced = df[df["cost_per_request_usd"].notna()]
    if not priced.empty:
        st.plotly_chart(charts.bars(priced, "cost_per_request_usd", "language", "Cost per request by input language "
                                    "(USD)", "cost per request (USD)", "input language"), key="by_language")
    st.dataframe(df[["language", "requests", "input_tokens", "output_tokens", "input_chars", "tokens_per_char",
                     "cost_per_request_usd", "cost_usd"]], hide_index=True, column_config={
        "language": "Input language", "requests": "Calls", "input_tokens": "Input tokens",
        "output_tokens": "Output tokens",
        "input_chars": st.column_config.NumberColumn("Input characters", help="input text plus system instructions"),
        "tokens_per_char": st.column_config.NumberColumn(
            "Input tokens per character", format="%.3f",
            help="input tokens over input characters, for calls that report both"),
        "cost_per_request_usd": st.column_config.NumberColumn("Cost per request (USD)", format="$%.6f",
                                                               help="over the priced calls"),
        "cost_usd": st.column_config.NumberColumn("Cost (USD)", format="$%.4f")})


if __name__ == "__main__":
    render(filters.current())
