"""Servers & GPUs: scraped inference-server and GPU metrics per deployment, and cost per 1M tokens."""

from __future__ import annotations

import streamlit as st

from dashboard import filters, ui
from dashboard.filters import View


def render(view: View) -> None:
    st.title("Servers & GPUs")
    ui.coming_with(4, "Per deployment: running and waiting requests, KV-cache use, TTFT and inter-token latency "
                      "from the server's own histograms, GPU utilisation, memory and power, and the GPU-time "
                      "cost per 1M tokens, from the scraped vLLM, TGI, Triton and DCGM metrics.")


if __name__ == "__main__":
    render(filters.current())
