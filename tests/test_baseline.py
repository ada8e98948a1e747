"""Baselines against real git repositories (commits made with gitpython) and earlier JSON reports."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import git
import pytest
import yaml

from helpers import child_pids, gone, starts_a_worker
from itscm_check import parallel, pipeline
from itscm_check.cli import main
from itscm_check.errors import InputErrors
from itscm_check.formatters import render
from itscm_check.pipeline import run_check
from itscm_check.schema import problems

AS_OF = dt.date(2026, 6, 30)
TEAMS = {"teams": [{"id": "t", "name": "T"}]}


def _service(sid: str, **fields) -> dict:
    return {"id": sid, "name": sid.title(), "tier": 4, "owner": "t", **fields}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> git.Repo:
    monkeypatch.chdir(tmp_path)
    repository = git.Repo.init(tmp_path, initial_branch="main")
    with repository.config_writer() as config:
        config.set_value("user", "name", "Test").set_value("user", "email", "test@example.org")
    return repository


def _commit(repo: git.Repo, files: dict[str, dict], message: str) -> str:
    root = Path(repo.working_tree_dir)
    for name, document in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    repo.index.add(list(files))
    return repo.index.commit(message).hexsha


def _check(ref: str | None = None, report: Path | None = None):
    return run_check([Path("inventory")], [], AS_OF, baseline_ref=ref, baseline_report=report)


def test_only_the_new_finding_is_new_and_blocks(repo: git.Repo) -> None:
    base = _commit(repo, {"inventory/teams.yaml": TEAMS,
                          "inventory/a.yaml": {"services": [_service("a", dependencies=[{"ref": "ghost"}])]}}, "base")
    _commit(repo, {"inventory/b.yaml": {"services": [_service("b", dependencies=[{"ref": "phantom"}])]}}, "breaks b")
    report = _check(base)
    classes = {(f.rule_id, f.target): f.baseline for f in report.findings if f.rule_id == "ITSCM-028"}
    assert classes == {("ITSCM-028", "a"): "existing", ("ITSCM-028", "b"): "new"}
    assert main(["check", "--inventory", "inventory", "--as-of", "2026-06-30", "--baseline", base]) == 1
    assert main(["check", "--inventory", "inventory", "--as-of", "2026-06-30", "--baseline", "HEAD"]) == 0


def test_moving_reordering_and_rewording_keep_findings_existing(repo: git.Repo) -> None:
    services = [_service("a", tier=2, plans=[{"id": "dr", "type": "disaster-recovery"},
                                             {"id": "bc", "type": "business-continuity"}])]
    base = _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": services}}, "base")
    moved = [{**services[0], "plans": services[0]["plans"][::-1], "description": "moved"}]
    Path("inventory/all.yaml").unlink()
    repo.index.remove(["inventory/all.yaml"])
    _commit(repo, {"inventory/teams.yaml": TEAMS, "inventory/deep/a.yaml": {"x-note": 1, "services": moved}}, "move")
    report = _check(base)
    assert report.findings and all(f.baseline == "existing" for f in report.findings)
    assert report.fixed == ()


def test_a_second_plan_failing_the_same_rule_is_new(repo: git.Repo) -> None:
    one = [_service("a", tier=2, plans=[{"id": "dr", "type": "disaster-recovery"}])]
    base = _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": one}}, "base")
    two = [_service("a", tier=2, plans=[{"id": "dr", "type": "disaster-recovery"}, {"id": "bc", "type": "iscp"}])]
    _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": two}}, "second plan")
    report = _check(base)
    assert sorted(f.baseline for f in report.findings if f.rule_id == "ITSCM-012") == ["existing", "new"]


def test_a_worse_severity_is_new_and_fixed_findings_are_listed(repo: git.Repo) -> None:
    base = _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": [
        _service("a", tier=3), _service("b", dependencies=[{"ref": "ghost"}])]}}, "base")
    _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": [_service("a", tier=1), _service("b")]}}, "worse")
    report = _check(base)
    assert {f.baseline for f in report.findings if f.rule_id == "ITSCM-014" and f.target == "a"} == {"new"}
    assert [(f.rule_id, f.target) for f in report.fixed] == [("ITSCM-028", "b")]
    markdown = render("markdown", report)
    assert f"### Fixed since git ref {base}" in markdown and "<td>ITSCM-028</td><td>b</td>" in markdown


def test_the_working_tree_is_not_touched(repo: git.Repo) -> None:
    base = _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": [_service("a")]}}, "base")
    Path("inventory/all.yaml").write_text(yaml.safe_dump({**TEAMS, "services": [_service("a", tier=1)]}))
    before = Path("inventory/all.yaml").read_bytes()
    _check(base)
    assert Path("inventory/all.yaml").read_bytes() == before and repo.is_dirty()


def test_unknown_ref_and_shallow_clone_say_how_to_fetch(repo: git.Repo, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": [_service("a")]}}, "one")
    _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": [_service("a", tier=3)]}}, "two")
    with pytest.raises(InputErrors) as exc:
        _check("no-such-branch")
    assert "cannot resolve 'no-such-branch': no such commit" in str(exc.value) and "fetch-depth: 0" in str(exc.value)
    clone = tmp_path.parent / f"{tmp_path.name}-shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{tmp_path}", str(clone)], check=True)
    monkeypatch.chdir(clone)
    with pytest.raises(InputErrors) as exc:
        _check("HEAD~1")
    assert "this is a shallow clone without it" in str(exc.value)


@pytest.mark.parametrize("ref", ["@{-1}", "HEAD@{99}", "HEAD@{yesterday}", "HEAD:no-such-path"])
def test_refs_gitpython_cannot_resolve_are_input_errors(repo: git.Repo, ref: str) -> None:
    _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": [_service("a")]}}, "one")
    with pytest.raises(InputErrors) as exc:
        _check(ref)
    assert f"cannot resolve '{ref}'" in str(exc.value)


def test_baseline_from_an_earlier_json_report(repo: git.Repo, tmp_path: Path) -> None:
    _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": [_service("a", dependencies=[{"ref": "x"}])]}}, "b")
    main(["check", "--inventory", "inventory", "--as-of", "2026-06-30", "--format", f"json={tmp_path}/base.json"])
    _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": [
        _service("a", dependencies=[{"ref": "x"}, {"ref": "y"}])]}}, "worse")
    report = _check(report=tmp_path / "base.json")
    assert sorted(f.baseline for f in report.findings if f.rule_id == "ITSCM-028") == ["existing", "new"]
    out = tmp_path / "now.json"
    assert main(["check", "--inventory", "inventory", "--as-of", "2026-06-30", "--baseline-report",
                 str(tmp_path / "base.json"), "--format", f"json={out}"]) == 1
    data = json.loads(out.read_text())
    assert problems(data, "report") == []
    assert data["summary"]["baseline"]["new"] == 1 and {f["baseline"] for f in data["findings"]} == {"new", "existing"}
    (tmp_path / "bad.json").write_text("{}")
    assert main(["check", "--inventory", "inventory", "--baseline-report", str(tmp_path / "bad.json")]) == 2


@pytest.mark.parametrize("damage, expected", [
    (lambda r: r["findings"][0].update(severity="bogus"), "findings[0].severity: 'bogus' is not one of"),
    (lambda r: r["findings"][0].update(fingerprint={}), "findings[0].fingerprint: {} is not of type 'string'"),
    (lambda r: r.update(schema_version=2), "schema_version: 1 was expected"),
    (lambda r: r.pop("findings"), "document: 'findings' is a required property"),
])
def test_a_damaged_baseline_report_is_an_input_error(repo: git.Repo, tmp_path: Path, damage, expected: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": [_service("a", dependencies=[{"ref": "x"}])]}}, "b")
    base = tmp_path / "base.json"
    main(["check", "--inventory", "inventory", "--as-of", "2026-06-30", "--format", f"json={base}"])
    report = json.loads(base.read_text())
    damage(report)
    base.write_text(json.dumps(report))
    capsys.readouterr()
    assert main(["check", "--inventory", "inventory", "--baseline-report", str(base)]) == 2
    assert f"base.json:0: not an itscm-check JSON report: {expected}" in capsys.readouterr().err


def test_a_damaged_baseline_report_is_not_quoted_whole(repo: git.Repo, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": [_service("a")]}}, "b")
    (tmp_path / "big.json").write_text(json.dumps({"schema_version": 1, "findings": "x" * 100_000}))
    assert main(["check", "--inventory", "inventory", "--baseline-report", str(tmp_path / "big.json")]) == 2
    [line] = [line for line in capsys.readouterr().err.splitlines() if "findings:" in line]
    assert len(line) < 500 and line.endswith("' is not of type 'array' (give a report written by itscm-check "
                                             "--format json)")


def test_a_baseline_report_that_is_not_json_is_an_input_error(repo: git.Repo, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": [_service("a")]}}, "b")
    (tmp_path / "deep.json").write_text("[" * 100_000)
    assert main(["check", "--inventory", "inventory", "--baseline-report", str(tmp_path / "deep.json")]) == 2
    assert "deep.json:0: the baseline report is not JSON" in capsys.readouterr().err


def test_the_baseline_reads_unchanged_files_from_the_parse_cache(repo: git.Repo, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from itscm_check.cache import ParseCache

    monkeypatch.setattr(parallel, "forked_cpus", lambda: 1)  # the baseline in this process, to count its reads

    base = _commit(repo, {"inventory/teams.yaml": TEAMS, "inventory/a.yaml": {"services": [_service("a")]}}, "base")
    _commit(repo, {"inventory/a.yaml": {"services": [_service("a", tier=3)]}}, "tier 3")
    parse_cache = ParseCache(tmp_path / "cache")
    run_check([Path("inventory")], [], AS_OF, baseline_ref=base, parse_cache=parse_cache)
    # The working tree's two files and the built-in policy pack miss; at the base, teams.yaml is the
    # same bytes and hits.
    assert (parse_cache.misses, parse_cache.hits) == (4, 1)
    broken = _commit(repo, {"inventory/a.yaml": {"services": [{"id": "a"}]}}, "no name")
    Path("inventory/a.yaml").write_text(yaml.safe_dump({"services": [_service("a")]}), encoding="utf-8")
    with pytest.raises(InputErrors, match=rf"a.yaml@{broken}:2: services\[0\]: missing required key 'name'"):
        run_check([Path("inventory")], [], AS_OF, baseline_ref=broken, parse_cache=parse_cache)


def test_the_baseline_and_the_working_tree_keep_their_records_side_by_side(repo: git.Repo, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The same bytes read under the ref's paths (a.yaml@REF) and the working tree's: a warm run
    builds no records (found by review: each wrote the other's out of the entry on every run)."""
    from itscm_check import model_cache
    from itscm_check.cache import ParseCache

    monkeypatch.setattr(parallel, "forked_cpus", lambda: 1)  # the baseline in this process, to count what it builds
    base = _commit(repo, {"inventory/teams.yaml": TEAMS, "inventory/a.yaml": {"services": [_service("a")]}}, "base")
    built: list[object] = []
    real = model_cache._records

    def spy(checked):  # model_cache's own signature
        built.append(checked)
        return real(checked)
    monkeypatch.setattr(model_cache, "_records", spy)
    for _ in range(2):
        built.clear()
        run_check([Path("inventory")], [], AS_OF, baseline_ref=base, parse_cache=ParseCache(tmp_path / "cache"))
    assert built == []


