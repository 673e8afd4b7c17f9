"""CPU time of processes (from ``/proc``), to report CPU cost per span next to wall-clock throughput.

Why: the benchmark machine has 2 cores that other work may share. Wall-clock spans/s swings with
that background load; CPU time consumed per span by the service and by its PostgreSQL backends
hardly does, so it is the steadier way to compare llm-monitor with the reference.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg

_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process in seconds (0 if it is gone or /proc is unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TCK


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its live children (``serve`` with several workers forks them)."""
    return proc_cpu_s(pid) + sum(tree_cpu_s(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def backend_pids(admin_conninfo: str, database: str) -> list[int]:
    """PostgreSQL backends connected to ``database`` (the server's pool, or the reference's connection)."""
    with psycopg.connect(admin_conninfo) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                            (database,)).fetchall()
    return [int(r[0]) for r in rows]


class BackendCpu:
    """CPU used by a database's backends between ``__init__`` and ``used()``; backends that connect in
    between count from zero (PostgreSQL is on this host: it is reached over loopback)."""

    def __init__(self, admin_conninfo: str, database: str) -> None:
        self._admin, self._db = admin_conninfo, database
        self._start = {pid: proc_cpu_s(pid) for pid in backend_pids(admin_conninfo, database)}

    def used(self) -> float:
        now = {pid: proc_cpu_s(pid) for pid in backend_pids(self._admin, self._db)}
        return sum(cpu - self._start.get(pid, 0.0) for pid, cpu in now.items())
