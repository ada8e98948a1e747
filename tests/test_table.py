"""The terminal table wraps long targets as tabulate's own maxcolwidths would, and long messages
at blanks only."""

import dataclasses
import datetime as dt
from pathlib import Path
from textwrap import TextWrapper

from tabulate import tabulate

from itscm_check.formatters import printable, table
from itscm_check.pipeline import run_check

REPO = Path(__file__).resolve().parents[1]


def test_targets_wrap_as_tabulate_wraps_them_and_messages_at_blanks() -> None:
    report = run_check([REPO / "inventory"], [], dt.date(2026, 6, 30), passing=False)
    long = dataclasses.replace(report.findings[0], target="a-service-whose-id-is-longer-than-thirty-two-characters",
                               message="a message " * 20 + "with-one-word-longer-than-the-seventy-two-columns-of-its-"
                                                          "column-that-must-be-cut")
    # Cells the wrapper changes although they fit: trailing blanks, blanks only, nothing.
    odd = [dataclasses.replace(report.findings[0], target=target, message=message)
           for target, message in (("t ", "m  "), ("   ", " "), ("", ""), (" t", "  m"))]
    report = dataclasses.replace(report, findings=(long, *odd, *report.findings))
    assert any(f.waiver for f in report.findings)  # a waiver note lengthens the message too
    message = TextWrapper(width=72, break_on_hyphens=False)
    rows = [[f.severity, f.rule_id, printable(f.target), f.status,
             "\n".join(message.wrap(printable(f.message + table._waiver_note(f)))), printable(f.location)]
            for f in report.findings]
    expected = tabulate(rows, headers=["severity", "rule", "target", "status", "message", "location"],
                        maxcolwidths=[None, None, 32, None, None, None], disable_numparse=True)
    assert table.render(report).startswith(expected + "\n\n")
    assert "a-service-whose-id-is-longer-than-thirty-two-characters" not in expected  # it did wrap


def test_a_message_keeps_the_ids_it_names_whole() -> None:
    report = run_check([REPO / "inventory"], [], dt.date(2026, 6, 30), passing=False)
    # At 72 columns, a wrapper that breaks after hyphens cuts this message inside "crm-db-0194".
    message = "rto 12h but it hard-depends on 'crm-api-0192' with rto 3d (path: crm-db-0194 -> crm-api-0192)"
    assert "crm-db-0194" not in "\n".join(TextWrapper(width=72).wrap(message))
    report = dataclasses.replace(report, findings=(dataclasses.replace(report.findings[0], message=message),))

    rendered = table.render(report)

    assert "crm-db-0194" in rendered
    assert "crm-api-0192" in rendered
