"""The terminal table wraps long targets and messages as tabulate's own maxcolwidths would."""

import dataclasses
import datetime as dt
from pathlib import Path

from tabulate import tabulate

from itscm_check.formatters import printable, table
from itscm_check.pipeline import run_check

REPO = Path(__file__).resolve().parents[1]


def test_targets_and_messages_wrap_as_tabulate_wraps_them() -> None:
    report = run_check([REPO / "inventory"], [], dt.date(2026, 6, 30), passing=False)
    long = dataclasses.replace(report.findings[0], target="a-service-whose-id-is-longer-than-thirty-two-characters",
                               message="a message " * 20 + "with-one-word-longer-than-the-seventy-two-columns-of-its-"
                                                          "column-that-must-be-cut")
    # Cells the wrapper changes although they fit: trailing blanks, blanks only, nothing.
    odd = [dataclasses.replace(report.findings[0], target=target, message=message)
           for target, message in (("t ", "m  "), ("   ", " "), ("", ""), (" t", "  m"))]
    report = dataclasses.replace(report, findings=(long, *odd, *report.findings))
    assert any(f.waiver for f in report.findings)  # a waiver note lengthens the message too
    rows = [[f.severity, f.rule_id, printable(f.target), f.status, printable(f.message + table._waiver_note(f)),
             printable(f.location)] for f in report.findings]
    expected = tabulate(rows, headers=["severity", "rule", "target", "status", "message", "location"],
                        maxcolwidths=[None, None, 32, None, 72, None], disable_numparse=True)
    assert table.render(report).startswith(expected + "\n\n")
    assert "a-service-whose-id-is-longer-than-thirty-two-characters" not in expected  # it did wrap
