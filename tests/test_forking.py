"""A fork waits for database work running in another thread, and the child can do its own."""

from __future__ import annotations

import os
import signal
import threading
import time

from core.forking import no_fork


def _exit_status(pid: int, within_s: float) -> int | None:
    """The child's exit status, or ``None`` (after killing it) when it has not exited within ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def test_a_fork_waits_until_database_work_in_another_thread_is_done():
    inside, order = threading.Event(), []

    def database_work() -> None:
        with no_fork():
            inside.set()
            time.sleep(0.3)  # a fork now would copy the connection mid-transaction
            order.append("work done")

    worker = threading.Thread(target=database_work)
    worker.start()
    inside.wait()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    order.append("forked")
    worker.join()

    assert _exit_status(pid, 10) == 0
    assert order == ["work done", "forked"]


def test_the_child_can_do_database_work_of_its_own():
    pid = os.fork()
    if pid == 0:
        with no_fork():  # the guard the parent's forking thread held is not the child's
            os._exit(0)
    assert _exit_status(pid, 10) == 0
