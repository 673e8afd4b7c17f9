"""Alerts: what is firing now, the rules, the history of firing and resolved alerts, and webhook deliveries."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data, filters
from dashboard.filters import View

NO_RULES = ("**No alert rules yet.** Add one under `[[alerts.rules]]` in `llm-monitor.toml`, with "
            "`llm-monitor alerts add`, or `POST /api/v1/alert-rules`; `llm-monitor worker` evaluates them. "
            "See docs/alerts.md.")


def render(view: View) -> None:
    st.title("Alerts")
    if view.project_rowid is None:
        st.info("**No data yet.** No project exists in this database.", icon=":material/inbox:")
        return
    rules = data.alert_rules(view.database_url, view.project_rowid)
    if not rules:
        st.info(NO_RULES, icon=":material/notifications_off:")
        return
    _header(view)
    _rules(rules)
    _history(view)
    _deliveries(view)


def _header(view: View) -> None:
    counts = data.alert_counts(view.database_url, view.project_rowid)  # type: ignore[arg-type]
    cols = st.columns(4)
    cols[0].metric("Firing", f"{counts['firing']:,}", help="alerts whose condition held for their `for` duration")
    cols[1].metric("Pending", f"{counts['pending']:,}", help="breaching, waiting out their `for` duration")
    cols[2].metric("Notifications waiting", f"{counts['deliveries_pending']:,}",
                   help="in the outbox, not yet acknowledged by the webhook (retried with backoff)")
    cols[3].metric("Notifications failed", f"{counts['deliveries_failed']:,}",
                   help="given up after alerts.give_up_after_h")


def _rules(rules: list[dict[str, Any]]) -> None:
    st.subheader("Rules")
    rows = [{"id": r["id"], "name": r["rule"]["name"], "kind": r["rule"]["kind"], "condition": _condition(r["rule"]),
             "severity": r["rule"]["severity"], "webhooks": ", ".join(r["rule"]["webhooks"]), "origin": r["origin"],
             "enabled": r["enabled"], "last value": r["last_value"], "last evaluated (UTC)": r["last_evaluated_at"],
             "error": r["last_error"] or ""} for r in rules]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _condition(rule: dict[str, Any]) -> str:
    from monitor.alerts import RuleSpec

    return RuleSpec.model_validate(rule).describe()


def _history(view: View) -> None:
    st.subheader(f"History ({view.range_label.lower()})")
    events = data.alert_events(view.database_url, view.project_rowid, view.start)  # type: ignore[arg-type]
    if not events:
        st.caption("No alert has been pending, firing or resolved in this time range.")
        return
    rows = [{"status": e["status"], "rule": e["rule"], "severity": e["severity"],
             "labels": ", ".join(f"{k}={v}" for k, v in e["labels"].items()) or "(all)", "value": e["value"],
             "threshold": e["threshold"], "started (UTC)": e["started_at"], "fired (UTC)": e["fired_at"],
             "resolved (UTC)": e["resolved_at"], "notifications": e["notifications"]} for e in events]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _deliveries(view: View) -> None:
    st.subheader("Webhook deliveries")
    rows = data.alert_deliveries(view.database_url, view.project_rowid)  # type: ignore[arg-type]
    if not rows:
        st.caption("No notification sent yet: one is written for each firing, re-notification and resolve.")
        return
    table = [{"status": d["status"], "webhook": d["webhook"], "transition": d["transition"],
              "idempotency key": d["idempotency_key"], "attempts": d["attempts"], "HTTP": d["last_status_code"],
              "last error": d["last_error"] or "", "created (UTC)": d["created_at"],
              "delivered (UTC)": d["delivered_at"]} for d in rows]
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")


if __name__ == "__main__":
    render(filters.current())
