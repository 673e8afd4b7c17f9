"""Traces: find calls by text, trace id or filter, then read one trace as a tree with a timing
waterfall and every call's input, output, tokens, cost and scores.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, data, filters, ui
from dashboard.filters import View

SCORES_COMING = ("No scores for this trace yet: evaluators (issue #5, run on live traffic by #6) and human "
                 "feedback (#10) add them here.")


def render(view: View) -> None:
    st.title("Traces")
    if not ui.has_calls(view):
        return
    left, right = st.columns([4, 1])
    search = left.text_input("Search", key="tr_search", placeholder="a trace id, or words in a prompt or answer")
    errors_only = right.checkbox("Errors only", key="tr_errors")
    result = data.traces(view, search.strip(), errors_only)
    found = result.traces
    if not result.complete:
        st.caption(f"The search read the calls since {result.searched_from:%Y-%m-%d %H:%M} UTC, newest first, and "
                   "stopped there to answer in time: narrow the time range to search older calls.")
    if not found:
        st.info("No trace matches this search in the current filters.", icon=":material/search_off:")
        return
    _trace_table(found)
    ids = [t["trace_id"] for t in found]
    labels = {t["trace_id"]: _trace_label(t) for t in found}
    filters.keep_valid("tr_pick", ids, ids[0])
    picked = st.selectbox("Open trace", ids, key="tr_pick", format_func=labels.get)
    render_trace(view, picked)


def _trace_label(t: dict[str, Any]) -> str:
    return f"{t['start_time']:%Y-%m-%d %H:%M:%S} · {t['service_name'] or '?'} · {t['model'] or '?'} · {t['trace_id']}"


def _trace_table(found: list[dict[str, Any]]) -> None:
    df = pd.DataFrame(found)
    st.caption(f"{len(found)} most recent traces with matching calls" + (" (limit reached)" if len(found) >= 100
                                                                          else ""))
    st.dataframe(df[["start_time", "trace_id", "service_name", "model", "calls", "duration_ms", "input_tokens",
                     "output_tokens", "cost_usd", "errors"]], hide_index=True, column_config={
        "start_time": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "trace_id": "Trace id", "service_name": "Service", "model": "Model", "calls": "LLM calls",
        "duration_ms": st.column_config.NumberColumn("LLM time (ms)", format="%.0f",
                                                     help="first call's start to last call's end"),
        "input_tokens": "Input tokens", "output_tokens": "Output tokens",
        "cost_usd": st.column_config.NumberColumn("Cost (USD)", format="$%.4f"), "errors": "Errors",
    })


def flatten(roots: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(depth, span) in tree order, children by start time (iterative: traces can be deep)."""
    out: list[tuple[int, dict[str, Any]]] = []
    stack = [(0, span) for span in sorted(roots, key=lambda s: s["start_time"], reverse=True)]
    while stack:
        depth, span = stack.pop()
        out.append((depth, span))
        stack += [(depth + 1, c) for c in sorted(span["children"], key=lambda s: s["start_time"], reverse=True)]
    return out


def kind(span: dict[str, Any]) -> str:
    if span["status_code"] == 2 or span["error_type"]:
        return "error"
    return "LLM call" if span["is_llm"] else "span"


