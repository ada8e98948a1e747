"""Markdown (job summaries, PR comments) and CSV (spreadsheets)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from helpers import check
from itscm_check.formatters import render

HOSTILE = "=HYPERLINK(\"http://x\") | <script>alert(1)</script>"
INVENTORY = {
    "teams": [{"id": "t", "name": "T"}],
    "services": [{"id": "a", "name": HOSTILE, "owner": "t", "tier": 4, "dependencies": [{"ref": "ghost"}]},
                 {"id": "b", "name": "B", "owner": "t"}],
    "waivers": [{"rule": "ITSCM-002", "target": "b", "reason": HOSTILE, "approved_by": "CISO",
                 "expires": "2026-07-20", "ticket": "RISK-1"}],
}


def test_markdown_verdict_counts_findings_and_expiring_waivers(tmp_path: Path) -> None:
    report = check(tmp_path, INVENTORY)
    text = render("markdown", report)
    assert text.startswith("## ❌ itscm-check: ")
    assert "<td>ITSCM-028</td><td>a</td>" in text
    assert "### Waivers expiring within 30 days" in text and "<td>2026-07-20</td>" in text
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_markdown_caps_the_table(tmp_path: Path) -> None:
    many = {"services": [{"id": f"s{i:02}", "name": "S", "tier": 4, "dependencies": [{"ref": "ghost"}]}
                         for i in range(60)]}
    text = render("markdown", check(tmp_path, many))
    failed = len(check(tmp_path, many).failed)  # 60 dangling dependencies, 60 missing owners, no programme
    assert failed == 121
    assert text.count("<td>ITSCM-0") == 50 and "...and 71 more failed finding(s)" in text


def test_csv_has_one_row_per_finding_and_defuses_formulas(tmp_path: Path) -> None:
    report = check(tmp_path, INVENTORY)
    rows = list(csv.DictReader(io.StringIO(render("csv", report))))
    assert len(rows) == len(report.findings)
    waived = next(r for r in rows if r["status"] == "waived")
    assert waived["rule_id"] == "ITSCM-002" and waived["waiver_ticket"] == "RISK-1"
    assert waived["waiver_reason"].startswith("'=HYPERLINK")  # a spreadsheet shows it as text


BREAKING = {
    "teams": [{"id": "t", "name": "T"}],
    "services": [{"id": "a", "name": "A", "owner": "t", "tier": 4, "dependencies": [{"ref": "\r=nope"}]},
                 {"id": "b", "name": "B", "owner": "t"}],
    "waivers": [{"rule": "ITSCM-002", "target": "b", "reason": "line one\x1b[31m\n\n# not a heading\n![x](https://evil.example/t.png)",
                 "approved_by": "\r@x", "expires": "2026-07-20", "ticket": "\t=1"}],
}


def test_csv_keeps_rows_whole_and_defuses_formulas_behind_blanks(tmp_path: Path) -> None:
    report = check(tmp_path, BREAKING)
    rows = list(csv.DictReader(io.StringIO(render("csv", report), newline="")))
    assert len(rows) == len(report.findings)
    waived = next(r for r in rows if r["status"] == "waived")
    assert (waived["waiver_approved_by"], waived["waiver_ticket"]) == ("'@x", "'=1")
    assert all(not r["message"].startswith(("=", "\r")) for r in rows)


def test_markdown_cells_stay_on_one_line_inside_the_table(tmp_path: Path) -> None:
    text = render("markdown", check(tmp_path, BREAKING))
    assert "\n\n# not a heading" not in text and "line one\ufffd[31m<br><br># not a heading<br>![x]" in text
    assert "\x1b" not in text and "\r" not in text


def test_the_terminal_table_shows_control_characters_as_replacement_marks(tmp_path: Path) -> None:
    text = render("table", check(tmp_path, BREAKING))
    assert "\x1b" not in text and "\r" not in text and "\ufffd@x" in text


def test_fail_on_never_reads_as_report_only(tmp_path: Path) -> None:
    import dataclasses

    report = dataclasses.replace(check(tmp_path, INVENTORY), fail_on="never")
    markdown, html = render("markdown", report), render("html", report)
    assert "; never fails (report only)." in markdown and "itscm-check: report only, " in markdown
    assert "never (report only)" in html and "REPORT ONLY: " in html and "below never" not in html + markdown
