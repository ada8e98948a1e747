"""CSV: one row per finding with every field, for spreadsheets."""

from __future__ import annotations

import io

from defusedcsv import csv  # a drop-in csv that neutralises cells a spreadsheet would run as formulas

from itscm_check.report import Report

COLUMNS = ["severity", "rule_id", "rule_title", "target", "status", "message", "path", "line", "controls",
           "fingerprint", "waiver_reason", "waiver_approved_by", "waiver_expires", "waiver_ticket", "baseline"]


def render(report: Report, *, color: bool = False) -> str:
    titles = {rule.id: rule.title for rule in report.rules}
    buffer = io.StringIO()
    # The default line ending, \r\n, makes the writer quote a cell holding a lone \r too; with
    # \n alone such a cell split its row in two.
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for f in report.findings:
        w = f.waiver
        waiver = [w.reason, w.approved_by, w.expires.isoformat(), w.ticket or ""] if w else ["", "", "", ""]
        writer.writerow([_trimmed(cell) for cell in (
            f.severity, f.rule_id, titles.get(f.rule_id, ""), f.target, f.status, f.message, f.location.path,
            f.location.line, "; ".join(f.controls), f.fingerprint, *waiver, f.baseline)])
    return buffer.getvalue()


def _trimmed(cell: object) -> object:
    # defusedcsv looks at a cell's first character only: a leading tab or carriage return would hide
    # a formula from it (spreadsheets drop the blank and run the rest).
    return cell.strip() if isinstance(cell, str) else cell
