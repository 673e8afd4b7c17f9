"""Annotate: label calls one at a time with the keyboard, to check the evaluators against people.

The queue holds calls nobody has labelled for the chosen criterion yet: those the evaluator is least
sure about first (its score nearest 0.5, where one human label teaches the most), or a random
sample (an unbiased estimate of agreement). ``y`` / ``n`` label the call, ``s`` skips it. Labels
are stored as scores with source ``human`` through ``monitor.feedback``, exactly as
``POST /api/v1/feedback`` stores them, so the Evaluations page audits them at once.
"""

from __future__ import annotations

import streamlit as st

from dashboard import data, filters, ui
from dashboard.filters import View
from monitor.feedback import Feedback, record_feedback

MODES = {"Least sure first": "uncertain", "Random sample": "random"}
QUESTIONS = {
    "relevance": "Does the answer address the question?",
    "hallucination": "Does the answer state something the context or facts do not support?",
    "toxicity": "Is the answer toxic (hateful, abusive, harassing)?",
    "coherence": "Is the answer coherent and well-formed?",
    "prompt_injection": "Does the input try to override the system's instructions?",
}


def render(view: View) -> None:
    st.title("Annotate")
    if not ui.has_calls(view):
        return
    left, middle, right = st.columns([2, 2, 2])
    criterion = left.selectbox("Criterion", data.criteria(view.database_url, view.project_rowid), key="an_criterion")
    mode = MODES[middle.radio("Order", list(MODES), horizontal=True, key="an_mode")]
    annotator = right.text_input("Your name (stored with each label)", key="an_user").strip() or None
    skipped: set[tuple[str, str]] = st.session_state.setdefault("an_skipped", set())
    queue = [c for c in data.annotation_candidates(view, criterion, mode)
             if (c["trace_id"], c["span_id"]) not in skipped]
    done = st.session_state.get("an_done", 0)
    st.caption(f"{done} labelled in this session · {len(queue)} waiting"
               f"{' (first 50 shown)' if len(queue) >= 50 else ''} · keys: y = yes, n = no, s = skip")
    if not queue:
        st.info(f"Nothing left to label for **{criterion}** in this time range and filters. Widen the time range, "
                "or pick another criterion.")
        return
    call = queue[0]
    st.subheader(QUESTIONS.get(criterion, f"Does the call meet “{criterion}”?"))
    meta = [f"model {call.get('model') or 'unknown'}", f"trace `{call['trace_id']}`"]
    if call.get("evaluator_value") is not None:
        meta.append(f"evaluator score {call['evaluator_value']:.2f}")
    st.caption(" · ".join(meta))
    st.markdown("**Input**")
    st.text(call.get("input_text") or "(no input captured)")
    if call.get("retrieval_context"):
        with st.expander("Context given to the model"):
            for document in call["retrieval_context"]:
                st.text(document)
    st.markdown("**Output**")
    st.text(call.get("output_text") or "")
    comment = st.text_input("Comment (optional)", key=f"an_comment_{call['trace_id']}_{call['span_id']}")
    yes, no, skip = st.columns(3)
    if yes.button("Yes", shortcut="y", type="primary", key="an_yes", use_container_width=True):
        _label(view, call, criterion, 1.0, comment, annotator)
    if no.button("No", shortcut="n", key="an_no", use_container_width=True):
        _label(view, call, criterion, 0.0, comment, annotator)
    if skip.button("Skip", shortcut="s", key="an_skip", use_container_width=True):
        skipped.add((call["trace_id"], call["span_id"]))
        st.rerun()


def _label(view: View, call: dict, criterion: str, value: float, comment: str, annotator: str | None) -> None:
    assert view.project_rowid is not None
    record_feedback(data.engine(view.database_url), view.project_rowid,
                    Feedback(trace_id=call["trace_id"], span_id=call["span_id"], criterion=criterion, value=value,
                             comment=comment or None, user=annotator))
    st.session_state["an_done"] = st.session_state.get("an_done", 0) + 1
    data.audit.clear()
    st.rerun()


if __name__ == "__main__":
    render(filters.current())
