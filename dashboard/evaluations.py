"""Evaluations: score distributions and trends per evaluator, the worst calls, agreement with people."""

from __future__ import annotations

import streamlit as st

from dashboard import filters, ui
from dashboard.filters import View


def render(view: View) -> None:
    st.title("Evaluations")
    ui.coming_with(5, "Scores from the evaluators (relevance, hallucination, toxicity…) show here as distributions "
                      "and trends per evaluator, with the worst-scored calls. Live traffic is scored once issue #6 "
                      "runs them online, and agreement with human feedback comes with issue #10.")


if __name__ == "__main__":
    render(filters.current())
