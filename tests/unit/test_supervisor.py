"""``monitor.supervisor.Supervisor`` on its own: real ``fork``s of the test process (Linux), with
workers that are plain functions writing to a file, so every restart and exit can be counted."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from monitor import supervisor
from monitor.store import make_engine
from monitor.store.engine import WriteLock, write_lock
from monitor.supervisor import ListenError, Supervisor, bind_worker_listener, default_workers, ensure_port_free

pytestmark = pytest.mark.skipif(not supervisor.can_fork(), reason="workers are forked on Linux only")


def runs(path: Path) -> list[list[str]]:
    """One line per worker start: ``index pid``."""
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def recording(path: Path, then: Callable[[int, int], None]) -> Callable[[int], None]:
    """A ``run_worker`` that notes its start, then does ``then(index, nth start overall)``."""
    def run_worker(index: int) -> None:
        with path.open("a") as f:
            f.write(f"{index} {os.getpid()}\n")
        then(index, len(runs(path)))
    return run_worker


def assert_no_children_left() -> None:
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


@pytest.fixture
def no_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The supervisor's back-off sleeps, recorded instead of slept (its clock stays real)."""
    slept: list[float] = []
    monkeypatch.setattr(supervisor, "time", types.SimpleNamespace(monotonic=time.monotonic, sleep=slept.append))
    return slept


def test_a_worker_that_dies_is_started_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It is killed by a signal, then it fails with an exception, then it returns; each time a new
    process takes its place. The fourth asks the supervisor to stop (SIGTERM), which ends it too."""
    monkeypatch.setattr(supervisor, "QUICK_EXIT_S", 0.0)  # none of these counts as a failed start
    log = tmp_path / "runs"

    def then(_index: int, nth: int) -> None:
        if nth == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        if nth == 2:
            raise RuntimeError("worker failed")
        if nth == 3:
            return
        os.kill(os.getppid(), signal.SIGTERM)
        time.sleep(30)  # until the supervisor's SIGTERM ends it

    previous = signal.getsignal(signal.SIGTERM)
    t0 = time.monotonic()
    code = Supervisor(1, recording(log, then)).run()
    assert code == 0
    assert time.monotonic() - t0 < 20
    started = runs(log)
    assert [index for index, _ in started] == ["0"] * 4
    assert len({pid for _, pid in started}) == 4 and str(os.getpid()) not in {pid for _, pid in started}
    assert signal.getsignal(signal.SIGTERM) is previous  # its handler is gone again
    assert_no_children_left()


def test_workers_that_keep_failing_at_start_stop_the_service_with_exit_code_1(
        tmp_path: Path, no_sleeps: list[float]) -> None:
    log = tmp_path / "runs"

    def fail(_index: int, _nth: int) -> None:
        raise OSError("cannot bind OTLP/gRPC")

    code = Supervisor(1, recording(log, fail)).run()
    assert code == 1
    assert len(runs(log)) == supervisor.MAX_QUICK_EXITS  # started, then restarted 4 times, then given up
    assert no_sleeps == [0.4, 0.8, 1.6, 3.2]  # backing off between the restarts
    assert_no_children_left()


def test_a_worker_that_ran_a_while_resets_the_failed_start_count(tmp_path: Path, no_sleeps: list[float],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Failures spread over a long run are not a crash loop: 4 quick failures, one that ran longer
    than ``QUICK_EXIT_S``, then 4 more quick ones do not give up; the 5th in a row does."""
    monkeypatch.setattr(supervisor, "QUICK_EXIT_S", 1.0)
    log = tmp_path / "runs"

    def then(_index: int, nth: int) -> None:
        if nth == 5:
            time.sleep(1.5)
        raise RuntimeError("boom")

    assert Supervisor(1, recording(log, then)).run() == 1
    assert len(runs(log)) == 10
    assert no_sleeps == [0.4, 0.8, 1.6, 3.2] * 2
    assert_no_children_left()


