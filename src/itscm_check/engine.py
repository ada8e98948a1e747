"""Evaluation: every enabled rule on every subject in its scope, at one as-of date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from itscm_check.checks import CHECKS, Outcome
from itscm_check.errors import Location
from itscm_check.facts import Index
from itscm_check.findings import CheckResult, Finding, fingerprint
from itscm_check.inventory import Inventory
from itscm_check.policy.conditions import Env, render
from itscm_check.policy.model import Rule
from itscm_check.subjects import Subject, Subjects


class RuleError(Exception):
    """A rule crashed: reported loudly, never turned into a silent pass."""


@dataclass(frozen=True)
class Evaluation:
    findings: tuple[Finding, ...]
    results: tuple[CheckResult, ...]


def evaluate(inventory: Inventory, rules: Iterable[Rule], as_of: dt.date, root: Location) -> Evaluation:
    subjects = Subjects(Index(inventory), root)
    findings: list[Finding] = []
    results: list[CheckResult] = []
    for rule in rules:
        if not rule.enabled:
            continue
        try:
            outcomes = _named(rule, subjects, as_of) if rule.check else _declarative(rule, subjects, as_of)
            for outcome in outcomes:
                subject = outcome.subject
                results.append(CheckResult(rule.id, subject.target, subject.key, outcome.reasons is None))
                if outcome.reasons is not None:
                    findings.append(_finding(rule, outcome, as_of))
        except Exception as exc:  # a crashing rule must stop the run with its id, not vanish
            raise RuleError(f"rule {rule.id} ({rule.source}) crashed: {type(exc).__name__}: {exc}") from exc
    return Evaluation(tuple(findings), tuple(results))


def _declarative(rule: Rule, subjects: Subjects, as_of: dt.date) -> Iterable[Outcome]:
    assert rule.condition is not None and rule.test is not None
    envs = {tier: Env(as_of, rule.params_for(tier)) for tier in (1, 2, 3, 4, None)}
    for kind in rule.subjects:
        for subject in subjects.of(kind):
            if not rule.in_tier_scope(subject.tier):
                continue
            env = envs[subject.tier]
            if rule.where_test is not None and not rule.where_test(subject.scope, env):
                continue
            if not rule.test(subject.scope, env):
                yield Outcome(subject, None)
                continue
            reasons = rule.condition(subject.scope, env)  # the closures say why
            if reasons is None:
                raise RuleError("its compiled test and its condition disagree (a bug in itscm-check)")
            yield Outcome(subject, reasons)


def _named(rule: Rule, subjects: Subjects, as_of: dt.date) -> Iterable[Outcome]:
    assert rule.check is not None
    return CHECKS[rule.check](subjects, rule, as_of)


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
