"""Provenance: what a report was computed from (commit, dirty flag, digests of the inputs)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from itscm_check.loader import display_path

if TYPE_CHECKING:
    import git


@dataclass(frozen=True)
class GitState:
    commit: str
    dirty: bool
    branch: str | None  # None on a detached head
    remote_url: str | None  # origin, as an https URL when it can be written as one
    # The repository's top folder: report paths are relative to the working directory, code
    # scanning wants them relative to this.
    root: str | None = None

    def repo_path(self, path: str) -> str:
        """A report path (relative to the working directory) relative to the repository's root."""
        if self.root is None:
            return path
        try:
            return Path(os.path.relpath(os.path.realpath(path), self.root)).as_posix()
        except ValueError:  # on another drive (Windows): no relative path exists
            return path


@dataclass(frozen=True)
class Provenance:
    tool_version: str
    as_of: dt.date
    # None unless SOURCE_DATE_EPOCH gives one: a wall-clock time would make two runs differ.
    generated_at: dt.datetime | None
    git: GitState | None  # None: not in a git repository (a tarball, a plain folder)
    inventory_digest: str
    policies_digest: str

    @property
    def source_text(self) -> str:
        if self.git is None:
            return "not a git repository"
        state = "inputs with uncommitted changes" if self.git.dirty else "clean"
        return f"git commit {self.git.commit} ({state})"


def digest(files: Iterable[Path], content_digests: Mapping[Path, bytes] | None = None,
           name: Callable[[Path], str] = display_path) -> str:
    """One sha256 over every file's name and content, in name order.

    ``content_digests`` holds the sha256 of files already read, so they are not read again.
    """
    known = content_digests or {}
    total = hashlib.sha256()
    for path in sorted(files, key=name):
        total.update(name(path).encode() + b"\0")
        total.update(known[path] if path in known else hashlib.sha256(path.read_bytes()).digest())
    return total.hexdigest()


def git_state(where: Path, inputs: Sequence[Path] = ()) -> GitState | None:
    """The repository around ``where``, or None when there is none (or git itself is missing).

    It is dirty when one of ``inputs`` (inventory, policies, waivers, config file) in the repository
    (or, with none given, anything in it) has changes that are not committed, untracked files
    included: what the report was computed from differs from the commit. Other files, such as the
    reports of an earlier run, do not count.
    """
    try:
        import git  # gitpython needs the git executable: without it there is no git provenance
    except ImportError:
        return None
    try:
        repo = git.Repo(where, search_parent_directories=True)
        commit = repo.head.commit.hexsha  # ValueError in a repository without commits
        root = os.path.realpath(repo.working_tree_dir) if repo.working_tree_dir else None
        dirty = _dirty(repo, root, inputs)
        branch = None if repo.head.is_detached else repo.active_branch.name
        remote = _https(repo.remotes.origin.url) if "origin" in [r.name for r in repo.remotes] else None
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError, ValueError, OSError):
        return None
    return GitState(commit, dirty, branch, remote, root)


def _dirty(repo: git.Repo, root: str | None, inputs: Sequence[Path]) -> bool:
    if not inputs or root is None:
        return repo.is_dirty(untracked_files=True)
    # An input outside the repository is not part of its state.
    inside = [os.path.relpath(real, root) for real in map(os.path.realpath, inputs)
              if os.path.commonpath([real, root]) == root]
    return bool(inside) and bool(repo.git.status("--porcelain", "--", *inside))


def _https(url: str) -> str | None:
    if url.startswith("https://"):
        return url.removesuffix(".git")
    if url.startswith("git@") and ":" in url:
        host, _, path = url[len("git@"):].partition(":")
        return f"https://{host}/{path.removesuffix('.git')}"
    return None
