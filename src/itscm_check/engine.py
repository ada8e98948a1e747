"""Evaluation: every enabled rule on every subject in its scope, at one as-of date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from typing import Any, NamedTuple

from itscm_check import parallel
from itscm_check.checks import CHECKS, Outcome
from itscm_check.errors import Location
from itscm_check.facts import Index
from itscm_check.findings import CheckResult, Finding, fingerprint
from itscm_check.inventory import Inventory
from itscm_check.parallel import shared_tasks
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
    processes = min(parallel.forked_cpus(), _MAX_PROCESSES)
    tasks = [_Task(tuple(range(len(enabled))), subjects)]
    if processes > 1 and len(subjects.views) >= _PARALLEL_SERVICES:
        tasks = _split(enabled, subjects, processes * _SHARES_PER_PROCESS)
    done: list[_TaskOutcome]
    if len(tasks) == 1:
        done = [_evaluate_task(tasks[0], enabled, as_of, passing, known)]
    else:
        # Shared by this process and forked workers, each taking the next task when it is free
        # (rule costs differ a hundredfold, so a fixed split would leave one process waiting). A
        # task a worker did not finish, crashed or dead, is evaluated here: its crash is raised here.
        done = [{} for _ in tasks]
        with closing(shared_tasks(len(tasks), lambda n: _Shared(_evaluate_task(tasks[n], enabled, as_of, passing, known)),
                                  min(processes, len(tasks)) - 1)) as shared:
            for n, value in shared:
                done[n] = value.outcome
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


class _Shared:
    """A task's outcome on its way out of parallel.shared_tasks: a forked worker pickles its results
    as plain tuples, a third of the size and time of pickled CheckResults; this process's own are
    used as they are."""

    __slots__ = ("outcome",)

    def __init__(self, outcome: _TaskOutcome) -> None:
        self.outcome = outcome

    def __reduce__(self) -> tuple[Callable[[_Packed], _Shared], tuple[_Packed]]:
        return _unpacked, ({index: [(findings, [tuple(result) for result in results]) for findings, results in kinds]
                            for index, kinds in self.outcome.items()},)


_Packed = dict[int, list[tuple[list[Finding], list[tuple[Any, ...]]]]]


def _unpacked(packed: _Packed) -> _Shared:
    return _Shared({index: [(findings, [CheckResult(*result) for result in results]) for findings, results in kinds]
                    for index, kinds in packed.items()})


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
