"""The Report every formatter renders, and the exit code it implies."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from itscm_check.findings import FAILED, WAIVED, CheckResult, Finding
from itscm_check.inventory import Inventory
from itscm_check.policy.model import SEVERITIES, SEVERITY_RANK, Rule
from itscm_check.provenance import Provenance

NEVER = "never"


@dataclass(frozen=True)
class Report:
    """Everything a formatter renders: findings, passing checks, the rules, the inventory and provenance."""

    provenance: Provenance
    inventory: Inventory
    rules: tuple[Rule, ...]  # the enabled rules
    findings: tuple[Finding, ...]  # sorted by severity, rule id, target, message
    results: tuple[CheckResult, ...]  # one per rule and subject evaluated, passing ones included
    fail_on: str = "high"  # the --fail-on threshold, for verdicts

    @property
    def tool_version(self) -> str:
        return self.provenance.tool_version

    @property
    def as_of(self) -> dt.date:
        return self.provenance.as_of

    @property
    def services(self) -> int:
        return len(self.inventory.services)

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


def build_report(provenance: Provenance, inventory: Inventory, rules: list[Rule], findings: list[Finding],
                 results: tuple[CheckResult, ...], fail_on: str = "high") -> Report:
    return Report(provenance, inventory, tuple(r for r in rules if r.enabled),
                  tuple(sorted(findings, key=lambda f: (*f.sort_key, f.fingerprint))), results, fail_on)


def blocking(report: Report, fail_on: str | None = None) -> tuple[Finding, ...]:
    """The failed (unwaived) findings at or above ``fail_on`` (default: the report's threshold)."""
    level = fail_on or report.fail_on
    if level == NEVER:
        return ()
    return tuple(f for f in report.failed if SEVERITY_RANK[f.severity] <= SEVERITY_RANK[level])


def exit_code(report: Report, fail_on: str | None = None) -> int:
    """1 when a failed (unwaived) finding is at or above ``fail_on``, else 0."""
    return 1 if blocking(report, fail_on) else 0
