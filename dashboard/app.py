"""The llm-monitor dashboard: ``streamlit run dashboard/app.py`` (what ``llm-monitor dashboard`` starts).

The composition root of the dashboard: it reads the settings once (``LLM_MONITOR_DATABASE_URL``
and the rest, as the CLI does), draws the global filters and hands the resulting view to the page.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import make_url

from dashboard import data, filters
from monitor.config import load_settings

PAGES = (
    ("overview.py", "Overview", ":material/monitoring:"),
    ("traces.py", "Traces", ":material/account_tree:"),
    ("evaluations.py", "Evaluations", ":material/grading:"),
    ("annotate.py", "Annotate", ":material/rate_review:"),
    ("drift.py", "Drift", ":material/trending_up:"),
    ("servers.py", "Servers & GPUs", ":material/memory:"),
    ("cost.py", "Cost", ":material/payments:"),
    ("alerts.py", "Alerts", ":material/notifications:"),
)


def main() -> None:
    st.set_page_config(page_title="llm-monitor", page_icon=":material/monitoring:", layout="wide")
    settings = load_settings()
    url = settings.database_url
    page = st.navigation([st.Page(path, title=title, icon=icon) for path, title, icon in PAGES])
    if not data.schema_ready(url):
        st.error(f"The database at {make_url(url).render_as_string(hide_password=True)} is not migrated: "
                 "run `llm-monitor migrate` (or start everything with `llm-monitor up`).")
        st.stop()
    filters.publish(filters.sidebar(url, settings.default_project))
    page.run()


main()
