"""The terminal table: findings sorted by severity, then a summary line."""

from __future__ import annotations

from tabulate import tabulate

from itscm_check.report import Report

_COLORS = {"critical": "\033[1;31m", "high": "\033[31m", "medium": "\033[33m", "low": "\033[36m", "info": "\033[2m"}
_RESET = "\033[0m"


def render(report: Report, *, color: bool = False) -> str:
    rows = [[_paint(f.severity, color), f.rule_id, f.target, f.status, f.message, str(f.location)]
            for f in report.findings]
    lines = []
    if rows:
        lines.append(tabulate(rows, headers=["severity", "rule", "target", "status", "message", "location"],
                              maxcolwidths=[None, None, 32, None, 72, None], disable_numparse=True))
        lines.append("")
    lines.append(summary_line(report, color))
    return "\n".join(lines) + "\n"


def summary_line(report: Report, color: bool = False) -> str:
    counts = ", ".join(f"{_paint(name, color)}: {n}" for name, n in report.by_severity().items())
    verdict = f"{len(report.failed)} failed ({counts}), {len(report.waived)} waived"
    return (f"{verdict}; {report.services} services, {len(report.rules)} rules, "
            f"as of {report.as_of.isoformat()}")


def _paint(severity: str, color: bool) -> str:
    return f"{_COLORS[severity]}{severity}{_RESET}" if color else severity