def test_a_stop_signal_that_reaches_a_worker_right_after_its_fork_is_not_lost(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_sleeps: list[float]) -> None:
    """The first worker gets SIGTERM while it is still in the supervisor's code right after ``fork``
    (the window widened to 0.5 s here): it must die of it, not run the supervisor's inherited
    handler, swallow the signal and go on to serve (a supervisor's stop would then hang on it)."""
    log = tmp_path / "runs"
    forks: list[int] = []
    real_fork = os.fork

    def slow_fork() -> int:
        forks.append(1)
        pid = real_fork()
        if pid == 0 and len(forks) == 1:
            time.sleep(0.5)
        return pid

    monkeypatch.setattr(os, "fork", slow_fork)

    def then(_index: int, _nth: int) -> None:
        os.kill(os.getppid(), signal.SIGTERM)  # the second one ends the test
        time.sleep(30)

    sup = Supervisor(1, recording(log, then))
    first: list[int] = []

    def terminate_first() -> None:
        deadline = time.monotonic() + 10
        while not sup._children and time.monotonic() < deadline:
            time.sleep(0.005)
        first.extend(sup._children)
        time.sleep(0.1)
        os.kill(first[0], signal.SIGTERM)

    killer = threading.Thread(target=terminate_first)
    killer.start()
    assert sup.run() == 0
    killer.join()
    started = runs(log)
    assert len(first) == 1 and len(started) == 1, started
    assert started[0][1] != str(first[0]), "the first worker ran although it was sent SIGTERM"
    assert_no_children_left()


