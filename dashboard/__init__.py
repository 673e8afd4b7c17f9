"""The Streamlit dashboard; see the dashboard issue."""
