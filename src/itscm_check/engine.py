"""Evaluation: every enabled rule on every subject in its scope, at one as-of date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from itscm_check.checks import CHECKS, Outcome
from itscm_check.errors import Location
from itscm_check.facts import Index
from itscm_check.findings import CheckResult, Finding, fingerprint
from itscm_check.inventory import Inventory
from itscm_check.parallel import Forked, forked_cpus
from itscm_check.policy.conditions import Env, render
from itscm_check.policy.model import Rule
from itscm_check.subjects import Subject, Subjects


class RuleError(Exception):
    """A rule crashed: reported loudly, never turned into a silent pass."""


@dataclass(frozen=True)
class Evaluation:
    findings: tuple[Finding, ...]
    results: tuple[CheckResult, ...] | None  # None when passing checks were not collected


_RuleOutcome = tuple[list[Finding], list[CheckResult]]
# What a rule worker sends: (rule index, findings, results as plain tuples) per rule it took, and
# the first crash, which stops the run. A worker that dies sends nothing: what it took stays None.
_WorkerSent = tuple[list[tuple[int, list[Finding], list[tuple[str, str, bool]]]], "str | None"]

# Below this many services, forking a worker costs more than it saves.
_PARALLEL_SERVICES = 2000
# Each worker builds the subjects of its rules again, so more than a few workers gain little.
_MAX_PROCESSES = 4


def evaluate(inventory: Inventory, rules: Iterable[Rule], as_of: dt.date, root: Location,
             passing: bool = True, known: Mapping[str, frozenset[str]] | None = None) -> Evaluation:
    """Every enabled rule's findings; with ``passing``, a CheckResult for every subject evaluated
    too (only the HTML and JUnit reports show passing checks, and collecting them costs a fifth of
    the evaluation of a large inventory). A rule skips the services that ``known`` gives for its
    reach, whose findings the caller has (findings_cache)."""
    known = known or {}
    subjects = Subjects(Index(inventory), root)
    enabled = [rule for rule in rules if rule.enabled]
    processes = min(forked_cpus(), _MAX_PROCESSES, len(enabled))
    per_rule: list[_RuleOutcome | None] = [None] * len(enabled)
    if processes > 1 and len(inventory.services) >= _PARALLEL_SERVICES:
        per_rule = _evaluate_forked(enabled, subjects, as_of, passing, known, processes - 1)
    # Here: every rule in one process, or those a worker took and died before it sent.
    done = [outcome or _evaluate_rule(rule, subjects, as_of, passing, known) for rule, outcome in zip(enabled, per_rule)]
    return Evaluation(tuple(f for findings, _ in done for f in findings),
                      tuple(r for _, results in done for r in results) if passing else None)


def _evaluate_rule(rule: Rule, subjects: Subjects, as_of: dt.date, passing: bool,
                   known: Mapping[str, frozenset[str]]) -> _RuleOutcome:
    findings: list[Finding] = []
    results: list[CheckResult] = []
    skip = known.get(rule.reach, frozenset())
    try:
        outcomes = _named(rule, subjects, as_of) if rule.check else _declarative(rule, subjects, as_of, passing, skip)
        for outcome in outcomes:
            subject = outcome.subject
            if passing:
                results.append(CheckResult(rule.id, subject.target, subject.key, outcome.reasons is None))
            if outcome.reasons is not None:
                try:
                    findings.append(_finding(rule, outcome, as_of))
                except (TypeError, ValueError) as exc:  # a severity `when:` that does not fit the data
                    raise _misfit(rule, subject, exc) from exc
    except RuleError:
        raise
    except Exception as exc:  # a crashing rule must stop the run with its id, not vanish
        raise RuleError(f"rule {rule.id} ({rule.source}) crashed: {type(exc).__name__}: {exc}") from exc
    return findings, results


def _evaluate_forked(rules: list[Rule], subjects: Subjects, as_of: dt.date, passing: bool,
                     known: Mapping[str, frozenset[str]], workers: int) -> list[_RuleOutcome | None]:
    """Rules shared by this process and forked workers, each taking the next rule when it is free
    (rule costs differ a hundredfold, so a fixed split would leave one process waiting).

    The outcome of a rule a worker took but did not send stays None for the caller to evaluate.
    """
    import multiprocessing

    try:
        taken = multiprocessing.get_context("fork").Value("i", 0)
    except OSError:  # no shared memory for the counter (some sandboxes): one process does it all
        return [None] * len(rules)

    # Named checks first: they walk the whole graph or every date and cost the most, and a long
    # rule taken last would leave the other processes waiting for it.
    order = sorted(range(len(rules)), key=lambda i: rules[i].check is None)

    def next_rules() -> Iterator[int]:
        while True:
            with taken.get_lock():
                n = taken.value
                taken.value += 1
            if n >= len(order):
                return
            yield order[n]

    def in_worker() -> _WorkerSent:
        done = []
        try:
            for i in next_rules():
                findings, results = _evaluate_rule(rules[i], subjects, as_of, passing, known)
                # Plain tuples: a third of the size and time of pickled CheckResults.
                done.append((i, findings, [(r.target, r.subject, r.passed) for r in results]))
        except RuleError as exc:
            return done, str(exc)
        return done, None

    per_rule: list[_RuleOutcome | None] = [None] * len(rules)
    children = [Forked(in_worker) for _ in range(workers)]
    try:
        for i in next_rules():
            per_rule[i] = _evaluate_rule(rules[i], subjects, as_of, passing, known)
        for child in children:
            # From a dead worker, result() runs in_worker here, and the spent counter gives it nothing.
            done, crash = child.result()
            if crash is not None:
                raise RuleError(crash)
            for i, findings, results in done:
                per_rule[i] = findings, [CheckResult(rules[i].id, *result) for result in results]
    finally:
        for child in children:  # only when this process raised: stop the workers
            child.cancel()
    return per_rule


def _declarative(rule: Rule, subjects: Subjects, as_of: dt.date, passing: bool,
                 skip: frozenset[str]) -> Iterable[Outcome]:
    """The outcome of each subject the rule fails on, and, with ``passing``, of those it passes;
    the subjects of the services in ``skip`` are left out."""
    assert rule.condition is not None and rule.test is not None
    # The loop runs once per rule and subject: what it reads of the rule is read once, here.
    envs = {tier: Env(as_of, rule.params_for(tier)) for tier in (1, 2, 3, 4, None)}
    in_scope, where, test = rule.in_tier_scope, rule.where_test, rule.test
    for kind in rule.subjects:
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