def test_stop_from_another_thread_while_a_worker_is_forked_ends_that_worker_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``stop()`` runs after the fork but before the supervisor has recorded the new pid (the gap
    widened to 0.5 s here): the worker must still be stopped, not left running (and waited for)."""
    log = tmp_path / "runs"
    real_fork = os.fork

    def slow_fork() -> int:
        pid = real_fork()
        if pid:
            time.sleep(0.5)
        return pid

    monkeypatch.setattr(os, "fork", slow_fork)
    sup = Supervisor(1, recording(log, lambda _i, _n: time.sleep(20)))

    def stop_once_it_runs() -> None:
        deadline = time.monotonic() + 10
        while not runs(log) and time.monotonic() < deadline:
            time.sleep(0.005)
        sup.stop()

    stopper = threading.Thread(target=stop_once_it_runs)
    stopper.start()
    t0 = time.monotonic()
    assert sup.run() == 0
    stopper.join()
    assert time.monotonic() - t0 < 10, "the worker forked during stop() ran on"
    assert len(runs(log)) == 1
    assert_no_children_left()


@pytest.mark.parametrize("how", ["stop", "SIGTERM", "SIGINT"])
def test_stop_and_signals_end_every_worker(tmp_path: Path, how: str) -> None:
    log = tmp_path / "runs"
    sup = Supervisor(3, recording(log, lambda _i, _n: time.sleep(60)))

    def stop_when_all_started() -> None:
        deadline = time.monotonic() + 20
        while len(runs(log)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        if how == "stop":
            sup.stop()
        else:
            os.kill(os.getpid(), getattr(signal, how))  # handled by the supervisor in the main thread

    stopper = threading.Thread(target=stop_when_all_started)
    stopper.start()
    t0 = time.monotonic()
    code = sup.run()
    took = time.monotonic() - t0
    stopper.join()
    assert code == 0
    assert took < 15, f"took {took:.1f} s: the workers were not stopped"
    started = runs(log)
    assert sorted(index for index, _ in started) == ["0", "1", "2"]  # no restarts while stopping
    assert not [pid for _, pid in started if Path(f"/proc/{pid}").exists()]  # ended and reaped
    assert_no_children_left()


def test_a_worker_dies_with_a_killed_supervisor(tmp_path: Path) -> None:
    """``PR_SET_PDEATHSIG``: the supervisor (here a child of the test) is SIGKILLed, its worker follows."""
    log = tmp_path / "runs"
    pid = os.fork()
    if pid == 0:  # the supervisor
        try:
            Supervisor(1, recording(log, lambda _i, _n: time.sleep(60))).run()
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 20
        while not runs(log):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        worker = int(runs(log)[0][1])
        os.kill(worker, 0)  # alive
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        deadline = time.monotonic() + 5
        while True:
            try:
                state = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except FileNotFoundError:
                break
            if state == "Z":  # dead, waiting for init to reap it
                break
            assert time.monotonic() < deadline, "the worker outlived its supervisor"
            time.sleep(0.02)
    finally:
        for p in (pid, *(int(r[1]) for r in runs(log))):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_workers_each_listen_on_the_shared_port_and_a_plain_holder_is_refused() -> None:
    first = bind_worker_listener("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = bind_worker_listener("127.0.0.1", port)  # SO_REUSEPORT: a second worker joins
    try:
        with pytest.raises(ListenError, match=f"cannot listen on 127.0.0.1:{port}") as err:
            ensure_port_free("127.0.0.1", port, wait_s=0.3)  # ...but a running service is "taken"
        assert isinstance(err.value, OSError) and err.value.errno is not None
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        first.close()
        second.close()
    ensure_port_free("127.0.0.1", port, wait_s=0)
    with socket.socket() as plain:  # another program's socket (no SO_REUSEPORT) keeps workers out
        plain.bind(("127.0.0.1", 0))
        plain.listen()
        with pytest.raises(ListenError):
            bind_worker_listener("127.0.0.1", plain.getsockname()[1])


def test_connections_spread_over_worker_sockets() -> None:
    """The reason for a socket per worker: the kernel hashes connections over them, where a shared
    socket let the first-woken worker take nearly all (3:1 to 5:1, docs/benchmarks.md)."""
    listeners = [bind_worker_listener("127.0.0.1", 0)]
    port = listeners[0].getsockname()[1]
    listeners.append(bind_worker_listener("127.0.0.1", port))
    clients = []
    try:
        for _ in range(64):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        counts = []
        for listener in listeners:
            listener.setblocking(False)
            n = 0
            with contextlib.suppress(BlockingIOError):
                while True:
                    conn, _ = listener.accept()
                    conn.close()
                    n += 1
            counts.append(n)
        assert sum(counts) == 64
        assert min(counts) >= 16, counts  # binomial(64, 1/2): below 16 has probability ~1e-5
    finally:
        for c in clients:
            c.close()
        for listener in listeners:
            listener.close()


def test_ensure_port_free_waits_briefly_for_a_port_being_released() -> None:
    """A restart right after a crash finds the port still held by exiting workers for a moment."""
    holder = bind_worker_listener("127.0.0.1", 0)
    port = holder.getsockname()[1]
    threading.Timer(0.5, holder.close).start()
    t0 = time.monotonic()
    ensure_port_free("127.0.0.1", port, wait_s=5)
    assert 0.4 < time.monotonic() - t0 < 4


@pytest.mark.parametrize(("cores", "expected"), [(None, 1), (1, 1), (2, 2), (4, 4), (64, 4)])
def test_default_workers_one_per_core_at_most_four(monkeypatch: pytest.MonkeyPatch, cores: int | None,
                                                  expected: int) -> None:
    monkeypatch.setattr(supervisor.os, "cpu_count", lambda: cores)
    assert default_workers() == expected


def test_write_lock_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SQLite file gets a lock file beside it; memory databases a thread lock only; PostgreSQL nothing."""
    monkeypatch.chdir(tmp_path)
    file_engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    lock = write_lock(file_engine)
    assert isinstance(lock, WriteLock) and write_lock(file_engine) is lock  # one per engine
    with lock:
        assert (tmp_path / "m.db.write-lock").exists()
    memory = write_lock(make_engine("sqlite://"))
    assert isinstance(memory, WriteLock)
    with memory:
        pass
    assert [p.name for p in tmp_path.iterdir() if "lock" in p.name] == ["m.db.write-lock"]
    pg = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert not isinstance(write_lock(pg), WriteLock)
    file_engine.dispose()

