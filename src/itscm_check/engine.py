"""Evaluation: every enabled rule on every subject in its scope, at one as-of date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from itscm_check.checks import CHECKS, Outcome
from itscm_check.errors import Location
from itscm_check.facts import Index
from itscm_check.findings import CheckResult, Finding, fingerprint
from itscm_check.inventory import Inventory
from itscm_check.parallel import Forked, TaskCounter, forked_cpus
from itscm_check.policy.conditions import Env, render
from itscm_check.policy.model import Rule
from itscm_check.subjects import OF_A_SERVICE, Subject, Subjects


class RuleError(Exception):
    """A rule crashed: reported loudly, never turned into a silent pass."""


@dataclass(frozen=True)
class Evaluation:
    findings: tuple[Finding, ...]
    results: tuple[CheckResult, ...] | None  # None when passing checks were not collected


_RuleOutcome = tuple[list[Finding], list[CheckResult]]
# What a task gives: for each rule it evaluated (by its index among the enabled rules), one outcome
# per kind of the rule's subjects, in the rule's order (one for a named check).
_TaskOutcome = dict[int, list[_RuleOutcome]]
# What a worker sends: (task index, its outcome with results as plain tuples) per task it took, and
# the first crash, which stops the run. A worker that dies sends nothing: what it took stays None.
_SentOutcome = dict[int, list[tuple[list[Finding], list[tuple[str, str, bool]]]]]
_WorkerSent = tuple[list[tuple[int, _SentOutcome]], "str | None"]

# Below this many production services, forking a worker costs more than it saves.
_PARALLEL_SERVICES = 2000
# Each worker computes the views' facts (effective tiers, plans, dependencies) again, so more than
# a few workers gain little.
_MAX_PROCESSES = 4
# Shares of the services per process: small enough that no process is left waiting long for the
# last one.
_SHARES_PER_PROCESS = 4


class _Task(NamedTuple):
    """Rules, by their indices among the enabled rules, and the subjects to evaluate them on."""

    rules: tuple[int, ...]
    subjects: Subjects


def evaluate(inventory: Inventory, rules: Iterable[Rule], as_of: dt.date, root: Location,
             passing: bool = True, known: Mapping[str, frozenset[str]] | None = None) -> Evaluation:
    """Every enabled rule's findings; with ``passing``, a CheckResult for every subject evaluated
    too (only the HTML and JUnit reports show passing checks, and collecting them costs a fifth of
    the evaluation of a large inventory). A rule skips the services that ``known`` gives for its
    reach, whose findings the caller has (findings_cache)."""
    known = known or {}
    subjects = Subjects(Index(inventory), root)
    enabled = [rule for rule in rules if rule.enabled]
    processes = min(forked_cpus(), _MAX_PROCESSES)
    tasks = [_Task(tuple(range(len(enabled))), subjects)]
    if processes > 1 and len(subjects.views) >= _PARALLEL_SERVICES:
        tasks = _split(enabled, subjects, processes * _SHARES_PER_PROCESS)
    outcomes: list[_TaskOutcome | None] = [None] * len(tasks)
    if len(tasks) > 1:
        outcomes = _evaluate_forked(tasks, enabled, as_of, passing, known, min(processes, len(tasks)) - 1)
    # Here: every task in one process, or those a worker took and died before it sent.
    done = [outcome if outcome is not None else _evaluate_task(task, enabled, as_of, passing, known)
            for task, outcome in zip(tasks, outcomes)]
    findings: list[Finding] = []
    results: list[CheckResult] = []
    for index, rule in enumerate(enabled):
        # The order of one process: rule by rule, kind by kind, and within a kind share by share.
        for kind in range(1 if rule.check else len(rule.subjects)):
            for outcome in done:
                if index in outcome:
                    findings += outcome[index][kind][0]
                    results += outcome[index][kind][1]
    return Evaluation(tuple(findings), tuple(results) if passing else None)


def _split(enabled: list[Rule], subjects: Subjects, shares: int) -> list[_Task]:
    """A task for each rule that reads the inventory as a whole (named checks first: they cost the
    most, and one taken last would leave the other processes waiting), then a task for each share
    of the services with every rule whose subjects all belong to a service. A share's subjects are
    built by the one process that takes it."""
    whole = sorted((index for index, rule in enumerate(enabled)
                    if rule.check or not OF_A_SERVICE.issuperset(rule.subjects)),
                   key=lambda index: enabled[index].check is None)
    by_service = tuple(index for index in range(len(enabled)) if index not in whole)
    tasks = [_Task((index,), subjects) for index in whole]
    if by_service:
        views = subjects.views
        size = max(1, -(-len(views) // shares))
        tasks += [_Task(by_service, subjects.share(views[start:start + size])) for start in range(0, len(views), size)]
    return tasks


def _evaluate_task(task: _Task, enabled: list[Rule], as_of: dt.date, passing: bool,
                   known: Mapping[str, frozenset[str]]) -> _TaskOutcome:
    return {index: _evaluate_rule(enabled[index], task.subjects, as_of, passing, known) for index in task.rules}


def _evaluate_rule(rule: Rule, subjects: Subjects, as_of: dt.date, passing: bool,
                   known: Mapping[str, frozenset[str]]) -> list[_RuleOutcome]:
    skip = known.get(rule.reach, frozenset())
    try:
        if rule.check:
            return [_collect(rule, _named(rule, subjects, as_of), as_of, passing)]
        return [_collect(rule, _declarative(rule, kind, subjects, as_of, passing, skip), as_of, passing)
                for kind in rule.subjects]
    except RuleError:
        raise
    except Exception as exc:  # a crashing rule must stop the run with its id, not vanish
        raise RuleError(f"rule {rule.id} ({rule.source}) crashed: {type(exc).__name__}: {exc}") from exc


def _collect(rule: Rule, outcomes: Iterable[Outcome], as_of: dt.date, passing: bool) -> _RuleOutcome:
    findings: list[Finding] = []
    results: list[CheckResult] = []
    for outcome in outcomes:
        subject = outcome.subject
        if passing:
            results.append(CheckResult(rule.id, subject.target, subject.key, outcome.reasons is None))
        if outcome.reasons is not None:
            try:
                findings.append(_finding(rule, outcome, as_of))
            except (TypeError, ValueError) as exc:  # a severity `when:` that does not fit the data
                raise _misfit(rule, subject, exc) from exc
    return findings, results


def _evaluate_forked(tasks: list[_Task], enabled: list[Rule], as_of: dt.date, passing: bool,
                     known: Mapping[str, frozenset[str]], workers: int) -> list[_TaskOutcome | None]:
    """Tasks shared by this process and forked workers, each taking the next task when it is free
    (rule costs differ a hundredfold, so a fixed split would leave one process waiting).

    The outcome of a task a worker took but did not send stays None for the caller to evaluate.
    When several rules crash, the RuleError names this process's, else the first worker's that
    crashed, which need not be the one a single process would have met first.
    """
    try:
        tasks_left = TaskCounter(len(tasks))
    except OSError:  # no shared memory for the counter (some sandboxes): one process does it all
        return [None] * len(tasks)

    def in_worker() -> _WorkerSent:
        done = []
        try:
            for n in tasks_left:
                done.append((n, _to_send(_evaluate_task(tasks[n], enabled, as_of, passing, known))))
        except RuleError as exc:
            return done, str(exc)
        return done, None

    outcomes: list[_TaskOutcome | None] = [None] * len(tasks)
    children = [Forked(in_worker) for _ in range(workers)]
    try:
        for n in tasks_left:
            outcomes[n] = _evaluate_task(tasks[n], enabled, as_of, passing, known)
        for child in children:
            # From a dead worker, result() runs in_worker here, and the spent counter gives it nothing.
            done, crash = child.result()
            if crash is not None:
                raise RuleError(crash)
            for n, sent in done:
                outcomes[n] = _received(sent, enabled)
    finally:
        for child in children:  # only when this process raised: stop the workers
            child.cancel()
    return outcomes


def _to_send(outcome: _TaskOutcome) -> _SentOutcome:
    """A task's outcome with its results as plain tuples: a third of the size and time of pickled
    CheckResults."""
    return {index: [(findings, [(r.target, r.subject, r.passed) for r in results]) for findings, results in kinds]
            for index, kinds in outcome.items()}


def _received(sent: _SentOutcome, enabled: list[Rule]) -> _TaskOutcome:
    return {index: [(findings, [CheckResult(enabled[index].id, *result) for result in results])
                    for findings, results in kinds]
            for index, kinds in sent.items()}


def _declarative(rule: Rule, kind: str, subjects: Subjects, as_of: dt.date, passing: bool,
                 skip: frozenset[str]) -> Iterable[Outcome]:
    """The outcome of each subject of ``kind`` the rule fails on, and, with ``passing``, of those it
    passes; the subjects of the services in ``skip`` are left out."""
    assert rule.condition is not None and rule.test is not None
    # The loop runs once per rule and subject: what it reads of the rule is read once, here.
    envs = {tier: Env(as_of, rule.params_for(tier)) for tier in (1, 2, 3, 4, None)}
    in_scope, where, test = rule.in_tier_scope, rule.where_test, rule.test
    for subject in subjects.of(kind, skip):
        if not in_scope(subject.tier):
            continue
        env = envs[subject.tier]
        try:
            if where is not None and not where(subject.scope, env):
                continue
            if not test(subject.scope, env):
                if passing:
                    yield Outcome(subject, None)
                continue
            # The closures say why; they run every branch of an `any`, where the test stops at
            # the first that holds, so they too can meet a value that does not fit.
            reasons = rule.condition(subject.scope, env)
        except (TypeError, ValueError) as exc:
            raise _misfit(rule, subject, exc) from exc
        if reasons is None:
            raise RuleError(f"rule {rule.id} ({rule.source}): its compiled test and its condition disagree "
                            "(a bug in itscm-check)")
        yield Outcome(subject, reasons)


def _misfit(rule: Rule, subject: Subject, exc: Exception) -> RuleError:
    """A condition that does not fit the data (a date compared with text, a bare number with a
    duration): a problem of the policy or the inventory, shown with both places."""
    what = f"{subject.target} {subject.label}".strip()
    return RuleError(f"{rule.source}: rule {rule.id} cannot be evaluated on {what} ({subject.location}): {exc}; "
                     "fix the condition or the value it reads")


def _named(rule: Rule, subjects: Subjects, as_of: dt.date) -> Iterable[Outcome]:
    assert rule.check is not None
    return CHECKS[rule.check].run(subjects, rule, as_of)


def _finding(rule: Rule, outcome: Outcome, as_of: dt.date) -> Finding:
    subject: Subject = outcome.subject
    env = Env(as_of, rule.params_for(subject.tier))
    reasons = "; ".join(outcome.reasons or ())
    if rule.message:
        text = render(rule.message.replace("{reasons}", "\x00"), subject.scope, env).replace("\x00", reasons)
    else:
        text = reasons
    message = f"{subject.label}: {text}" if subject.label else text
    return Finding(
        rule_id=rule.id, severity=rule.severity_of(subject.scope, env, subject.tier), target=subject.target,
        message=message, location=subject.location, controls=rule.controls,
        fingerprint=fingerprint(rule.id, subject.target, subject.key), subject=subject.key)
