"""The Report every formatter renders, and the exit code it implies."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from itscm_check.findings import FAILED, WAIVED, CheckResult, Finding
from itscm_check.policy.model import SEVERITIES, SEVERITY_RANK, Rule

NEVER = "never"


@dataclass(frozen=True)
class Report:
    tool_version: str
    as_of: dt.date
    services: int
    rules: tuple[Rule, ...]
    findings: tuple[Finding, ...]  # sorted by severity, rule id, target, message
    results: tuple[CheckResult, ...]

    @property
    def failed(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status == FAILED)

    @property
    def waived(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status == WAIVED)

    def by_severity(self) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITIES, 0)
        for finding in self.failed:
            counts[finding.severity] += 1
        return counts


def build_report(tool_version: str, as_of: dt.date, services: int, rules: list[Rule], findings: list[Finding],
                 results: tuple[CheckResult, ...]) -> Report:
    return Report(tool_version, as_of, services, tuple(r for r in rules if r.enabled),
                  tuple(sorted(findings, key=lambda f: (*f.sort_key, f.fingerprint))), results)


def exit_code(report: Report, fail_on: str) -> int:
    """1 when a failed (unwaived) finding is at or above ``fail_on``, else 0."""
    if fail_on == NEVER:
        return 0
    threshold = SEVERITY_RANK[fail_on]
    return 1 if any(SEVERITY_RANK[f.severity] <= threshold for f in report.failed) else 0
