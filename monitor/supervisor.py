"""``llm-monitor serve`` in several processes: a supervisor and N workers sharing the listening ports.

Why: the ingest path is CPU-bound Python (decode, normalise, price, serialise) and one interpreter
uses one core, so one process left the other cores idle while requests queued (docs/benchmarks.md,
"Ingest"). Every worker listens on the same HTTP and OTLP/gRPC ports with ``SO_REUSEPORT``
(the kernel spreads connections over the workers); the supervisor checks that the ports are free
before it forks, so a taken port is one clear error. Writes need no coordination beyond what one process already does:
PostgreSQL takes concurrent writers, and SQLite writers of all processes queue on one file lock
(``monitor.store.engine.write_lock``).

The supervisor forwards SIGTERM/SIGINT to the workers and waits for them; a worker that dies is
started again (a crash of one loses no acknowledged data: every ack follows a commit); workers
that keep dying right after start (a bad config, a port taken) stop the whole service with an error
instead of looping. Workers are killed with the supervisor if it is itself killed
(``PR_SET_PDEATHSIG``), so a ``kill -9`` never leaves orphans holding the ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
QUICK_EXIT_S = 5.0  # a worker that exits this soon after its start counts as a failed start
MAX_QUICK_EXITS = 5
LISTEN_BACKLOG = 2048
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def default_workers() -> int:
    """One per core, at most four (each holds its own caches and connection pool)."""
    return max(1, min(os.cpu_count() or 1, 4))


def can_fork() -> bool:
    """Forking workers is done on Linux only (``PR_SET_PDEATHSIG``; macOS forks are unsafe with threads)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class ListenError(OSError):
    """The HTTP port cannot be bound (taken, not permitted, no such address)."""


def ensure_port_free(host: str, port: int, wait_s: float = 3.0) -> None:
    """Fail before forking if ``port`` is taken, by another program or another llm-monitor.

    Workers bind with ``SO_REUSEPORT``, which would silently share the port with any other socket
    of this user that set it too, so this tries a plain bind first. A port still held by the
    exiting workers of a killed supervisor is waited for up to ``wait_s``, so an immediate restart
    after a crash does not fail.
    """
    _bind(host, port, reuse_port=False, wait_s=wait_s).close()


def bind_worker_listener(host: str, port: int) -> socket.socket:
    """A worker's own listening socket on the shared port (``SO_REUSEPORT``).

    Each worker has its own accept queue and the kernel spreads new connections over them by a
    hash of the connection. A socket shared by all workers was tried first: whichever worker the
    kernel woke first accepted nearly every connection (3:1 to 5:1 over two workers, with the
    busier one queueing requests), because connections arrive one by one while both are idle.
    """
    sock = _bind(host, port, reuse_port=True, wait_s=0)
    sock.listen(LISTEN_BACKLOG)
    return sock


def _bind(host: str, port: int, reuse_port: bool, wait_s: float) -> socket.socket:
    """A bound socket; ``EADDRINUSE`` is retried until ``wait_s`` has passed, then ``ListenError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + wait_s
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((host, port))
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise ListenError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


class Supervisor:
    """Runs ``run_worker(index)`` in ``count`` forked processes until told to stop."""

    def __init__(self, count: int, run_worker: Callable[[int], None]) -> None:
        self.count = count
        self.run_worker = run_worker
        self._children: dict[int, tuple[int, float]] = {}  # pid -> (index, started at)
        self._stopping = False
        self._quick_exits = 0
        self.exit_code = 0

    def run(self) -> int:
        """Blocks until every worker has exited; returns the exit code for the command."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        try:
            for index in range(self.count):
                self._spawn(index)
            while self._children:
                pid, status = os.wait()  # retried after a signal handler runs (PEP 475)
                index, started = self._children.pop(pid, (-1, 0.0))
                if index < 0 or self._stopping:
                    continue
                self._restart(index, started, status)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.exit_code

    def _restart(self, index: int, started: float, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        quick = time.monotonic() - started < QUICK_EXIT_S
        self._quick_exits = self._quick_exits + 1 if quick else 0
        if self._quick_exits >= MAX_QUICK_EXITS:
            log.error("worker %d exited (%s) %d times right after starting; stopping", index,
                      _describe(code), self._quick_exits)
            self.exit_code = 1
            self.stop()
            return
        log.warning("worker %d exited (%s); starting it again", index, _describe(code))
        if quick:
            time.sleep(min(0.2 * 2 ** self._quick_exits, 5.0))
        if not self._stopping:
            self._spawn(index)

    def stop(self) -> None:
        """Ask every worker to finish (uvicorn drains in-flight requests on SIGTERM)."""
        self._stopping = True
        for pid in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self._stopping:
            log.info("received %s: stopping %d worker(s)", signal.Signals(signum).name, len(self._children))
        self.stop()

    def _spawn(self, index: int) -> None:
        parent = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        # SIGTERM/SIGINT wait (blocked) until the pid is recorded here and the child has dropped the
        # supervisor's handler it inherits: otherwise that handler would swallow a stop signal sent
        # to the new worker, which then runs on (and the supervisor waits for it forever).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        pid = -1
        try:
            pid = os.fork()
            if pid:
                self._children[pid] = (index, time.monotonic())
                if self._stopping:  # stop() ran meanwhile (from another thread) and missed this pid
                    os.kill(pid, signal.SIGTERM)
                return
        finally:
            if pid:  # the supervisor (-1: the fork failed)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        code = 1
        try:
            for sig in _STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)  # uvicorn installs its own once it runs
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # one that came meanwhile ends this worker now
            _die_with(parent)
            self.run_worker(index)
            code = 0
        except BaseException:  # a worker must never return into the supervisor's loop
            log.exception("worker %d failed", index)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


def _die_with(parent: int) -> None:
    """Have the kernel SIGKILL this worker when the supervisor dies, however it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        log.warning("PR_SET_PDEATHSIG unavailable: workers may outlive a killed supervisor")
    if os.getppid() != parent:  # the supervisor died before the line above took effect
        os._exit(1)


def _describe(code: int) -> str:
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
