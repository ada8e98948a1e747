"""Forked worker processes: how a run uses more than one CPU.

A forked worker starts with the parent's loaded inventory and rules for free, where a spawned one
would pay every import and rebuild every input. Fork is only safe on Linux (macOS frameworks are
not fork-safe), so elsewhere everything runs in one process.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Generic, NoReturn, TypeVar

T = TypeVar("T")


def forked_cpus() -> int:
    """How many CPUs this process and its forked workers may use: 1 where workers are not forked."""
    if not sys.platform.startswith("linux"):
        return 1
    return len(os.sched_getaffinity(0))


class Forked(Generic[T]):
    """``function()`` computed in a forked child while this process goes on, where there is a CPU
    for it; ``result()`` gives its value.

    When there is no child, or the child raised or died before it sent the value, ``result()``
    calls ``function`` here instead: its errors are raised in this process, as without a child.
    """

    def __init__(self, function: Callable[[], T]) -> None:
        self._function = function
        self._child: tuple[int, int] | None = None  # pid, and the pipe its value comes through
        if forked_cpus() < 2:
            return
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            _send(write, function)
        os.close(write)
        self._child = pid, read

    def result(self) -> T:
        if self._child is not None:
            pid, read = self._child
            self._child = None
            with os.fdopen(read, "rb") as pipe:
                payload = pipe.read()
            _, status = os.waitpid(pid, 0)
            if payload and os.waitstatus_to_exitcode(status) == 0:  # it sent the whole value
                return pickle.loads(payload)  # our own child's, a moment ago: never data from disk
        return self._function()

    def cancel(self) -> None:
        """Stop the child, when this process will not ask for the result (it is raising)."""
        if self._child is not None:
            pid, read = self._child
            self._child = None
            os.close(read)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _send(pipe: int, function: Callable[[], object]) -> NoReturn:
    """In the child: send ``function()``'s value and exit, without the parent's exit handlers or
    buffers; on any error, exit having sent nothing."""
    code = 1
    try:
        payload = pickle.dumps(function(), pickle.HIGHEST_PROTOCOL)
        with os.fdopen(pipe, "wb") as out:
            out.write(payload)
        code = 0
    finally:
        os._exit(code)
