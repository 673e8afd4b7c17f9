"""``llm-monitor up`` on a fresh SQLite file: migrates, serves OTLP + REST, runs the worker and the
dashboard, and stops all of it cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from monitor.server import free_port


def wait_for(url: str, proc: subprocess.Popen[str], ok: str | None = None, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            resp = httpx.get(url, timeout=2)
            if resp.status_code == 200 and (ok is None or resp.text == ok):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"{url} did not come up:\n{proc.communicate()[0]}")


def test_up_runs_everything_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port, grpc_port, dash_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_MONITOR_")}
    env.update(LLM_MONITOR_DATABASE_URL=f"sqlite:///{tmp_path / 'up.db'}", LLM_MONITOR_SERVER__PORT=str(port),
               LLM_MONITOR_SERVER__GRPC_PORT=str(grpc_port), LLM_MONITOR_CONFIG=str(tmp_path / "none.toml"))
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "up", "--dashboard-port", str(dash_port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", proc)
        wait_for(f"http://127.0.0.1:{dash_port}/_stcore/health", proc, ok="ok")
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/calls").json() == {"items": [], "next_cursor": None}
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "stopped" in out
    for p in (port, dash_port):
        try:
            httpx.get(f"http://127.0.0.1:{p}/", timeout=2)
            raise AssertionError(f"port {p} still answers after Ctrl-C")
        except httpx.TransportError:
            pass
