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
from collections.abc import Callable, Generator, Iterator
from functools import partial
from typing import Any, BinaryIO, Generic, NoReturn, TypeVar

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

    With ``afterwards``, the child calls it once it has sent the value, and ``result()`` does not
    wait for that: ``finish()`` does, and gives what it returned (None when the child died first).
    It is work no one waits for, done on a CPU this process leaves idle (the parse cache's entries).
    Where the value was computed here, ``afterwards`` is called here too, at once.
    """

    def __init__(self, function: Callable[[], T], afterwards: Callable[[], object] | None = None) -> None:
        self._function = function
        self._afterwards = afterwards
        self._child: tuple[int, BinaryIO] | None = None  # pid, and the pipe its values come through
        self._finishing: tuple[int, BinaryIO] | None = None  # the child, once it has sent the value
        self._finished: object = None  # afterwards' value, where it was called here
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
            _send(write, function, afterwards)
        os.close(write)
        self._child = pid, os.fdopen(read, "rb")

    def result(self) -> T:
        if self._child is not None:
            pid, pipe = self._child
            self._child = None
            payload = self._take(pid, pipe, last=self._afterwards is None)
            if payload is not None:
                if self._afterwards is not None:  # it goes on with afterwards
                    self._finishing = pid, pipe
                return pickle.loads(payload)  # our own child's, a moment ago: never data from disk
        value = self._function()
        if self._afterwards is not None:
            self._finished = self._afterwards()
        return value

    def finish(self) -> object:
        """What ``afterwards`` returned, once the child has called it (see above)."""
        if self._finishing is None:
            return self._finished
        pid, pipe = self._finishing
        self._finishing = None
        payload = self._take(pid, pipe, last=True)
        return pickle.loads(payload) if payload is not None else None

    def _take(self, pid: int, pipe: BinaryIO, last: bool) -> bytes | None:
        """The child's next value, or None when it died first; when it is the ``last``, only once
        the child has ended well. Interrupted meanwhile, the child is stopped."""
        try:
            payload = _received(pipe)
            if payload is not None and not last:
                return payload
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped by the system (SIGCHLD ignored): its exit is unknown
            status = None
        except BaseException:  # interrupted while it works: stop it
            self._child = pid, pipe
            self.cancel()
            raise
        pipe.close()
        return payload if status is not None and os.waitstatus_to_exitcode(status) == 0 else None

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
                    # What it started too: its own children would go on after it is killed,
                    # holding the run's stdout and stderr open.
                    for process in [*_descendants(pid), pid]:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(process, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    return
                time.sleep(0.01)


class TaskCounter:
    """The number of the next task, shared by this process and the children it forks afterwards:
    each takes the next task when it is free (tasks differ in cost, so a fixed split would leave
    one process waiting). Raises OSError where there is no shared memory for it (some sandboxes)."""

    def __init__(self, count: int) -> None:
        import multiprocessing

        self._count = count
        self._taken = multiprocessing.get_context("fork").Value("i", 0)

    def __iter__(self) -> Iterator[int]:
        """The tasks this process takes, until none is left."""
        while True:
            with self._taken.get_lock():
                n = self._taken.value
                self._taken.value += 1
            if n >= self._count:
                return
            yield n


def shared_tasks(count: int, run: Callable[[int], T], children: int, first: Callable[[], object] | None = None,
                 afterwards: Callable[[], object] | None = None, finishing: list[Forked[None]] | None = None
                 ) -> Generator[tuple[int, T], None, None]:
    """``(n, run(n))`` for each task n in ``range(count)``, the tasks taken in turn (TaskCounter) by
    this process and up to ``children`` forked children, as each is done: this process's own, and
    between them those the children have finished meanwhile (see _Results). ``first`` is run here
    once the children are forked, before this process takes a task: work only it can do. With
    ``afterwards``, each child calls it once no task is left and its values are here, and the
    children go to ``finishing`` meanwhile (Forked.finish): the caller waits for them when it will.

    This process works too, rather than waiting on a pool: a pool's workers would send each
    value to it through a pipe while it waits, and it would take a CPU from them to read them.
    A task a child took but did not finish (it died or raised) is run here at the end, so that
    its error is raised here. Closing the iterator before the end stops the children.
    """
    results: list[_Results] = []
    try:
        tasks = TaskCounter(count)
        results += (_Results() for _ in range(children))
    except OSError:  # one process does it all
        for result in results:
            result.close()
        if first is not None:
            first()
        yield from ((n, run(n)) for n in range(count))
        return
    forked = [Forked(partial(_run_tasks, tasks, run, result), afterwards) for result in results]
    done: set[int] = set()

    def taken() -> Iterator[tuple[int, T]]:
        for result in results:
            for n, value in result.taken():
                done.add(n)
                yield n, value
    try:
        if first is not None:
            first()
        for n in tasks:
            done.add(n)
            yield n, run(n)
            yield from taken()
        for child in forked:
            child.result()  # it has no task left (or died): whatever it finished is in its results
        if finishing is not None:
            finishing += forked
        yield from taken()
        yield from ((n, run(n)) for n in range(count) if n not in done)
    finally:
        for child in forked:  # only when the caller stopped early or this process raised
            child.cancel()
        for result in results:
            result.close()


def _run_tasks(tasks: TaskCounter, run: Callable[[int], T], results: _Results) -> None:
    """In a forked child: each task it takes, its value left in ``results`` as soon as it is done."""
    for n in tasks:
        results.put(n, run(n))


class _Results:
    """What a forked child leaves for this process: the value of each task it has done, in a file
    of memory the two share, which it appends to and this process reads at its own offset, and how
    many of the file's bytes hold whole values (a shared counter). This process takes them in
    between its own tasks, while the child goes on; a pipe would make the child wait whenever this
    process is busy and the pipe full, and sending everything at the end left this process alone
    to read and decode 11 MB of a 10k run's records while the child had nothing left to do. The
    file holds what it is given until it is closed. Raises OSError where there is no shared memory
    for the counter, or no file.
    """

    def __init__(self) -> None:
        import multiprocessing

        self._committed = multiprocessing.get_context("fork").Value("q", 0)
        try:
            self._file = os.memfd_create("itscm-check-results", os.MFD_CLOEXEC)
        except (AttributeError, OSError):  # an old kernel, or a sandbox without it: a file deleted at once
            import tempfile

            handle, name = tempfile.mkstemp(prefix="itscm-check-results-")
            os.unlink(name)
            self._file = handle
        self._read = 0

    def put(self, n: int, value: object) -> None:
        """In the child: append the task's value, then count it as there."""
        data = pickle.dumps((n, value), pickle.HIGHEST_PROTOCOL)
        # At the file's offset, which only the child moves: this process reads with os.pread.
        with os.fdopen(self._file, "wb", closefd=False) as out:
            out.write(len(data).to_bytes(8, "little") + data)
        with self._committed.get_lock():
            self._committed.value += 8 + len(data)

    def taken(self) -> list[tuple[int, Any]]:
        """In this process: the values the child has left since the last call."""
        with self._committed.get_lock():
            end = self._committed.value
        values = []
        while self._read < end:
            size = int.from_bytes(_read_at(self._file, 8, self._read), "little")
            # Our own child's, a moment ago: never data from disk.
            values.append(pickle.loads(_read_at(self._file, size, self._read + 8)))
            self._read += 8 + size
        return values

    def close(self) -> None:
        os.close(self._file)


def _read_at(file: int, size: int, offset: int) -> bytes:
    """``size`` bytes of ``file`` from ``offset``, which it has (os.pread may return fewer at once)."""
    parts = []
    while size:
        part = os.pread(file, size, offset)
        if not part:
            raise EOFError("a task's value is cut short")  # cannot happen: counted after it was written
        parts.append(part)
        size -= len(part)
        offset += len(part)
    return b"".join(parts)


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


def _send(pipe: int, function: Callable[[], object], afterwards: Callable[[], object] | None) -> NoReturn:
    """In the child: send ``function()``'s value, then ``afterwards()``'s, and exit, without the
    parent's exit handlers or buffers; on any error, or on SIGTERM from ``cancel()``, exit having
    sent nothing more."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, _stop)  # until now SIGTERM's default ends it, having started nothing
        # What it forks keeps SIGTERM's default: multiprocessing stops a pool's workers with SIGTERM,
        # and a worker that raised SystemExit instead could leave the pool waiting for it forever.
        os.register_at_fork(after_in_child=_default_sigterm)
        with os.fdopen(pipe, "wb") as out:
            _put(out, function())
            if afterwards is not None:
                out.flush()  # the parent goes on as soon as it has the value
                _put(out, afterwards())
        code = 0
    finally:
        os._exit(code)


# Each value a child sends is its pickle's length, then the pickle: the parent can tell a whole
# value from one cut short by the child's death without waiting for its exit.
_LENGTH_SIZE = 8


def _put(out: BinaryIO, value: object) -> None:
    data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(_LENGTH_SIZE, "little"))
    out.write(data)


def _received(pipe: BinaryIO) -> bytes | None:
    """The next value's pickle from a child's pipe, or None when the pipe ends before it is whole."""
    length = pipe.read(_LENGTH_SIZE)
    if len(length) < _LENGTH_SIZE:
        return None
    size = int.from_bytes(length, "little")
    data = pipe.read(size)
    return data if len(data) == size else None
