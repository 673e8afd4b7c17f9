"""Drift: which input and output features drifted, when, and how the distributions moved."""

from __future__ import annotations

import streamlit as st

from dashboard import filters, ui
from dashboard.filters import View


def render(view: View) -> None:
    st.title("Drift")
    ui.coming_with(6, "Drifted features over time, and reference vs current distributions for each, show here "
                      "once the drift jobs compare windows of traffic against a reference.")


if __name__ == "__main__":
    render(filters.current())
