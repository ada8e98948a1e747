"""Waivers (SPEC section 5): what a waiver does to the findings it matches."""

from __future__ import annotations

import re
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
    [expired] = [f for f in report.findings if f.rule_id == "ITSCM-900"]
    assert expired.message == "expired on 2026-06-01; 1 finding(s) it covered fail again"


def test_a_valid_waiver_still_waives_beside_an_expired_one(tmp_path: Path) -> None:
    report = check(tmp_path, {**BASE, "waivers": [_waiver(expires="2026-06-01"), _waiver()]})
    assert [f.status for f in report.findings if f.rule_id == "ITSCM-002"] == ["waived"]
    [expired] = [f for f in report.findings if f.rule_id == "ITSCM-900"]
    assert expired.target == "waiver:ITSCM-002/s"
    # It does not claim that a finding the other waiver still covers fails again.
    assert expired.message == "expired on 2026-06-01; 0 finding(s) it covered fail again, 1 stay waived by another waiver"


def test_meta_findings_cannot_be_waived(tmp_path: Path) -> None:
    waivers = [_waiver(rule="ITSCM-777"), _waiver(rule="ITSCM-901", target="waiver:ITSCM-777/s")]
    report = check(tmp_path, {**BASE, "waivers": waivers})
    assert all(f.status == "failed" for f in report.findings if f.rule_id == "ITSCM-901")


def test_future_created_date_is_reported_on_the_waiver(tmp_path: Path) -> None:
    report = check(tmp_path, {**BASE, "waivers": [_waiver(created="2026-07-01")]})
    assert [f.target for f in report.findings if f.rule_id == "ITSCM-036"] == ["waiver:ITSCM-002/s"]


def _cli(tmp_path: Path, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    from itscm_check.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    team = "{id: t, name: T, contacts: [{name: A, role: primary, phone: '1'}, {name: B, role: alternate, phone: '2'}]}"
    (tmp_path / "inv.yaml").write_text(f"teams: [{team}]\nservices: [{{id: s, name: S, owner: t}}]\n")
    code = main(["check", "--inventory", "inv.yaml", "--as-of", "2026-06-30", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_waivers_file_waives_and_the_build_passes(tmp_path: Path, monkeypatch, capsys) -> None:
    lines = [f"  - {{rule: {rule}, target: s, reason: accepted, approved_by: CISO, expires: 2026-07-15}}"
             for rule in ("ITSCM-002", "ITSCM-003", "ITSCM-005", "ITSCM-010", "ITSCM-014", "ITSCM-015", "ITSCM-027")]
    (tmp_path / "risks.yaml").write_text("waivers:\n" + "\n".join(lines) + "\n")
    code, out, _ = _cli(tmp_path, monkeypatch, capsys, "--waivers", "risks.yaml", "--warn-expiring", "20")
    assert code == 0, out
    assert re.search(r"ITSCM-002 +s +waived", out)
    assert "Waivers expiring within 20 days:\n  2026-07-15 ITSCM-002 s (approved by CISO): accepted" in out
    code, out, _ = _cli(tmp_path, monkeypatch, capsys, "--waivers", "risks.yaml", "--warn-expiring", "10")
    assert "Waivers expiring within" not in out


def test_a_waivers_file_holds_only_waivers(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "risks.yaml").write_text("services: []\nwaivers:\n  - {rule: X, target: s, reason: r}\nfindings: []\n")
    code, _, err = _cli(tmp_path, monkeypatch, capsys, "--waivers", "risks.yaml")
    assert code == 2
    assert "risks.yaml:1: unexpected key 'services' in a waivers file" in err
    assert [line for line in err.splitlines() if "'findings'" in line] == [  # one error for one key
        "risks.yaml:4: unknown key 'findings' (known keys: apiVersion, metadata, programme, teams, sites, vendors, "
        "services, waivers; prefix extension keys with x-)"]
