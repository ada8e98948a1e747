"""The JSON report of SPEC section 7."""

from __future__ import annotations

from typing import Any

from itscm_check.findings import EXISTING, NEW, Finding
from itscm_check.formatters import json_text
from itscm_check.inventory import Waiver
from itscm_check.report import Report

SCHEMA_VERSION = 1


def render(report: Report, *, color: bool = False) -> str:
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "itscm-check", "version": report.tool_version},
        "as_of": report.as_of.isoformat(),
        "summary": {
            "services": report.services,
            "rules": len(report.rules),
            "failed": len(report.failed),
            "waived": len(report.waived),
            "by_severity": report.by_severity(),
        },
        "findings": [finding_json(f) for f in report.findings],
    }
    if report.baseline is not None:  # keys added only in baseline mode: the plain report keeps its contract
        document["summary"]["baseline"] = {
            "against": report.baseline,
            "new": sum(1 for f in report.findings if f.baseline == NEW),
            "existing": sum(1 for f in report.findings if f.baseline == EXISTING),
            "fixed": len(report.fixed)}
        document["fixed"] = [finding_json(f) for f in report.fixed]
    return json_text(document)


def finding_json(finding: Finding) -> dict[str, Any]:
    item: dict[str, Any] = {
        "rule_id": finding.rule_id,
        "severity": finding.severity,
        "target": finding.target,
        "status": finding.status,
        "message": finding.message,
        "location": {"path": finding.location.path, "line": finding.location.line},
        "controls": list(finding.controls),
        "fingerprint": finding.fingerprint,
    }
    if finding.waiver is not None:
        item["waiver"] = waiver_json(finding.waiver)
    if finding.baseline:
        item["baseline"] = finding.baseline
    return item


def waiver_json(waiver: Waiver) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if waiver.id is not None:
        item["id"] = waiver.id
    item.update(rule=waiver.rule, target=waiver.target, reason=_text(waiver.reason), approved_by=_text(waiver.approved_by), expires=waiver.expires.isoformat())
    if waiver.created is not None:
        item["created"] = waiver.created.isoformat()
    if waiver.ticket is not None:
        item["ticket"] = _text(waiver.ticket)
    return item


def _text(value: object) -> Any:
    # Free-text fields accept any scalar; a YAML date in one must still serialise.
    return value if isinstance(value, (str, int, float, bool)) else str(value)
