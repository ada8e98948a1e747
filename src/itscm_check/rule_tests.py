"""`itscm-check test`: rules against small inventories and the exact findings each must give.

A case file names one rule and lists cases: an inventory, an optional as-of date and the expected
failed findings of that rule (target and severity). It is the format of the default pack's own
cases (tests/rules/cases), so a platform team tests its rules the way the pack is tested.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itscm_check.assemble import assemble
from itscm_check.errors import InputError, InputErrors, Location
from itscm_check.findings import FAILED
from itscm_check.formatters import printable
from itscm_check.loader import Document, find_yaml_files, load_files
from itscm_check.pipeline import findings_of
from itscm_check.policy.loading import load_rules
from itscm_check.policy.model import Rule
from itscm_check.schema import validate
from itscm_check.values import parse_date
from itscm_check.waivers import META_RULES

Expected = tuple[tuple[str, str], ...]  # (target, severity) of each failed finding, sorted


@dataclass(frozen=True)
class CaseResult:
    rule: str
    name: str
    location: Location  # where the case is written
    expected: Expected
    got: Expected
    messages: tuple[str, ...]  # of the rule's failed findings, to show why a case failed

    @property
    def passed(self) -> bool:
        return self.expected == self.got


def run_cases(paths: Sequence[Path], policy_paths: Sequence[Path], as_of: dt.date,
              max_waiver_days: int = 365) -> list[CaseResult]:
    """Every case of every case file under ``paths``, or InputErrors listing every problem."""
    files: list[Path] = []
    errors: list[InputError] = []
    for path in paths:
        found, errs = find_yaml_files(path, "itscm-check test")
        files += found
        errors += errs
    documents, errs = load_files(files)
    errors += errs
    try:
        rules = load_rules(policy_paths)
    except InputErrors as exc:
        errors += exc.errors
        rules = []
    for doc in documents:
        errors += validate(doc, "rule-cases")
    if errors:
        raise InputErrors(errors)
    enabled = {rule.id: rule.enabled for rule in rules} | {meta.id: True for meta in META_RULES}
    results: list[CaseResult] = []
    for doc in documents:
        rule_id = doc.data["rule"]
        if rule_id not in enabled:
            errors.append(InputError(doc.location(("rule",)), f"unknown rule {rule_id}",
                                     "check the id with `itscm-check rules --policies ...`"))
            continue
        if not enabled[rule_id]:
            errors.append(InputError(doc.location(("rule",)), f"rule {rule_id} is disabled by an override",
                                     "its cases cannot run; test it without the policy that disables it"))
            continue
        errors += _duplicate_names(doc)
        for i, case in enumerate(doc.data["cases"]):
            try:
                results.append(_run_case(doc, i, case, rules, as_of, max_waiver_days))
            except InputErrors as exc:
                errors += exc.errors
    if errors:
        raise InputErrors(errors)
    return results


def _run_case(doc: Document, i: int, case: dict[str, Any], rules: list[Rule], as_of: dt.date,
              max_waiver_days: int) -> CaseResult:
    rule_id = doc.data["rule"]
    # The case's inventory is a document of its own whose lines are those of the case file, so an
    # error in it is reported where it is written.
    _, lines = doc.node(("cases", i, "inventory"))
    assert lines is not None  # the schema requires a mapping
    inventory_doc = Document(doc.path, case["inventory"], lines, line_offset=doc.line_offset)
    errors = validate(inventory_doc, "inventory")
    if errors:
        raise InputErrors(errors)
    inventory = assemble([inventory_doc])
    when = parse_date(case["as_of"]) if case.get("as_of") is not None else as_of
    findings, _ = findings_of(inventory, rules, when, doc.location(), max_waiver_days)
    failed = [f for f in findings if f.rule_id == rule_id and f.status == FAILED]
    return CaseResult(
        rule=rule_id, name=case["name"], location=doc.location(("cases", i)),
        expected=tuple(sorted((e["target"], e["severity"]) for e in case["expect"])),
        got=tuple(sorted((f.target, f.severity) for f in failed)),
        messages=tuple(f"{f.target}: {f.message}" for f in failed))


def _duplicate_names(doc: Document) -> list[InputError]:
    counts = Counter(case["name"] for case in doc.data["cases"])
    return [InputError(doc.location(("cases", i, "name")), f"case name '{case['name']}' is used more than once",
                       "give each case its own name")
            for i, case in enumerate(doc.data["cases"]) if counts[case["name"]] > 1]


def summary(results: Sequence[CaseResult]) -> str:
    """What `itscm-check test` prints: each failed case with what differs, then the counts."""
    lines = []
    for result in results:
        if result.passed:
            continue
        lines.append(printable(f"FAIL {result.location}: {result.rule}: {result.name}"))
        lines.append(f"  expected: {_show(result.expected)}")
        lines.append(f"  got:      {_show(result.got)}")
        lines += [printable(f"  message:  {message}") for message in result.messages]
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results)} case(s): {len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)


def _show(findings: Expected) -> str:
    return ", ".join(f"{target} ({severity})" for target, severity in findings) or "no failed finding"
