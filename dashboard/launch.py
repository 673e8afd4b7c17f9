"""Start the dashboard as a ``streamlit run`` subprocess (``llm-monitor dashboard`` and ``llm-monitor up``).

The child gets the settings it needs through its environment (``LLM_MONITOR_DATABASE_URL``,
``LLM_MONITOR_DEFAULT_PROJECT``), the same variables the CLI reads, so the dashboard's own
``load_settings()`` sees what the parent resolved, whether it came from a flag, the file or the
environment. Streamlit's usage statistics are off and it binds to loopback unless told otherwise:
the dashboard has no login of its own.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor.config import Settings

APP = Path(__file__).with_name("app.py")
DEFAULT_PORT = 8501


def available() -> bool:
    """Whether the ``dashboard`` extra is installed (``pip install 'llm-monitor[dashboard]'``)."""
    return all(importlib.util.find_spec(name) is not None for name in ("streamlit", "plotly", "pandas"))


def command(port: int = DEFAULT_PORT, address: str = "127.0.0.1") -> list[str]:
    """The ``streamlit run`` command line for the dashboard."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port), "--server.address", address, "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
        "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer",
    ]


def child_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (the parent's environment by default) plus the settings the dashboard reads."""
    env = dict(os.environ if base is None else base)
    env["LLM_MONITOR_DATABASE_URL"] = settings.database_url
    env["LLM_MONITOR_DEFAULT_PROJECT"] = settings.default_project
    return env


def run(settings: Settings, port: int = DEFAULT_PORT, address: str = "127.0.0.1", **popen: Any
        ) -> subprocess.Popen[bytes]:
    """Start the dashboard and return its process; the caller waits on it or terminates it.

    ``popen`` goes to ``subprocess.Popen`` (``stdout``, ``start_new_session``…).
    """
    return subprocess.Popen(command(port, address), env=child_env(settings), **popen)
