"""Forked worker processes: how a run uses more than one CPU.

A forked worker starts with the parent's loaded inventory and rules for free, where a spawned one
would pay every import and rebuild every input. Fork is only safe on Linux (macOS frameworks are
not fork-safe), so elsewhere everything runs in one process.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import time
from collections.abc import Callable
from typing import BinaryIO, Generic, NoReturn, TypeVar

T = TypeVar("T")


def forked_cpus() -> int:
    """How many CPUs this process and its forked workers may use: 1 where workers are not forked."""
    if not sys.platform.startswith("linux"):
        return 1
    return len(os.sched_getaffinity(0))


# How long a cancelled child has to stop the workers it started before it is killed.
_STOP_SECONDS = 5.0


class Forked(Generic[T]):
    """``function()`` computed in a forked child while this process goes on, where there is a CPU
    for it; ``result()`` gives its value.

    When there is no child, or the child raised or died before it sent the value, ``result()``
    calls ``function`` here instead: its errors are raised in this process, as without a child.
    The child stays in this process's group, so that a signal to the group (Ctrl-C, a CI runner's
    timeout) reaches it and its workers as it reaches this process.
    """

    def __init__(self, function: Callable[[], T]) -> None:
        self._function = function
        self._child: tuple[int, BinaryIO] | None = None  # pid, and the pipe its value comes through
        if forked_cpus() < 2:
            return
        read, write = os.pipe()
        _flush_std_streams()
        try:
            pid = os.fork()
        except OSError:  # no process to spare: the value is computed here
            os.close(read)
            os.close(write)
            return
        if pid == 0:
            os.close(read)
            _send(write, function)
        os.close(write)
        self._child = pid, os.fdopen(read, "rb")

    def result(self) -> T:
        if self._child is not None:
            pid, pipe = self._child
            try:
                payload = pipe.read()
                self._child, (_, status) = None, os.waitpid(pid, 0)
            except ChildProcessError:  # reaped by the system (SIGCHLD ignored): its exit is unknown
                self._child, status = None, None
            except BaseException:  # interrupted while it runs: stop it
                self.cancel()
                raise
            pipe.close()
            if payload and status is not None and os.waitstatus_to_exitcode(status) == 0:  # it sent it all
                return pickle.loads(payload)  # our own child's, a moment ago: never data from disk
        return self._function()

    def cancel(self) -> None:
        """Stop the child, when this process will not ask for the result. SIGTERM first: the child
        then leaves through its ``finally`` and ``with`` blocks, which stop its parse and rule
        workers; SIGKILL if it has not stopped within ``_STOP_SECONDS``."""
        if self._child is None:
            return
        pid, pipe = self._child
        self._child = None
        pipe.close()
        # ProcessLookupError, ChildProcessError: already reaped by the system (SIGCHLD ignored).
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + _STOP_SECONDS
            while os.waitpid(pid, os.WNOHANG) == (0, 0):
                if time.monotonic() > deadline:
                    # What it started too: a pool's workers whose parent is killed wait for work
                    # forever, holding the run's stdout and stderr open.
                    for process in [*_descendants(pid), pid]:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(process, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    return
                time.sleep(0.01)


def _descendants(pid: int) -> list[int]:
    """The processes that ``pid`` started, and theirs, as /proc lists them now (Linux, where
    children are forked); none where there is no /proc."""
    parents: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    with open(f"/proc/{entry.name}/stat", "rb") as stat:
                        # "pid (command) state ppid ...": the command may hold spaces and brackets.
                        parent = int(stat.read().rpartition(b")")[2].split()[1])
                    parents.setdefault(parent, []).append(int(entry.name))
    found, waiting = [], [pid]
    while waiting:
        children = parents.get(waiting.pop(), [])
        found += children
        waiting += children
    return found


def _stop(signum: int, frame: object) -> NoReturn:
    raise SystemExit(1)


def _default_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _flush_std_streams() -> None:
    """Write out this process's buffered output before a fork: a child that flushes the copy it
    inherits would write it a second time (multiprocessing does, when the child starts a pool)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # closed, or replaced by something without flush()
            stream.flush()


def _send(pipe: int, function: Callable[[], object]) -> NoReturn:
    """In the child: send ``function()``'s value and exit, without the parent's exit handlers or
    buffers; on any error, or on SIGTERM from ``cancel()``, exit having sent nothing."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, _stop)  # until now SIGTERM's default ends it, having started nothing
        # What it forks keeps SIGTERM's default: multiprocessing stops a pool's workers with SIGTERM,
        # and a worker that raised SystemExit instead could leave the pool waiting for it forever.
        os.register_at_fork(after_in_child=_default_sigterm)
        payload = pickle.dumps(function(), pickle.HIGHEST_PROTOCOL)
        with os.fdopen(pipe, "wb") as out:
            out.write(payload)
        code = 0
    finally:
        os._exit(code)
