"""Provenance: the git state when there is one, "not a git repository" otherwise, never a failure."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import git
import pytest

from itscm_check.pipeline import run_check
from itscm_check.provenance import git_state


def test_outside_git_provenance_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory").mkdir()
    report = run_check([Path("inventory")], [], dt.date(2026, 6, 30))
    assert report.provenance.git is None and report.provenance.source_text == "not a git repository"
    assert len(report.provenance.inventory_digest) == 64


def test_a_repository_without_commits_is_no_provenance(tmp_path: Path) -> None:
    git.Repo.init(tmp_path)
    assert git_state(tmp_path) is None


def test_commit_dirty_flag_and_https_remote(tmp_path: Path) -> None:
    repo = git.Repo.init(tmp_path, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "T").set_value("user", "email", "t@example.org")
    (tmp_path / "a.yaml").write_text("services: []\n")
    repo.index.add(["a.yaml"])
    sha = repo.index.commit("one").hexsha
    repo.create_remote("origin", "git@github.com:acme/continuity.git")
    state = git_state(tmp_path)
    assert state is not None and (state.commit, state.dirty, state.branch) == (sha, False, "main")
    assert state.remote_url == "https://github.com/acme/continuity"
    # A report left by an earlier run is no change to the inputs; a change to an input is.
    (tmp_path / "itscm-report.html").write_text("<html></html>")
    assert not git_state(tmp_path, [tmp_path / "a.yaml"]).dirty and git_state(tmp_path).dirty
    (tmp_path / "b.yaml").write_text("services: []\n")  # untracked, but an input when its folder is
    assert git_state(tmp_path, [tmp_path]).dirty and not git_state(tmp_path, [tmp_path / "a.yaml"]).dirty
    (tmp_path / "a.yaml").write_text("services: [{id: x, name: X}]\n")
    assert git_state(tmp_path, [tmp_path / "a.yaml", Path("/nonexistent/outside")]).dirty


def test_sarif_paths_are_relative_to_the_repository_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from itscm_check.cli import main

    top = tmp_path / "repo"
    repo = git.Repo.init(top, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "T").set_value("user", "email", "t@example.org")
    (top / "continuity").mkdir()
    (top / "continuity" / "inv.yaml").write_text("services: [{id: a, name: A, tier: 4}]\n")
    repo.index.add(["continuity/inv.yaml"])
    repo.index.commit("one")
    (tmp_path / "outside").mkdir()
    for where, inventory in ((top / "continuity", "inv.yaml"), (tmp_path / "outside", "../repo/continuity/inv.yaml")):
        monkeypatch.chdir(where)
        main(["check", "--inventory", inventory, "--as-of", "2026-06-30", "--format", "sarif=out.sarif"])
        results = json.loads((where / "out.sarif").read_text())["runs"][0]["results"]
        assert results and {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results} == {
            "continuity/inv.yaml"}, where


def test_the_policies_digest_does_not_depend_on_where_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "inv.yaml").write_text("services: []\n")
    (tmp_path / "deeper").mkdir()
    digests = set()
    for where, inventory in ((tmp_path, "inv.yaml"), (tmp_path / "deeper", "../inv.yaml")):
        monkeypatch.chdir(where)
        digests.add(run_check([Path(inventory)], [], dt.date(2026, 6, 30)).provenance.policies_digest)
    assert len(digests) == 1


def test_a_changed_config_file_is_an_uncommitted_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from itscm_check.cli import main

    monkeypatch.chdir(tmp_path)
    repo = git.Repo.init(tmp_path, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "T").set_value("user", "email", "t@example.org")
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "a.yaml").write_text("services: []\n")
    (tmp_path / ".itscm-check.yaml").write_text("fail_on: high\n")
    repo.index.add(["inventory/a.yaml", ".itscm-check.yaml"])
    repo.index.commit("one")

    def dirty() -> bool:
        assert main(["check", "--as-of", "2026-06-30", "--format", "html", "--no-cache"]) == 0
        return "inputs (inventory, policies, waivers, config) had uncommitted changes" in capsys.readouterr().out

    (tmp_path / "report.html").write_text("an earlier run's report, not an input")
    assert dirty() is False
    (tmp_path / ".itscm-check.yaml").write_text("fail_on: never\n")  # it decides what fails the build
    assert dirty() is True
