"""JUnit XML: valid against the Jenkins JUnit schema, one test case per rule and subject, waived ones skipped."""

from __future__ import annotations

import dataclasses
import functools
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from helpers import check
from itscm_check.formatters import render
from itscm_check.report import Report
from itscm_check.waivers import META_RULES

SCHEMAS = Path(__file__).resolve().parents[1].parent / "shared" / "schemas"
META_IDS = {m.id for m in META_RULES}

INVENTORY: dict[str, Any] = {
    "teams": [{"id": "ops", "name": "Ops"}],
    "services": [
        {"id": "ok", "name": "OK", "tier": 4, "owner": "ops"},  # passes everything tier 4 is subject to
        {"id": "lost", "name": "Lost", "tier": 4, "owner": "ops",
         "dependencies": [{"ref": "ghost"}, {"ref": "vendor:nobody"}]},  # two ITSCM-028 (high)
        {"id": "anon", "name": "Anon", "tier": 4},  # ITSCM-001 (high), waived below
    ],
    # No programme: ITSCM-034 (medium) on the file as a whole (line 0).
    "waivers": [
        {"id": "W-1", "rule": "ITSCM-001", "target": "anon", "reason": "team being formed <soon> & \x1b",
         "approved_by": "CISO", "expires": "2026-12-31"},
        {"rule": "ITSCM-002", "target": "ok", "reason": "old", "approved_by": "CTO", "expires": "2026-01-01"},
    ],  # the second is expired and unused: ITSCM-900 (high) and ITSCM-901 (low)
}


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Report:
    monkeypatch.chdir(tmp_path)  # finding paths are relative to the working directory
    return check(tmp_path, INVENTORY)


@functools.cache
def _schema() -> Any:
    import xmlschema

    return xmlschema.XMLSchema(str(SCHEMAS / "jenkins-junit-10.xsd"))


def validate_junit(text: str) -> ET.Element:
    """Parse the report and check it against the Jenkins JUnit schema; the parsed root."""
    if not (SCHEMAS / "jenkins-junit-10.xsd").is_file():
        pytest.skip(f"{SCHEMAS / 'jenkins-junit-10.xsd'} not found: the JUnit schema is read from "
                    "../shared/schemas and never copied")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n') and text.endswith("\n")
    _schema().validate(text)
    return ET.fromstring(text.encode("utf-8"))


def _cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(c.get("classname", ""), c.get("name", "")): c for c in root.iter("testcase")}


def test_valid_and_counts_match_results_and_meta_findings(report: Report) -> None:
    root = validate_junit(render("junit", report))
    meta = [f for f in report.findings if f.rule_id in META_IDS]
    assert len(meta) == 2
    cases = list(root.iter("testcase"))
    assert len(cases) == len(report.results) + len(meta)
    failed_keys = {(f.rule_id, f.target, f.subject) for f in report.failed}
    waived_keys = {(f.rule_id, f.target, f.subject) for f in report.waived}
    assert len(root.findall(".//failure")) == len(failed_keys) == 5  # 028 twice, 034, 900, 901
    assert len(root.findall(".//skipped")) == len(waived_keys) == 1
    assert root.get("name") == "itscm-check" and root.get("skipped") is None  # the schema has no such attribute
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == (str(len(cases)), "5", "0")
    for suite in root.iter("testsuite"):
        suite_cases = suite.findall("testcase")
        assert suite.get("tests") == str(len(suite_cases))
        assert suite.get("failures") == str(sum(1 for c in suite_cases if c.find("failure") is not None))
        assert suite.get("skipped") == str(sum(1 for c in suite_cases if c.find("skipped") is not None))


@pytest.mark.parametrize("name", ["junit", "html"])
def test_a_report_built_without_passing_checks_cannot_render_them(report: Report, name: str) -> None:
    with pytest.raises(ValueError, match="without its passing checks"):
        render(name, dataclasses.replace(report, results=None))


def test_one_suite_per_enabled_rule_sorted_then_one_per_waiver_rule_that_fired(report: Report) -> None:
    root = validate_junit(render("junit", report))
    names = [s.get("name", "") for s in root.findall("testsuite")]
    rules = sorted(report.rules, key=lambda r: r.id)
    assert names[:-2] == [f"{r.id} {r.title}" for r in rules]
    assert names[-2:] == ["ITSCM-900 Waiver expired", "ITSCM-901 Waiver unused"]
    assert [[(c.get("classname"), c.get("name")) for c in suite] for suite in root.findall("testsuite")[-2:]] == [
        [("ITSCM-900", "waiver:ITSCM-002/ok expires:2026-01-01")],
        [("ITSCM-901", "waiver:ITSCM-002/ok expires:2026-01-01")]]


def test_passes_failures_and_waived_cases(report: Report) -> None:
    cases = _cases(validate_junit(render("junit", report)))
    assert len(cases[("ITSCM-001", "ok")]) == 0  # a pass: an empty test case
    failure = cases[("ITSCM-028", "lost dependency:ghost")].find("failure")
    assert failure is not None and failure.get("type") == "high"
    assert failure.get("message") == "dependency 'ghost': is neither a service id nor vendor:<id> of a known vendor"
    assert failure.text is not None and "at inventory.yaml:14" in failure.text
    programme = cases[("ITSCM-034", "programme")].find("failure")
    assert programme is not None and programme.get("type") == "medium"
    skipped = cases[("ITSCM-001", "anon")].find("skipped")
    assert skipped is not None and cases[("ITSCM-001", "anon")].find("failure") is None
    # The escape character cannot be written in XML 1.0: it is replaced, the rest kept as written.
    assert skipped.get("message") == ("waived: team being formed <soon> & \ufffd "
                                      "(approved by CISO, expires 2026-12-31)")


def test_several_findings_on_one_subject_make_one_failure(report: Report) -> None:
    first = next(f for f in report.failed if f.rule_id == "ITSCM-028")
    second = dataclasses.replace(first, message="a second problem", severity="critical")
    doubled = dataclasses.replace(report, findings=(*report.findings, second))
    root = validate_junit(render("junit", doubled))
    case = _cases(root)[("ITSCM-028", f"lost {first.subject}")]
    [failure] = case.findall("failure")
    assert failure.get("type") == "critical"  # the worst of them
    assert failure.get("message") == f"2 findings: {first.message}; a second problem"
    assert failure.text is not None and first.message in failure.text and "a second problem" in failure.text
    assert len(list(root.iter("testcase"))) == len(list(validate_junit(render("junit", report)).iter("testcase")))


def test_no_waiver_findings_no_waiver_suite_and_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    clean = {"teams": [{"id": "ops", "name": "Ops"}],
             "services": [{"id": "ok", "name": "OK", "tier": 4, "owner": "ops"}]}
    report = check(tmp_path, clean)
    text = render("junit", report)
    root = validate_junit(text)
    assert not any(s.get("name", "").startswith("ITSCM-90") for s in root.findall("testsuite"))
    assert len(list(root.iter("testcase"))) == len(report.results)
    assert text == render("junit", check(tmp_path, clean))


def test_failures_say_whether_they_are_new_against_a_baseline(tmp_path) -> None:
    from helpers import check
    from itscm_check.baseline import Baseline, with_baseline
    from itscm_check.formatters import render

    report = check(tmp_path, {"services": [{"id": "a", "name": "A", "tier": 4, "dependencies": [{"ref": "x"}]}]})
    xml = render("junit", with_baseline(report, Baseline("git ref main", ())))
    assert "high (new): dependency 'x'" in xml
