"""The Report every formatter renders, and the exit code it implies."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from itscm_check.findings import FAILED, NEW, WAIVED, CheckResult, Finding
from itscm_check.inventory import Inventory, Waiver
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
    # One per rule and subject evaluated, passing ones included, in no set order (those read back
    # from the findings cache come first): formats sort or count them. None when they were not
    # collected (see formatters.PASSING_CHECKS).
    results: tuple[CheckResult, ...] | None
    fail_on: str = "high"  # the --fail-on threshold, for verdicts
    warn_expiring_days: int = 30  # waivers expiring within this many days are listed
    baseline: str | None = None  # what findings were classified against (a git ref, a report file)
    fixed: tuple[Finding, ...] = ()  # findings of the baseline that are gone

    def checks(self) -> tuple[CheckResult, ...]:
        """Every check evaluated, passing ones included, for the formats that show them."""
        if self.results is None:
            raise ValueError("the report was built without its passing checks: run_check(..., passing=True)")
        return self.results

    def expiring_waivers(self) -> tuple[Waiver, ...]:
        """Active waivers that expire within ``warn_expiring_days`` of the as-of date, soonest first."""
        try:
            horizon = self.as_of + dt.timedelta(days=self.warn_expiring_days)
        except OverflowError:  # past 9999-12-31: every later expiry is within the horizon
            horizon = dt.date.max
        return tuple(sorted((w for w in self.inventory.waivers if self.as_of <= w.expires <= horizon),
                            key=lambda w: (w.expires, w.rule, w.target)))

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


def sort_findings(findings: list[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(findings, key=lambda f: (*f.sort_key, f.fingerprint)))


def build_report(provenance: Provenance, inventory: Inventory, rules: list[Rule], findings: list[Finding],
                 results: tuple[CheckResult, ...] | None, fail_on: str = "high", warn_expiring_days: int = 30) -> Report:
    return Report(provenance, inventory, tuple(r for r in rules if r.enabled), sort_findings(findings), results,
                  fail_on, warn_expiring_days)


def why_not_blocking(report: Report) -> str:
    """Why the failed findings of a passing run do not fail it, e.g. "3 failed finding(s) below high"."""
    if report.baseline is None:
        return f"{len(report.failed)} failed finding(s) below {report.fail_on}"
    return f"{len(report.failed)} failed finding(s), none of them new at or above {report.fail_on}"


def blocking(report: Report, fail_on: str | None = None) -> tuple[Finding, ...]:
    """The failed (unwaived) findings at or above ``fail_on`` (default: the report's threshold)."""
    level = fail_on or report.fail_on
    if level == NEVER:
        return ()
    # With a baseline, only what the change makes worse blocks.
    candidates = report.failed if report.baseline is None else [f for f in report.failed if f.baseline == NEW]
    return tuple(f for f in candidates if SEVERITY_RANK[f.severity] <= SEVERITY_RANK[level])


def exit_code(report: Report, fail_on: str | None = None) -> int:
    """1 when a failed (unwaived) finding is at or above ``fail_on``, else 0."""
    return 1 if blocking(report, fail_on) else 0