def test_the_baseline_reads_its_findings_from_the_findings_cache(repo: git.Repo, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from itscm_check import engine
    from itscm_check.cache import ParseCache

    monkeypatch.setattr(parallel, "forked_cpus", lambda: 1)  # the baseline in this process, to see what it skips
    base = _commit(repo, {"inventory/teams.yaml": TEAMS,
                          "inventory/a.yaml": {"services": [_service("a", tier=1, dependencies=[{"ref": "ghost"}])]}},
                   "base")
    _commit(repo, {"inventory/b.yaml": {"services": [_service("b", dependencies=[{"ref": "phantom"}])]}}, "b")
    expected = render("json", _check(base))
    skipped: list[frozenset[str]] = []
    real = engine._declarative

    def spy(rule, kind, subjects, as_of, passing, skip):
        skipped.append(skip)
        return real(rule, kind, subjects, as_of, passing, skip)
    monkeypatch.setattr(engine, "_declarative", spy)
    for _ in range(2):
        skipped.clear()
        report = run_check([Path("inventory")], [], AS_OF, baseline_ref=base, parse_cache=ParseCache(tmp_path / "cache"))
        assert render("json", report) == expected
    # The second run read both evaluations' kept findings back: the base's 'a' (a.yaml@base) too.
    assert frozenset({"a"}) in skipped and frozenset({"a", "b"}) in skipped


def test_a_branch_that_moves_to_other_policies_misses_the_findings_cache(repo: git.Repo, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from itscm_check.cache import ParseCache

    monkeypatch.setattr(parallel, "forked_cpus", lambda: 1)
    inventory = {"inventory/teams.yaml": TEAMS,
                 "inventory/a.yaml": {"services": [_service("a", tier=1, dependencies=[{"ref": "ghost"}])]}}
    policy = {"apiVersion": "itscm/v1", "kind": "Policy", "overrides": [{"rule": "ITSCM-028", "severity": "low"}]}
    low = _commit(repo, {**inventory, "policies/extra.yaml": policy}, "low")
    policy["overrides"][0]["severity"] = "critical"
    critical = _commit(repo, {"policies/extra.yaml": policy}, "critical")
    Path("policies/extra.yaml").write_text(yaml.safe_dump({**policy, "overrides": [{"rule": "ITSCM-028",
                                                                                    "severity": "high"}]}))
    for target in (low, critical):  # the same inventory bytes at 'base', other policies
        repo.git.branch("-f", "base", target)
        cached = run_check([Path("inventory")], [Path("policies")], AS_OF, baseline_ref="base",
                           parse_cache=ParseCache(tmp_path / "cache"))
        fresh = run_check([Path("inventory")], [Path("policies")], AS_OF, baseline_ref="base")
        assert render("json", cached) == render("json", fresh)
    # At 'critical' the high finding is no worse than the base's: existing; at 'low' it was new.
    assert {f.baseline for f in cached.findings if f.rule_id == "ITSCM-028"} == {"existing"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the baseline is forked on Linux only")
def test_the_baseline_evaluated_in_a_child_gives_the_same_report(repo: git.Repo, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    base = _commit(repo, {"inventory/teams.yaml": TEAMS,
                          "inventory/a.yaml": {"services": [_service("a", dependencies=[{"ref": "ghost"}]),
                                                            _service("c", dependencies=[{"ref": "gone"}])]}}, "base")
    _commit(repo, {"inventory/a.yaml": {"services": [_service("a", dependencies=[{"ref": "ghost"}], tier=1)]},
                   "inventory/b.yaml": {"services": [_service("b", dependencies=[{"ref": "phantom"}])]}}, "change")
    parent, findings_at_ref = os.getpid(), pipeline._findings_at_ref

    def only_in_a_child(*args):
        assert os.getpid() != parent, "the baseline was evaluated in this process"
        return findings_at_ref(*args)
    with monkeypatch.context() as m:
        m.setattr(pipeline, "_findings_at_ref", only_in_a_child)
        m.setattr(parallel, "forked_cpus", lambda: 2)
        in_child = render("json", _check(base))
    monkeypatch.setattr(parallel, "forked_cpus", lambda: 1)
    here = render("json", _check(base))

    assert in_child == here
    assert '"fixed": [\n    {' in in_child and '"baseline": "new"' in in_child and '"baseline": "existing"' in in_child


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the baseline is forked on Linux only")
def test_an_input_error_in_the_working_tree_stops_the_baseline_child(repo: git.Repo, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    base = _commit(repo, {"inventory/all.yaml": {**TEAMS, "services": [_service("a")]}}, "base")
    Path("inventory/all.yaml").write_text("services: [{id: a}]\n", encoding="utf-8")  # no name: exit 2
    monkeypatch.setattr(parallel, "forked_cpus", lambda: 2)
    monkeypatch.setattr(pipeline, "_findings_at_ref", lambda *args: starts_a_worker(tmp_path / "pids"))
    monkeypatch.setattr(pipeline, "load_inputs", _after_the_child_started(pipeline.load_inputs, tmp_path / "pids"))
    with pytest.raises(InputErrors, match="missing required key 'name'"):
        _check(base)

    assert gone(child_pids(tmp_path / "pids"))


def _after_the_child_started(load_inputs, pids: Path):
    def wait_then_load(*args, **kwargs):
        child_pids(pids)
        return load_inputs(*args, **kwargs)
    return wait_then_load


def test_a_waived_finding_the_base_had_is_existing_and_the_verdict_says_why_it_passes(repo: git.Repo) -> None:
    waiver = {"rule": "ITSCM-028", "target": "a", "reason": "r", "approved_by": "CISO", "expires": "2026-12-31"}
    base = _commit(repo, {"inventory/all.yaml": {**TEAMS, "waivers": [waiver], "services": [
        _service("a", dependencies=[{"ref": "ghost"}]), _service("b", tier=1)]}}, "base")
    _commit(repo, {"inventory/all.yaml": {**TEAMS, "waivers": [waiver], "services": [
        _service("a", dependencies=[{"ref": "ghost"}]), _service("b", tier=1, owner=None)]}}, "no owner")
    report = _check(base)
    [waived] = [f for f in report.findings if f.status == "waived"]
    assert waived.baseline == "existing"  # not a new alert in code scanning on every pull request
    assert {f.baseline for f in report.failed if f.rule_id == "ITSCM-001"} == {"new"}
    report = run_check([Path("inventory")], [], AS_OF, baseline_ref=base, fail_on="critical")
    # Existing high and critical findings are not "below critical": they pass because they are not new.
    assert f"passed with {len(report.failed)} failed finding(s), none of them new at or above critical" in \
        render("markdown", report)


def test_an_inventory_inside_a_dot_folder_is_read_at_the_baseline_too(repo: git.Repo) -> None:
    base = _commit(repo, {".itscm/inventory/all.yaml": {**TEAMS, "services": [
        _service("a", dependencies=[{"ref": "ghost"}])]}}, "base")
    report = run_check([Path(".itscm/inventory")], [], AS_OF, baseline_ref=base)
    assert report.failed and {f.baseline for f in report.findings} == {"existing"} and not report.fixed
