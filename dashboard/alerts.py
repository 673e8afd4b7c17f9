"""Alerts: rules, the history of firing and resolved alerts, and webhook deliveries."""

from __future__ import annotations

import streamlit as st

from dashboard import filters, ui
from dashboard.filters import View


def render(view: View) -> None:
    st.title("Alerts")
    ui.coming_with(7, "Alert rules on metrics, scores and drift, the history of firing and resolved alerts, and "
                      "each webhook delivery with its status show here.")


if __name__ == "__main__":
    render(filters.current())