def tree_rows(flat: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per span for the tree table and the waterfall, offsets from the trace's first start."""
    t0 = min(span["start_time"] for _, span in flat)
    rows, seen = [], defaultdict(int)
    for depth, span in flat:
        name = ("│  " * (depth - 1) + "└─ " if depth else "") + span["name"]
        seen[name] += 1
        model = span["response_model"] or span["request_model"]
        rows.append({
            "label": name if seen[name] == 1 else f"{name} ({seen[name]})", "kind": kind(span),
            "service": span["service_name"], "model": model,
            "offset_ms": (span["start_time"] - t0).total_seconds() * 1000, "duration_ms": span["duration_ms"],
            "input_tokens": span["input_tokens"], "output_tokens": span["output_tokens"], "cost_usd": span["cost_usd"],
            "span_id": span["span_id"],
        })
    return rows


def render_trace(view: View, trace_id: str) -> None:
    if view.project_rowid is None:
        return
    flat = flatten(data.trace(view.database_url, view.project_rowid, trace_id))
    if not flat:
        st.warning(f"Trace {trace_id} has no stored spans.")
        return
    rows = tree_rows(flat)
    calls = [span for _, span in flat if span["is_llm"]]
    end = max(span["end_time"] for _, span in flat)
    st.subheader(f"Trace {trace_id}")
    cols = st.columns(5)
    cols[0].metric("Spans", len(flat))
    cols[1].metric("LLM calls", len(calls))
    cols[2].metric("Duration", ui.ms((end - min(s["start_time"] for _, s in flat)).total_seconds() * 1000))
    cols[3].metric("Tokens", ui.count(sum((c["input_tokens"] or 0) + (c["output_tokens"] or 0) for c in calls)))
    priced = [c["cost_usd"] for c in calls if c["cost_usd"] is not None]
    cols[4].metric("Cost", ui.usd(sum(priced) if priced else None))
    st.plotly_chart(charts.waterfall(rows, "Timing waterfall (ms since the trace started)"), key="waterfall")
    st.dataframe(pd.DataFrame(rows)[["label", "kind", "service", "model", "offset_ms", "duration_ms",
                                      "input_tokens", "output_tokens", "cost_usd"]],
                 hide_index=True, column_config={
                     "label": "Span", "kind": "Kind", "service": "Service", "model": "Model",
                     "offset_ms": st.column_config.NumberColumn("Starts at (ms)", format="%.1f"),
                     "duration_ms": st.column_config.NumberColumn("Duration (ms)", format="%.1f"),
                     "input_tokens": "Input tokens", "output_tokens": "Output tokens",
                     "cost_usd": st.column_config.NumberColumn("Cost (USD)", format="$%.6f")})
    scores = data.scores(view.database_url, view.project_rowid, trace_id)
    by_span: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for score in scores:
        by_span[score["span_id"]].append(score)
    st.subheader("Calls")
    for call in calls:
        _call(call, by_span.get(call["span_id"], []), expanded=len(calls) == 1)
    st.subheader("Scores")
    if scores:
        _scores_table(scores)
    else:
        st.info(SCORES_COMING, icon=":material/grading:")


def _call(call: dict[str, Any], scores: list[dict[str, Any]], expanded: bool) -> None:
    model = call["response_model"] or call["request_model"] or "unknown model"
    status = " · failed" if kind(call) == "error" else ""
    with st.expander(f"{call['name']} · {model} · {ui.ms(call['duration_ms'])}{status}", expanded=expanded):
        cols = st.columns(5)
        cols[0].metric("Input tokens", ui.count(call["input_tokens"]))
        cols[1].metric("Output tokens", ui.count(call["output_tokens"]))
        cols[2].metric("Cost", ui.usd(call["cost_usd"]), help=f"source: {call['cost_source'] or 'unpriced'}")
        cols[3].metric("Latency", ui.ms(call["duration_ms"]))
        cols[4].metric("TTFT", ui.ms(call["ttft_ms"]))
        facts = {"provider": call["provider"], "operation": call["operation"], "user": call["user_id"],
                 "session": call["session_id"], "finish": ", ".join(call["finish_reasons"] or []) or None,
                 "error": call["error_type"] or call["status_message"], "span": call["span_id"]}
        st.caption(" · ".join(f"{k}: {v}" for k, v in facts.items() if v))
        for title, key in (("System instructions", "system_instructions"), ("Input", "input_text"),
                           ("Output", "output_text")):
            if call[key]:
                st.markdown(f"**{title}**")
                st.code(call[key], language=None, wrap_lines=True)
        if not (call["input_text"] or call["output_text"]):
            st.caption("No prompt or answer was captured (content capture is off in the instrumentation).")
        if scores:
            _scores_table(scores)


def _scores_table(scores: list[dict[str, Any]]) -> None:
    st.dataframe(pd.DataFrame(scores)[["name", "value", "label", "source", "evaluator", "explanation", "span_id"]],
                 hide_index=True)


if __name__ == "__main__":
    render(filters.current())
