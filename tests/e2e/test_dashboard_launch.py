"""``dashboard.launch.run`` starts a real Streamlit server on the settings' database."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from dashboard import launch
from monitor.config import Settings
from monitor.server import free_port


def test_launch_serves_the_dashboard_on_loopback(tmp_path: Path) -> None:
    assert launch.available()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'm.db'}", default_project="shop")
    assert launch.child_env(settings, {"PATH": "/bin"}) == {
        "PATH": "/bin", "LLM_MONITOR_DATABASE_URL": settings.database_url, "LLM_MONITOR_DEFAULT_PROJECT": "shop"}
    port = free_port()
    proc = launch.run(settings, port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "streamlit exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).text == "ok":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "dashboard did not come up"
            time.sleep(0.2)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "<title>Streamlit</title>" in page.text
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) in (0, -15)
