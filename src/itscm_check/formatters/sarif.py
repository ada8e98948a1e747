"""SARIF 2.1.0 for GitHub code scanning: the rules with their controls, one result per finding."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from itscm_check.findings import EXISTING, FAILED, NEW, Finding
from itscm_check.formatters import json_text
from itscm_check.policy.model import Rule
from itscm_check.report import Report
from itscm_check.waivers import META_RULES, MetaRule

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/itscm-check/itscm-check"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub reads security-severity as a CVSS-like score and bands it: >= 9.0 critical, 7.0-8.9 high,
# 4.0-6.9 medium, 0.1-3.9 low. It must be a string: a JSON number is rejected on upload.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
# GitHub's upload limits: more results per run or tags per rule reject the whole file; longer
# descriptions are cut by GitHub anyway, so cut them here where the cut is visible.
MAX_RESULTS = 25_000
MAX_TAGS = 20
MAX_DESCRIPTION = 1024
FINGERPRINT_KEY = "itscmFingerprint/v1"


def render(report: Report, *, color: bool = False) -> str:
    descriptors = [_rule(r) for r in report.rules] + [_meta_rule(m) for m in META_RULES]
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    findings = list(report.findings)
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "itscm-check", "version": report.tool_version,
                            "informationUri": INFORMATION_URI, "rules": descriptors}},
        # GitHub reads "category/run-id": the category must not change between runs, or alerts
        # of earlier runs are never closed. An id in the file wins over the upload action's category.
        "automationDetails": {"id": f"itscm-check/{report.as_of.isoformat()}"},
    }
    if len(findings) > MAX_RESULTS:
        # Keep the failed findings first (already sorted by severity): they are what the run is for.
        findings = sorted(findings, key=lambda f: f.status != FAILED)[:MAX_RESULTS]
        run["invocations"] = [{"executionSuccessful": True, "toolExecutionNotifications": [{
            "level": "warning", "message": {"text": f"{len(report.findings)} findings; only the first "
                                                    f"{MAX_RESULTS} are included (GitHub's limit per run)"}}]}]
    git = report.provenance.git
    repo_path = git.repo_path if git is not None else (lambda path: path)
    run["results"] = [_result(f, index, repo_path(f.location.path)) for f in findings]
    if git is not None and git.remote_url:  # repositoryUri is required: without a remote, say nothing
        details: dict[str, Any] = {"repositoryUri": git.remote_url, "revisionId": git.commit}
        if git.branch:
            details["branch"] = git.branch
        run["versionControlProvenance"] = [details]
    document = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json_text(document, sort_keys=True)


def _descriptor(rule_id: str, title: str, description: str, remediation: str, severity: str,
                controls: tuple[str, ...], severity_text: str, help_uri: str | None) -> dict[str, Any]:
    markdown = (f"{description}\n\n**Remediation:** {remediation}\n\n**Severity:** {severity_text}"
                + (f"\n\n**Controls:** {', '.join(controls)}" if controls else ""))
    item: dict[str, Any] = {
        "id": rule_id,
        "name": camel_case(title)[:255],  # GitHub's limit
        "shortDescription": {"text": _cut(title)},
        "fullDescription": {"text": _cut(description)},
        "help": {"text": remediation, "markdown": markdown},
        "defaultConfiguration": {"level": LEVELS[severity]},
        # GitHub applies security-severity only to rules tagged "security".
        "properties": {"tags": ["continuity", "security", *controls][:MAX_TAGS],
                       "security-severity": SECURITY_SEVERITY[severity], "precision": "very-high"},
    }
    uri = help_uri or _docs_uri(rule_id)
    if uri:
        item["helpUri"] = uri
    return item


def _rule(rule: Rule) -> dict[str, Any]:
    return _descriptor(rule.id, rule.title, rule.description, rule.remediation, rule.strictest,
                       rule.controls, rule.severity_text, rule.help_uri)


def _meta_rule(rule: MetaRule) -> dict[str, Any]:
    return _descriptor(rule.id, rule.title, rule.description, rule.remediation, rule.severity, rule.controls,
                       rule.severity, None)


def _result(finding: Finding, index: dict[str, int], path: str) -> dict[str, Any]:
    """One finding; ``path`` is its file relative to the repository's root, as code scanning reads it."""
    location = finding.location
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "level": LEVELS[finding.severity],
        "message": {"text": f"{finding.target}: {finding.message}"},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": quote(path, safe="/"), "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": max(location.line, 1)}}}],  # line 0 is the whole file
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {"target": finding.target, "severity": finding.severity, "controls": list(finding.controls)},
    }
    if finding.rule_id in index:
        result["ruleIndex"] = index[finding.rule_id]
    if finding.waiver is not None:
        w = finding.waiver
        result["suppressions"] = [{"kind": "external", "status": "accepted",
                                   "justification": f"{w.reason} (approved by {w.approved_by}, "
                                                    f"expires {w.expires.isoformat()})"}]
    if finding.baseline in (NEW, EXISTING):
        result["baselineState"] = "new" if finding.baseline == NEW else "unchanged"
    return result


def camel_case(title: str) -> str:
    """``No RTO inversion`` -> ``NoRTOInversion``: acronyms keep their case."""
    return "".join(word[0].upper() + word[1:] for word in re.split(r"[^0-9A-Za-z]+", title) if word)


def _docs_uri(rule_id: str) -> str | None:
    # Only the tool's own rules are documented there; a custom rule without help_uri gets no link.
    if not rule_id.startswith("ITSCM-"):
        return None
    return f"{INFORMATION_URI}/blob/main/docs/rules.md#{rule_id.lower()}"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[:MAX_DESCRIPTION - 1] + "…"
