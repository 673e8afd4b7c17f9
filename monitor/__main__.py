"""``python -m monitor`` is the ``llm-monitor`` command."""

from monitor.cli import app

app(prog_name="llm-monitor")
