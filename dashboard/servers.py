"""Servers & GPUs: what each self-hosted deployment's inference server and GPUs report, beside its
traced requests, and what its tokens cost by GPU time.

Deployments come from ``[[deployments]]`` in ``llm-monitor.toml``; their metrics from the worker's
Prometheus scrapes (vLLM, TGI, Triton, SGLang, DCGM) and OTLP metrics, read through
``monitor.query.server_view`` and ``monitor.gpu_cost.cost_report`` (what ``/api/v1/deployments`` serves).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, data, filters, ui
from dashboard.filters import View

COMPARE_MODEL = "gpt-4o-mini"
SERIES = (("inference.requests.running", "Requests running", "requests"),
          ("inference.requests.waiting", "Requests waiting", "requests"),
          ("inference.kv_cache.usage", "KV-cache use", "fraction of blocks"),
          ("hw.gpu.utilization", "GPU utilisation", "fraction busy"))


def render(view: View) -> None:
    st.title("Servers & GPUs")
    deployments = data.deployments()
    if not deployments:
        st.info("**No deployments configured.** Declare your self-hosted models as `[[deployments]]` (model, GPU "
                "type and count, price per GPU-hour) and their servers as `[[scrape.targets]]` in "
                "`llm-monitor.toml`; `llm-monitor worker` scrapes them. See the README's Configuration section.",
                icon=":material/dns:")
        return
    if view.project_rowid is None:
        ui.has_calls(view)
        return
    name = st.selectbox("Deployment", [d["name"] for d in deployments], key="sv_deployment")
    deployment = next(d for d in deployments if d["name"] == name)
    st.caption(f"model `{deployment['model']}` · {deployment['gpu_count']} × {deployment['gpu_type'] or 'GPU'} "
               f"at ${deployment['usd_per_gpu_hour']:.2f} per GPU-hour")
    end = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = view.start or end - timedelta(hours=24)
    server = data.server_view(view, name, start, end)
    cost = data.deployment_cost(view, name, start, end, COMPARE_MODEL)
    _kpis(server, cost)
    _charts(view, name, start, end)
    _cost(cost)


def _kpis(server: dict[str, Any], cost: dict[str, Any]) -> None:
    traced, gpu = server.get("traced") or {}, server.get("gpu") or {}
    cols = [*st.columns(4), *st.columns(4)]
    cols[0].metric("Traced requests", ui.count(traced.get("requests")))
    cols[1].metric("Running (mean)", _num(server["requests_running"].get("mean")),
                   help="requests the server was running, from its own gauge")
    cols[2].metric("Waiting (mean)", _num(server["requests_waiting"].get("mean")))
    cols[3].metric("KV-cache use (max)", ui.percent(server["kv_cache_usage"].get("max")))
    cols[4].metric("TTFT p95 (server)", ui.ms(_s_to_ms(server["ttft_s"].get("p95"))),
                   help="from the server's own histogram")
    cols[5].metric("GPU utilisation", ui.percent(gpu.get("utilization", {}).get("mean")))
    cols[6].metric("GPU power (mean)", "–" if gpu.get("power_w", {}).get("mean") is None
                   else f"{gpu['power_w']['mean']:.0f} W")
    cols[7].metric("Cost per 1M tokens", ui.usd(cost.get("cost_per_1m_tokens")),
                   help="GPU time charged to this project's traced requests, per million tokens")


def _charts(view: View, name: str, start: datetime, end: datetime) -> None:
    found = False
    left, right = st.columns(2)
    for i, (metric, title, unit) in enumerate(SERIES):
        rows = data.metric_series(view, name, metric, start, end)
        if not rows:
            continue
        found = True
        df = pd.DataFrame(rows)
        place = left if i % 2 == 0 else right
        place.plotly_chart(charts.over_time(df, "value", f"{title} ({name})", unit, (start, end), 60, color="series"),
                           key=f"sv_{metric}")
    if not found:
        st.info("No scraped server or GPU metrics for this deployment in the time range: check its "
                "`[[scrape.targets]]` (label them `deployment = \"NAME\"` or give the deployment a `server` URL).",
                icon=":material/monitoring:")


def _cost(cost: dict[str, Any]) -> None:
    st.subheader("GPU cost in the time range")
    rows = [("GPU hours", f"{cost['gpu_hours']:.2f}"), ("GPU cost", ui.usd(cost["gpu_cost_usd"])),
            ("Charged to traced requests", ui.usd(cost["attributed_usd"])),
            ("Other projects", ui.usd(cost["other_projects_usd"])), ("Idle", ui.usd(cost["idle_usd"])),
            ("Cost per 1M tokens (traced)", ui.usd(cost["cost_per_1m_tokens"])),
            ("Cost per 1M tokens (all in, idle included)", ui.usd(cost["all_in_cost_per_1m_tokens"]))]
    compare = cost.get("api_comparison") or {}
    if compare.get("known"):
        rows.append((f"The same tokens at {compare['model']}'s list price", ui.usd(compare["usd"])))
    st.dataframe(pd.DataFrame(rows, columns=["", "value"]), hide_index=True)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _s_to_ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


if __name__ == "__main__":
    render(filters.current())
