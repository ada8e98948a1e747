"""The terminal table: findings sorted by severity, then a summary line."""

from __future__ import annotations

from textwrap import TextWrapper

from tabulate import tabulate

from itscm_check.findings import NEW, Finding
from itscm_check.formatters import printable
from itscm_check.report import Report

_COLORS = {"critical": "\033[1;31m", "high": "\033[31m", "medium": "\033[33m", "low": "\033[36m", "info": "\033[2m"}
_RESET = "\033[0m"


def render(report: Report, *, color: bool = False) -> str:
    compared = report.baseline is not None
    # Targets and messages are wrapped here, as tabulate's maxcolwidths would wrap them: its wrapper
    # looks for colour codes in every piece of every cell, which took half a second for 5,000
    # findings. These cells have none (printable() replaces control characters). Widths count
    # characters, as tabulate's do unless the optional wcwidth package is installed. A message
    # breaks at blanks only, not after a hyphen as tabulate's would: the ids and dates it names
    # ("crm-db-0194", "2026-01-15") stay whole, to be read and copied.
    target, message = TextWrapper(width=32), TextWrapper(width=72, break_on_hyphens=False)
    rows = [[_paint(f.severity, color), f.rule_id, _wrapped(target, printable(f.target)),
             f.status + (f" ({f.baseline})" if compared else ""),
             _wrapped(message, printable(f.message + _waiver_note(f))), printable(f.location)] for f in report.findings]
    lines = []
    if rows:
        lines.append(tabulate(rows, headers=["severity", "rule", "target", "status", "message", "location"],
                              disable_numparse=True))
        lines.append("")
    if report.fixed:
        lines.append(f"Fixed since the baseline ({report.baseline}):")
        lines += [printable(f"  {f.severity} {f.rule_id} {f.target}: {f.message}") for f in report.fixed]
        lines.append("")
    expiring = report.expiring_waivers()
    if expiring:
        lines.append(f"Waivers expiring within {report.warn_expiring_days} days:")
        lines += [printable(f"  {w.expires.isoformat()} {w.rule} {w.target} (approved by {w.approved_by}): {w.reason}")
                  for w in expiring]
        lines.append("")
    lines.append(summary_line(report, color))
    return "\n".join(lines) + "\n"


def summary_line(report: Report, color: bool = False) -> str:
    counts = ", ".join(f"{_paint(name, color)}: {n}" for name, n in report.by_severity().items())
    verdict = f"{len(report.failed)} failed ({counts}), {len(report.waived)} waived"
    line = f"{verdict}; {report.services} services, {len(report.rules)} rules, as of {report.as_of.isoformat()}"
    if report.baseline is not None:
        new = sum(1 for f in report.failed if f.baseline == NEW)
        line += f"; against {report.baseline}: {new} new failed, {len(report.fixed)} fixed"
    return line


def _wrapped(wrapper: TextWrapper, text: str) -> str:
    if len(text) <= wrapper.width:  # most cells; the blanks the wrapper would drop, tabulate strips too
        return text
    return "\n".join(wrapper.wrap(text))


def _waiver_note(finding: Finding) -> str:
    w = finding.waiver
    return "" if w is None else f" [waived until {w.expires.isoformat()} by {w.approved_by}: {w.reason}]"


def _paint(severity: str, color: bool) -> str:
    return f"{_COLORS[severity]}{severity}{_RESET}" if color else severity
