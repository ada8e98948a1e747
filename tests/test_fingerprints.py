"""Fingerprints depend on rule, target and subject, never on lines, files or message wording."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from itscm_check.pipeline import run_check

SERVICE = {"id": "api", "name": "API", "tier": 1, "owner": "t",
           "plans": [{"id": "dr", "type": "disaster-recovery",
                      "exercises": [{"date": "2026-01-10", "type": "tabletop", "result": "pass"},
                                    {"date": "2027-01-05", "type": "walkthrough", "result": "pass"}]},
                     {"id": "bc", "type": "business-continuity"}],
           "backups": [{"id": "b1", "frequency": "1d", "retention": "30d"},
                       {"id": "b2", "frequency": "1d", "retention": "30d"}]}
TEAMS = {"teams": [{"id": "t", "name": "T"}]}


def _fingerprints(folder: Path, files: dict[str, dict]) -> dict[tuple[str, str, str], str]:
    folder.mkdir()
    for name, document in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    report = run_check([folder], [], dt.date(2026, 6, 30))
    return {(f.rule_id, f.target, f.subject): f.fingerprint for f in report.findings}


def test_moving_a_service_to_another_file_and_reordering_keeps_fingerprints(tmp_path: Path) -> None:
    before = _fingerprints(tmp_path / "a", {"all.yaml": {**TEAMS, "services": [SERVICE]}})
    dr, bc = SERVICE["plans"]
    moved = {**SERVICE, "plans": [bc, {**dr, "exercises": dr["exercises"][::-1]}], "backups": SERVICE["backups"][::-1]}
    after = _fingerprints(tmp_path / "b", {"teams.yaml": TEAMS, "zz/api.yaml": {"x-moved": True, "services": [moved]}})
    assert ("ITSCM-036", "api", "date:plans[dr].exercises[2027-01-05/walkthrough].date") in before
    assert before == after


def test_each_plan_and_backup_has_its_own_fingerprint(tmp_path: Path) -> None:
    prints = _fingerprints(tmp_path / "a", {"all.yaml": {**TEAMS, "services": [SERVICE]}})
    per_plan = {k: v for k, v in prints.items() if k[0] == "ITSCM-012"}
    per_backup = {k: v for k, v in prints.items() if k[0] == "ITSCM-024"}
    assert set(per_plan) == {("ITSCM-012", "api", "plan:dr"), ("ITSCM-012", "api", "plan:bc")}
    assert set(per_backup) == {("ITSCM-024", "api", "backup:b1"), ("ITSCM-024", "api", "backup:b2")}
    assert len(set(prints.values())) == len(prints)


def test_two_alike_exercises_without_ids_have_their_own_fingerprints(tmp_path: Path) -> None:
    failed = {"date": "2026-07-20", "type": "tabletop", "result": "fail"}  # in the future: ITSCM-036 too
    service = {**SERVICE, "plans": [{"id": "dr", "type": "disaster-recovery", "exercises": [failed, dict(failed)]}]}
    prints = _fingerprints(tmp_path / "a", {"all.yaml": {**TEAMS, "services": [service]}})
    assert {k for k in prints if k[0] == "ITSCM-036"} == {
        ("ITSCM-036", "api", "date:plans[dr].exercises[2026-07-20/tabletop].date"),
        ("ITSCM-036", "api", "date:plans[dr].exercises[2026-07-20/tabletop#1].date")}
    assert {k for k in prints if k[0] == "ITSCM-017"} == {
        ("ITSCM-017", "api", "plan:dr/exercise:2026-07-20/tabletop"),
        ("ITSCM-017", "api", "plan:dr/exercise:2026-07-20/tabletop#1")}
    assert len(set(prints.values())) == len(prints)


def test_waiver_findings_keep_fingerprints_when_waivers_move(tmp_path: Path) -> None:
    expired = {"rule": "ITSCM-001", "target": "api", "reason": "r", "approved_by": "CISO", "expires": "2026-01-31"}
    unused = {"rule": "ITSCM-002", "target": "api", "reason": "r", "approved_by": "CISO", "expires": "2026-12-31"}
    service = {"id": "api", "name": "API", "tier": 4, "owner": "t"}
    before = _fingerprints(tmp_path / "a", {"all.yaml": {**TEAMS, "services": [service], "waivers": [expired, unused]}})
    after = _fingerprints(tmp_path / "b", {"all.yaml": {**TEAMS, "services": [service], "waivers": [expired]},
                                           "0-waivers.yaml": {"waivers": [unused]}})  # read first
    twice = _fingerprints(tmp_path / "c", {"all.yaml": {**TEAMS, "services": [service], "waivers": [unused, unused]}})
    assert sorted(k[2] for k in twice if k[0] == "ITSCM-901") == ["expires:2026-12-31", "expires:2026-12-31#1"]
    meta = {k: v for k, v in before.items() if k[0] in ("ITSCM-900", "ITSCM-901")}
    assert {k[:2] for k in meta} == {("ITSCM-900", "waiver:ITSCM-001/api"), ("ITSCM-901", "waiver:ITSCM-001/api"),
                                     ("ITSCM-901", "waiver:ITSCM-002/api")}
    assert meta.items() <= after.items()
