"""``llm-monitor serve`` as a child process on a fixed port, so tests can SIGKILL it and start it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from monitor.server import free_port


class ServeProcess:
    """The real command a user runs (OTLP/HTTP only; gRPC off), restartable on the same port."""

    def __init__(self, database_url: str, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.env = {**os.environ, "LLM_MONITOR_DATABASE_URL": database_url, "LLM_MONITOR_AUTH": "disabled",
                    "LLM_MONITOR_CONFIG": str(workdir / "absent.toml"), "LLM_MONITOR_SERVER__GRPC_ENABLED": "false",
                    **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout_s: float = 60) -> float:
        """Start and wait until ``/healthz`` answers; returns the seconds it took."""
        cli = Path(sys.executable).parent / "llm-monitor"
        log = (self.workdir / f"serve-{self.starts}.log").open("wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([str(cli), "serve", "--port", str(self.port)], env=self.env,
                                     cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.starts += 1
        while time.monotonic() - t0 < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}; see {log.name}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"serve did not start within {timeout_s}s; see {log.name}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
