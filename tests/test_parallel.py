"""Rules evaluated in forked workers give the same evaluation as one process, and lose nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import DEFAULT_AS_OF, child_pids, default_rules, gone, starts_a_worker
from itscm_check import engine, parallel
from itscm_check.checks import CHECKS, Outcome
from itscm_check.engine import RuleError, evaluate
from itscm_check.errors import Location
from itscm_check.findings import CheckResult
from itscm_check.pipeline import load_inventory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")

ROOT = Location("inventory", 0)
NAMED = ("rto-inversion", "future-dates")  # two named checks of the built-in pack, replaced below


@pytest.fixture
def inventory():
    return load_inventory([Path(__file__).parent.parent / "inventory"])


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers besides this process, whatever the inventory's size and the machine."""
    monkeypatch.setattr(engine, "_PARALLEL_SERVICES", 0)
    monkeypatch.setattr(parallel, "forked_cpus", lambda: 3)


def _one_process(inventory, monkeypatch: pytest.MonkeyPatch) -> engine.Evaluation:
    with monkeypatch.context() as m:
        m.setattr(parallel, "forked_cpus", lambda: 1)
        return evaluate(inventory, default_rules(), DEFAULT_AS_OF, ROOT)


def test_workers_give_the_same_findings_and_results_in_the_same_order(
        inventory, workers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    alone = _one_process(inventory, monkeypatch)
    shared = evaluate(inventory, default_rules(), DEFAULT_AS_OF, ROOT)

    assert alone.findings and alone.results
    assert shared == alone
    assert {type(result) for result in shared.results} == {CheckResult}  # a tuple would compare equal too


def test_without_passing_checks_the_findings_are_the_same(
        inventory, workers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    alone = _one_process(inventory, monkeypatch)
    shared = evaluate(inventory, default_rules(), DEFAULT_AS_OF, ROOT, passing=False)
    with monkeypatch.context() as m:
        m.setattr(parallel, "forked_cpus", lambda: 1)
        lean = evaluate(inventory, default_rules(), DEFAULT_AS_OF, ROOT, passing=False)

    assert shared.results is None and lean.results is None
    assert shared.findings == lean.findings == alone.findings


def test_services_whose_findings_are_known_are_skipped_alike(
        inventory, workers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    known = {"service": frozenset(service.id for service in inventory.services[::2])}
    with monkeypatch.context() as m:
        m.setattr(parallel, "forked_cpus", lambda: 1)
        alone = evaluate(inventory, default_rules(), DEFAULT_AS_OF, ROOT, known=known)
    shared = evaluate(inventory, default_rules(), DEFAULT_AS_OF, ROOT, known=known)

    assert shared == alone
    assert len(alone.results) < len(_one_process(inventory, monkeypatch).results)


def _named_check(parent: int, in_worker, here=lambda subjects, rule, as_of: iter(())):
    """A named check that calls ``in_worker()`` in a worker; in this process it first waits, so
    that the workers take the other rules meanwhile, then returns what ``here`` does."""
    def check(subjects, rule, as_of) -> Iterator[Outcome]:
        if os.getpid() != parent:
            in_worker()
        time.sleep(0.3)
        return here(subjects, rule, as_of)
    return check


def test_a_rule_crashing_in_a_worker_stops_the_run_with_its_id(
        inventory, workers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker's crash leaves the task to this process, where the rule crashes again and is raised.
    def crash(*_: object) -> Iterator[Outcome]:
        raise ValueError("boom")
    for name in NAMED:
        monkeypatch.setitem(CHECKS, name, CHECKS[name]._replace(run=_named_check(os.getpid(), crash, crash)))

    with pytest.raises(RuleError, match=r"rule ITSCM-0\d\d .*crashed: ValueError: boom"):
        evaluate(inventory, default_rules(), DEFAULT_AS_OF, ROOT)


def test_what_a_dead_worker_took_is_evaluated_here(inventory, workers: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    alone = _one_process(inventory, monkeypatch)
    for name in NAMED:
        monkeypatch.setitem(CHECKS, name, CHECKS[name]._replace(
            run=_named_check(os.getpid(), lambda: os._exit(1), CHECKS[name].run)))

    assert evaluate(inventory, default_rules(), DEFAULT_AS_OF, ROOT) == alone


def _slow_here_and_in_workers(monkeypatch: pytest.MonkeyPatch, in_worker, here=lambda: None) -> None:
    """Declarative rules that call ``in_worker()`` for ITSCM-001 in a worker, where it is always
    evaluated on a share of the services, and ``here()`` in this process; this process waits at
    its first rule, so that the workers take shares meanwhile."""
    parent, real, waited = os.getpid(), engine._declarative, []

    def declarative(rule, kind, subjects, as_of, passing, skip):
        if os.getpid() != parent:
            if rule.id == "ITSCM-001":
                in_worker()
        elif not waited:
            waited.append(True)
            time.sleep(0.3)
        elif rule.id == "ITSCM-001":
            here()
        return real(rule, kind, subjects, as_of, passing, skip)
    monkeypatch.setattr(engine, "_declarative", declarative)


def test_a_rule_crashing_on_a_share_in_a_worker_stops_the_run_with_its_id(
        inventory, workers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash() -> None:
        raise ValueError("boom")
    _slow_here_and_in_workers(monkeypatch, crash, here=crash)

    with pytest.raises(RuleError, match=r"rule ITSCM-001 .*crashed: ValueError: boom"):
        evaluate(inventory, default_rules(), DEFAULT_AS_OF, ROOT)


def test_the_shares_a_dead_worker_took_are_evaluated_here(inventory, workers: None,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    alone = _one_process(inventory, monkeypatch)
    _slow_here_and_in_workers(monkeypatch, lambda: os._exit(1))

    assert evaluate(inventory, default_rules(), DEFAULT_AS_OF, ROOT) == alone


@pytest.fixture
def a_cpu_to_spare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "forked_cpus", lambda: 2)


def test_a_forked_call_gives_the_childs_value(a_cpu_to_spare: None) -> None:
    assert parallel.Forked(os.getpid).result() != os.getpid()


def test_a_forked_call_whose_child_died_or_raised_is_made_here(a_cpu_to_spare: None) -> None:
    parent = os.getpid()
    dies = parallel.Forked(lambda: os._exit(0) if os.getpid() != parent else "made here")
    assert dies.result() == "made here"

    def fails_in_the_child_only() -> str:
        if os.getpid() != parent:
            raise ValueError("in the child")
        return "made here"
    assert parallel.Forked(fails_in_the_child_only).result() == "made here"

    def fails() -> None:
        raise ValueError("everywhere")
    with pytest.raises(ValueError, match="everywhere"):  # the error is raised where the value is asked for
        parallel.Forked(fails).result()


def test_a_cancelled_forked_call_stops_the_child_and_what_it_started(a_cpu_to_spare: None, tmp_path: Path) -> None:
    slow = parallel.Forked(lambda: starts_a_worker(tmp_path / "pids"))
    pids = child_pids(tmp_path / "pids")
    slow.cancel()

    assert gone(pids)
    with pytest.raises(ChildProcessError):  # the child is reaped
        os.waitpid(pids[0], 0)


def test_a_forked_call_interrupted_while_waiting_stops_the_child(a_cpu_to_spare: None, tmp_path: Path) -> None:
    class Interrupted(Exception):
        pass

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted
    slow = parallel.Forked(lambda: starts_a_worker(tmp_path / "pids"))
    pids = child_pids(tmp_path / "pids")
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Interrupted):
            slow.result()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    assert gone(pids)


def test_a_forked_call_cancelled_at_once_stops_at_once(a_cpu_to_spare: None) -> None:
    for _ in range(5):
        slow = parallel.Forked(lambda: time.sleep(60))
        started = time.perf_counter()
        slow.cancel()
        assert time.perf_counter() - started < 2


def test_a_child_that_ignores_the_request_to_stop_is_killed(a_cpu_to_spare: None, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_STOP_SECONDS", 0.2)

    def deaf() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        starts_a_worker(tmp_path / "pids")
    slow = parallel.Forked(deaf)
    pids = child_pids(tmp_path / "pids")
    slow.cancel()
    with pytest.raises(ChildProcessError):  # killed and reaped
        os.waitpid(pids[0], 0)
    # And what it started, which its own way out would have stopped (found by review: a parse
    # pool's worker left waiting for work, with the run's stdout and stderr open).
    assert gone(pids)


def test_no_fork_to_spare_or_no_exit_status_computes_here(a_cpu_to_spare: None,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        def no_process(*args: object) -> int:
            raise BlockingIOError("fork: no process to spare")
        m.setattr(os, "fork", no_process)
        assert parallel.Forked(os.getpid).result() == os.getpid()
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reaped by the system
    try:
        assert parallel.Forked(os.getpid).result() == os.getpid()
        gone_by_now = parallel.Forked(lambda: None)
        time.sleep(0.2)
        gone_by_now.cancel()  # nothing left to stop, and no error
    finally:
        signal.signal(signal.SIGCHLD, previous)


def _sigterm_in_a_pool_worker() -> tuple[int, object]:
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(1) as pool:
        return os.getpid(), pool.apply(signal.getsignal, (signal.SIGTERM,))


def test_what_a_forked_call_forks_keeps_sigterms_default(a_cpu_to_spare: None) -> None:
    # A pool's workers are stopped with SIGTERM: one that raised SystemExit instead could hang it.
    pid, handler = parallel.Forked(_sigterm_in_a_pool_worker).result()
    assert pid != os.getpid() and handler == signal.SIG_DFL


def test_output_buffered_before_a_fork_is_written_once(a_cpu_to_spare: None, tmp_path: Path) -> None:
    script = ("import sys\n"
              "from itscm_check import parallel\n"
              "parallel.forked_cpus = lambda: 2\n"
              "print('before the fork')\n"
              "parallel.Forked(lambda: sys.stdout.flush()).result()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"})
    assert done.stdout == "before the fork\n"


def _here_slowly_first(run):
    """``run``, the first task taken here a moment late, so that a child takes tasks meanwhile."""
    parent = os.getpid()

    def task(n: int):
        if os.getpid() == parent and n == 0:
            time.sleep(0.3)
        return run(n, parent)
    return task


def test_shared_tasks_gives_each_task_once_from_this_process_and_the_children(a_cpu_to_spare: None) -> None:
    done = list(parallel.shared_tasks(20, _here_slowly_first(lambda n, parent: (n * n, os.getpid())), 1))

    assert sorted(n for n, _ in done) == list(range(20))
    assert all(square == n * n for n, (square, _) in done)
    assert {pid for _, (_, pid) in done} - {os.getpid()}  # a child took some


def test_shared_tasks_gives_a_childs_values_between_this_process_tasks(a_cpu_to_spare: None) -> None:
    # This process's tasks are slow and the child's quick: the child's values come in as this
    # process goes on, not after its last task.
    def task(n: int, parent: int) -> int:
        time.sleep(0.15 if os.getpid() == parent else 0.03)
        return os.getpid()
    done = [pid for _, pid in parallel.shared_tasks(20, _here_slowly_first(task), 1)]
    here = [i for i, pid in enumerate(done) if pid == os.getpid()]
    assert len(done) == 20 and len(here) >= 2
    assert any(pid != os.getpid() for pid in done[:here[-1]])


@pytest.mark.parametrize("memfd", [True, False])  # memory shared as a file, or a deleted temporary file
def test_shared_tasks_keeps_what_a_child_finished_before_it_died(a_cpu_to_spare: None, memfd: bool,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if not memfd:
        def no_memfd(name: str, flags: int = 0) -> int:
            raise OSError("no memfd_create here")
        monkeypatch.setattr(os, "memfd_create", no_memfd)

    def task(n: int, parent: int) -> tuple[int, int]:
        if os.getpid() != parent and n >= 5:
            os._exit(1)  # after the tasks it had taken before
        return n, os.getpid()
    done = sorted(parallel.shared_tasks(10, _here_slowly_first(task), 1))
    assert [n for n, _ in done] == list(range(10)) and [value[0] for _, value in done] == list(range(10))
    finished = [n for n, (_, pid) in done if pid != os.getpid()]
    assert finished and all(n < 5 for n in finished)  # its values are kept, not made again here


def test_shared_tasks_runs_first_here_while_the_children_start(a_cpu_to_spare: None) -> None:
    order: list[str] = []

    def first() -> None:
        time.sleep(0.3)  # the child takes tasks meanwhile
        order.append("first")
    done = list(parallel.shared_tasks(20, lambda n: (order.append("task"), os.getpid())[1], 1, first))
    assert order[0] == "first" and sorted(n for n, _ in done) == list(range(20))
    assert {pid for _, pid in done} - {os.getpid()}  # a child took some while this process was busy


def test_shared_tasks_leaves_the_children_to_what_comes_afterwards(a_cpu_to_spare: None, tmp_path: Path) -> None:
    """Each child calls ``afterwards`` once its values are in; the tasks end without waiting for it."""
    release = tmp_path / "release"

    def afterwards() -> int:
        return os.getpid() if _released(release) else -1
    finishing: list[parallel.Forked[None]] = []
    done = list(parallel.shared_tasks(20, _here_slowly_first(lambda n, parent: os.getpid()), 1,
                                      afterwards=afterwards, finishing=finishing))
    assert sorted(n for n, _ in done) == list(range(20)) and len(finishing) == 1
    children = {pid for _, pid in done} - {os.getpid()}
    release.touch()
    assert {finishing[0].finish()} == children


def test_a_forked_call_gives_its_value_before_what_comes_afterwards(a_cpu_to_spare: None, tmp_path: Path) -> None:
    release = tmp_path / "release"

    def afterwards() -> str:
        return "afterwards" if _released(release) else "not released"  # only once the value is here
    call = parallel.Forked(os.getpid, afterwards)
    child = call.result()
    assert child != os.getpid()
    release.touch()
    assert call.finish() == "afterwards"
    with pytest.raises(ChildProcessError):  # reaped
        os.waitpid(child, 0)
    dies = parallel.Forked(os.getpid, lambda: os._exit(0))
    assert dies.result() != os.getpid() and dies.finish() is None  # it gave nothing afterwards


def _released(release: Path) -> bool:
    """Whether ``release`` is created within 10 s (a test that waited for the child would not)."""
    deadline = time.monotonic() + 10
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return release.exists()


def test_a_forked_call_made_here_does_what_comes_afterwards_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "forked_cpus", lambda: 1)
    calls: list[int] = []
    call = parallel.Forked(os.getpid, lambda: calls.append(os.getpid()) or "afterwards")
    assert call.result() == os.getpid() and calls == [os.getpid()]
    assert call.finish() == "afterwards"


def test_shared_tasks_runs_here_what_a_dead_or_failing_child_took(a_cpu_to_spare: None) -> None:
    for failure in (lambda: os._exit(1), lambda: 1 / 0):
        def task(n: int, parent: int, failure=failure) -> int:
            if os.getpid() != parent:
                failure()
            return n
        done = list(parallel.shared_tasks(10, _here_slowly_first(task), 1))
        assert sorted(done) == [(n, n) for n in range(10)]


def test_shared_tasks_raises_a_tasks_error_here(a_cpu_to_spare: None) -> None:
    def task(n: int, parent: int) -> int:
        if n == 7:
            raise ValueError("task 7")
        return n

    with pytest.raises(ValueError, match="task 7"):
        list(parallel.shared_tasks(10, _here_slowly_first(task), 1))


def test_shared_tasks_stopped_early_stops_the_children(a_cpu_to_spare: None, tmp_path: Path) -> None:
    pids = tmp_path / "pids"

    def task(n: int, parent: int) -> int:
        if os.getpid() != parent:
            starts_a_worker(pids)
        return n
    tasks = parallel.shared_tasks(2, _here_slowly_first(task), 1)
    next(tasks)
    running = child_pids(pids)
    tasks.close()
    assert gone(running)


def test_shared_tasks_without_shared_memory_runs_everything_here(a_cpu_to_spare: None,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def no_shared_memory(self, count: int) -> None:
        raise OSError("no shared memory")
    monkeypatch.setattr(parallel.TaskCounter, "__init__", no_shared_memory)

    assert list(parallel.shared_tasks(3, lambda n: (n, os.getpid()), 1)) == [(n, (n, os.getpid())) for n in range(3)]


def test_the_parse_stopped_early_stops_its_children(a_cpu_to_spare: None, tmp_path: Path) -> None:
    """A fragment that does not fit its cuts stops the parse where it is found (cache.check_parts
    closes what _in_workers yields): the children parsing the other chunks stop too."""
    from itscm_check import cache

    pids, parent = tmp_path / "pids", os.getpid()

    def check(jobs: list) -> list:
        if os.getpid() != parent:
            starts_a_worker(pids)
        elif jobs[0][1] == "0":
            time.sleep(0.3)  # so that the child takes a chunk meanwhile
        return [None] * len(jobs)
    jobs = [(b"x" * 100, str(n), 0, None, "") for n in range(4)]
    parsed = cache._in_workers(check, jobs, 2)
    next(parsed)
    running = child_pids(pids)
    parsed.close()
    assert gone(running)
