"""Waivers (SPEC section 5): what a waiver does to the findings it matches."""

from __future__ import annotations

from pathlib import Path

from helpers import check
from itscm_check.report import exit_code

BASE = {
    "teams": [{"id": "t", "name": "T"}],
    "services": [{"id": "s", "name": "S", "owner": "t"}],  # no tier: ITSCM-002 (high)
}


def _waiver(**fields):
    return {"rule": "ITSCM-002", "target": "s", "reason": "tier pending BIA", "approved_by": "CISO",
            "expires": "2026-12-31", **fields}


def test_waived_finding_keeps_its_place_and_does_not_fail_the_build(tmp_path: Path) -> None:
    report = check(tmp_path, {**BASE, "waivers": [_waiver()]})
    [finding] = [f for f in report.findings if f.rule_id == "ITSCM-002"]
    assert finding.status == "waived"
    assert finding.waiver.reason == "tier pending BIA" and finding.waiver.approved_by == "CISO"
    assert all(f.rule_id != "ITSCM-002" for f in report.failed)


def test_expired_waiver_lets_the_finding_fail_again(tmp_path: Path) -> None:
    report = check(tmp_path, {**BASE, "waivers": [_waiver(expires="2026-06-01")]})
    statuses = {f.rule_id: f.status for f in report.findings if f.rule_id in ("ITSCM-002", "ITSCM-900")}
    assert statuses == {"ITSCM-002": "failed", "ITSCM-900": "failed"}
    assert exit_code(report, "high") == 1


def test_a_valid_waiver_still_waives_beside_an_expired_one(tmp_path: Path) -> None:
    report = check(tmp_path, {**BASE, "waivers": [_waiver(expires="2026-06-01"), _waiver()]})
    assert [f.status for f in report.findings if f.rule_id == "ITSCM-002"] == ["waived"]
    assert [f.target for f in report.findings if f.rule_id == "ITSCM-900"] == ["waiver:ITSCM-002/s"]


def test_meta_findings_cannot_be_waived(tmp_path: Path) -> None:
    waivers = [_waiver(rule="ITSCM-777"), _waiver(rule="ITSCM-901", target="waiver:ITSCM-777/s")]
    report = check(tmp_path, {**BASE, "waivers": waivers})
    assert all(f.status == "failed" for f in report.findings if f.rule_id == "ITSCM-901")


def test_future_created_date_is_reported_on_the_waiver(tmp_path: Path) -> None:
    report = check(tmp_path, {**BASE, "waivers": [_waiver(created="2026-07-01")]})
    assert [f.target for f in report.findings if f.rule_id == "ITSCM-036"] == ["waiver:ITSCM-002/s"]
