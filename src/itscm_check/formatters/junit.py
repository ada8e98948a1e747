"""JUnit XML for test dashboards: one suite per rule, one test case per rule and subject, passes included."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable

from itscm_check.findings import FAILED, Finding
from itscm_check.policy.model import SEVERITY_RANK
from itscm_check.report import Report
from itscm_check.waivers import META_RULES

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
# XML 1.0 cannot carry most control characters, even escaped; YAML escapes can put them in
# free text, and one of them would make the whole report unreadable.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Key = tuple[str, str, str]  # rule id, target, subject


def render(report: Report, *, color: bool = False) -> str:
    by_key: dict[Key, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        by_key[(finding.rule_id, finding.target, finding.subject)].append(finding)
    # Every evaluated subject, plus (defensively) a finding that no result accounts for.
    keys_of: dict[str, set[Key]] = defaultdict(set)
    for key in [*((r.rule_id, r.target, r.subject) for r in report.checks()), *by_key]:
        keys_of[key[0]].add(key)
    root = ET.Element("testsuites", name="itscm-check")
    for rule in sorted(report.rules, key=lambda r: r.id):
        _suite(root, f"{rule.id} {rule.title}", sorted(keys_of[rule.id]), by_key)
    for meta in META_RULES:  # waiver rules have no passing cases: a suite only when one fired
        if keys_of[meta.id]:
            _suite(root, f"{meta.id} {meta.title}", sorted(keys_of[meta.id]), by_key)
    for name in ("tests", "failures", "errors"):  # the schema has no "skipped" on <testsuites>
        root.set(name, str(sum(int(suite.get(name, "0")) for suite in root)))
    ET.indent(root)
    return DECLARATION + ET.tostring(root, encoding="unicode") + "\n"


def _suite(root: ET.Element, name: str, keys: Iterable[Key], by_key: dict[Key, list[Finding]]) -> None:
    suite = ET.SubElement(root, "testsuite", name=_text(name))
    tests = failures = skipped = 0
    for rule_id, target, subject in keys:
        case = ET.SubElement(suite, "testcase", classname=rule_id,
                             name=_text(f"{target} {subject}" if subject else target))
        tests += 1
        findings = by_key.get((rule_id, target, subject), [])
        failed = [f for f in findings if f.status == FAILED]
        if failed:
            failures += 1
            _failure(case, failed)
        elif findings:
            skipped += 1
            ET.SubElement(case, "skipped", message=_text(waived_text(findings[0])))
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))


def _failure(case: ET.Element, failed: list[Finding]) -> None:
    worst = min(failed, key=lambda f: SEVERITY_RANK[f.severity])
    message = failed[0].message if len(failed) == 1 else f"{len(failed)} findings: " + "; ".join(
        f.message for f in failed)
    element = ET.SubElement(case, "failure", message=_text(message), type=worst.severity)
    # With a baseline, say which failures are new: a dashboard shows only this text.
    element.text = _text("\n".join(f"{f.severity}{f' ({f.baseline})' if f.baseline else ''}: {f.message}\n"
                                   f"at {f.location}" for f in failed))


def waived_text(finding: Finding) -> str:
    w = finding.waiver
    return f"waived: {w.reason} (approved by {w.approved_by}, expires {w.expires.isoformat()})"


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)
