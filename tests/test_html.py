"""The auditor report (HTML): sections, escaping, counts, waiver register, dependency view, self-containment."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from xml.etree import ElementTree

from helpers import check
from itscm_check.baseline import Baseline, with_baseline
from itscm_check.formatters import html, render
from itscm_check.provenance import GitState

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
OBJECTIVES = {"rto": "1h", "rpo": "15m", "mtpd": "8h"}
INVENTORY = {
    "teams": [{"id": "t", "name": "T"}],
    "services": [
        {"id": "evil", "name": HOSTILE, "owner": "t", "tier": 4},
        {"id": "untiered", "name": "No tier", "owner": "t"},  # ITSCM-002, waived below
        {"id": "a", "name": "A", "owner": "t", "tier": 2, "objectives": OBJECTIVES,
         "dependencies": [{"ref": "b"}, {"ref": "slow"}]},
        {"id": "b", "name": "B", "owner": "t", "tier": 2, "objectives": OBJECTIVES, "dependencies": [{"ref": "a"}]},
        {"id": "slow", "name": "Slow", "owner": "t", "tier": 3, "objectives": {"rto": "48h", "rpo": "1d"},
         "plans": [{"id": "slow-dr", "type": "disaster-recovery", "document": "https://wiki.example/dr",
                    "exercises": [{"date": "2026-05-01", "type": "tabletop", "result": "pass",
                                   "evidence": "https://wiki.example/ex/1"},
                                  {"date": "2026-06-01", "type": "functional", "result": "partial",
                                   "evidence": "minutes/2026-06.pdf"}]}],
         "backups": [{"id": "nightly", "frequency": "1d", "retention": "30d",
                      "last_restore_test": {"date": "2026-06-02", "result": "pass", "evidence": "javascript:alert(1)"}}]},
        {"id": "lab", "name": "Lab", "owner": "t", "tier": 1, "lifecycle": "experimental"},
    ],
    "waivers": [
        {"id": "RA-1", "rule": "ITSCM-002", "target": "untiered", "reason": HOSTILE, "approved_by": "CISO",
         "created": "2026-06-01", "expires": "2026-12-31", "ticket": "RISK-7"},
        {"id": "RA-2", "rule": "ITSCM-001", "target": "a", "reason": "r", "approved_by": "CISO",
         "expires": "2026-01-31"},
    ],
}


def _html(tmp_path: Path) -> str:
    return render("html", check(tmp_path, INVENTORY))


def test_untrusted_text_is_escaped(tmp_path: Path) -> None:
    text = _html(tmp_path)
    assert HOSTILE not in text
    assert text.count(ESCAPED) == 3  # the service name, the waiver's reason in the register and on its finding


def test_every_section_is_present(tmp_path: Path) -> None:
    text = _html(tmp_path)
    for section in ("provenance", "summary", "coverage", "services", "organisation", "waivers", "dependencies"):
        assert f'<section id="{section}"' in text
    for heading in ("Provenance", "Executive summary", "Control coverage", "Continuity sheets", "Waiver register",
                    "Dependency view"):
        assert f". {heading}</h2>" in text


def test_coverage_counts_passing_checks_per_rule(tmp_path: Path) -> None:
    report = check(tmp_path, INVENTORY)
    passed = sum(1 for r in report.results if r.rule_id == "ITSCM-001" and r.passed)
    assert passed == 5  # every production service has an owner
    text = render("html", report)
    assert '<td class="mono">ITSCM-001</td><td>Owner resolves to a team</td>' \
           f'<td class="num">{passed}</td>' in text
    assert "ISO 22301:2019" in text and "DORA" in text


def test_summary_pass_rates_per_tier(tmp_path: Path) -> None:
    report = check(tmp_path, INVENTORY)
    tiers = {t["label"]: t for t in html.view(report)["summary"]["tiers"]}
    assert set(tiers) == {"Tier 1", "Tier 2", "Tier 3", "Tier 4", "organisation-wide"}
    assert tiers["Tier 4"]["total"] == sum(1 for r in report.results if r.target == "evil")
    services = {s.id for s in report.inventory.services}
    # Each waiver finding (here ITSCM-900 and 901 on RA-2) is a failed organisation-wide check, as in JUnit.
    waiver_findings = [f for f in report.findings if f.rule_id.startswith("ITSCM-9")]
    assert len(waiver_findings) == 2
    assert tiers["organisation-wide"]["total"] == sum(1 for r in report.results if r.target not in services) + 2
    summary = html.view(report)["summary"]
    assert sum(t["total"] for t in tiers.values()) == summary["overall"]["total"] == len(report.results) + 2
    junit_cases = len(ElementTree.fromstring(render("junit", report)).findall(".//testcase"))
    assert summary["overall"]["total"] == junit_cases
    coverage = {c["reference"]: c for framework in html.view(report)["coverage"] for c in framework["controls"]}
    assert {"ITSCM-900", "ITSCM-901"} <= {r["id"] for r in coverage["ISO22301:6.1"]["rules"]}


def test_a_tier_written_as_a_whole_float_is_that_tier(tmp_path: Path) -> None:
    # `tier: 2.0` is an integer to the schema; the HTML summary used to look for "Tier 2.0" and crash.
    report = check(tmp_path, "services: [{id: a, name: A, tier: 2.0}]\n")
    assert type(report.inventory.services[0].tier) is int
    tiers = {t["label"]: t for t in html.view(report)["summary"]["tiers"]}
    assert tiers["Tier 2"]["total"] == sum(1 for r in report.results if r.target == "a") > 0


def test_waiver_register_rows_and_statuses(tmp_path: Path) -> None:
    report = check(tmp_path, INVENTORY)
    rows = {w["id"]: w for w in html.view(report)["waivers"]}
    assert rows["RA-1"]["status"] == "active" and rows["RA-1"]["covers"] == 1
    assert rows["RA-2"]["status"] == "expired, unused"
    text = render("html", report)
    assert ('<td class="mono">ITSCM-002</td><td class="mono">untiered<br><span class="loc">RA-1</span></td>'
            '<td>CISO</td><td class="nowrap">2026-06-01</td><td class="nowrap">2026-12-31</td>'
            '<td class="mono">RISK-7</td><td><span class="badge status-active">active</span>') in text
    assert f'<td class="reason" colspan="7"><b>Reason:</b> {ESCAPED}</td>' in text
    assert "status-expired\">expired, unused</span>" in text
    # A waiver without an id is matched to its own ITSCM-900/901 findings too.
    report = check(tmp_path, {**INVENTORY, "waivers": [{k: v for k, v in w.items() if k != "id"}
                                                       for w in INVENTORY["waivers"]]})
    assert sorted(w["status"] for w in html.view(report)["waivers"]) == ["active", "expired, unused"]


def test_service_sheets_show_last_exercise_and_evidence(tmp_path: Path) -> None:
    sheets = {s["id"]: s for s in html.view(check(tmp_path, INVENTORY))["sheets"]}
    assert list(sheets) == ["lab", "untiered", "a", "b", "slow", "evil"]  # by tier (none counts as 1), then id
    slow = sheets["slow"]
    assert slow["last_exercise"] == {"date": "2026-06-01", "type": "functional", "result": "partial", "plan": "slow-dr"}
    assert slow["restores"] == [{"backup": "nightly", "date": "2026-06-02", "result": "pass"}]
    assert [(e["text"], e["href"]) for e in slow["evidence"]] == [
        ("https://wiki.example/ex/1", "https://wiki.example/ex/1"), ("minutes/2026-06.pdf", None),
        ("javascript:alert(1)", None)]  # only http(s) evidence becomes a link
    assert not sheets["lab"]["production"] and sheets["lab"]["findings"] == []
    text = render("html", check(tmp_path, INVENTORY))
    assert '<a href="https://wiki.example/ex/1">' in text and '<a href="minutes' not in text
    assert 'href="javascript' not in text
    assert "not production: experimental" in text


def test_dependency_view_highlights_cycles_and_slower_dependencies(tmp_path: Path) -> None:
    deps = html.view(check(tmp_path, INVENTORY))["dependencies"]
    edges = {(s["id"], e["target"]): e for s in deps["services"] for e in s["edges"]}
    assert edges[("a", "b")]["cycle"] and edges[("b", "a")]["cycle"] and not edges[("a", "slow")]["cycle"]
    assert edges[("a", "slow")]["slower"] and edges[("a", "slow")]["on_path"]
    assert edges[("a", "slow")]["rto"] == "2d" and edges[("a", "slow")]["flagged"]
    assert not edges[("b", "a")]["slower"] and edges[("b", "a")]["on_path"]  # b -> a -> slow, transitively
    assert deps["cycles"] == ["a, b"]
    assert {f["rule"] for f in deps["findings"]} == {"ITSCM-029", "ITSCM-030"}


def test_provenance_without_and_with_git(tmp_path: Path) -> None:
    report = check(tmp_path, INVENTORY)
    text = render("html", report)
    assert "not a git repository" in text and "2026-01-01T00:00:00Z" in text and "0" * 64 in text
    git = GitState("c0ffee" * 6 + "abcd", True, "main", None)
    text = render("html", dataclasses.replace(report, provenance=dataclasses.replace(report.provenance, git=git)))
    assert "not a git repository" not in text and git.commit in text and "dirty" in text


def test_self_contained_and_deterministic(tmp_path: Path) -> None:
    report = check(tmp_path, INVENTORY)
    text = render("html", report)
    assert not re.search(r"<link\b|<script\b|<img\b|@import|url\(", text, re.IGNORECASE)
    assert not re.search(r"\bsrc\s*=", text, re.IGNORECASE)
    links = re.findall(r"href=\"([^\"]*)\"", text)
    assert links and all(link.startswith(("#", "https://wiki.example/")) for link in links)  # only the report's own
    assert text == render("html", report)


def test_baseline_classes_fixed_findings_and_expiring_waivers_are_shown(tmp_path: Path) -> None:
    inventory = {"teams": [{"id": "t", "name": "T"}],
                 "services": [{"id": "a", "name": "A", "tier": 4, "owner": "t", "dependencies": [{"ref": "ghost"}]}],
                 "waivers": [{"rule": "ITSCM-028", "target": "a", "reason": "soon gone", "approved_by": "CISO",
                              "expires": "2026-07-10"}]}
    report = check(tmp_path, inventory)
    gone = dataclasses.replace(report.findings[0], rule_id="ITSCM-001", fingerprint="f" * 32, status="failed")
    html = render("html", with_baseline(report, Baseline("git ref main", (gone,))))
    assert "Fixed since the baseline" in html and "git ref main" in html
    assert '<span class="sub">new</span>' in html
    assert "expires within 30 days" in html
