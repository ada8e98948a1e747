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
