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
    (tmp_path / "a.yaml").write_text("services: [{id: x, name: X}]\n")
    assert git_state(tmp_path).dirty
