"""Baselines: classify findings as new or existing against a git ref or an earlier JSON report.

A failed finding is existing only when the baseline had the same fingerprint failing (not waived)
at the same or a higher severity: a baseline can never hide a problem that is new or got worse. A
waived finding is existing when the baseline had it too, failing or waived.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, NamedTuple

from itscm_check.errors import InputError, InputErrors, Location
from itscm_check.findings import EXISTING, FAILED, NEW, Finding
from itscm_check.loader import Document, display_path, load_text
from itscm_check.policy.model import SEVERITY_RANK

if TYPE_CHECKING:
    from itscm_check.cache import ParseCache
    from itscm_check.inventory import Inventory
    from itscm_check.model_cache import PartKeys
    from itscm_check.policy.model import Rule
    from itscm_check.report import Report

_FETCH_HINT = ("fetch it first, e.g. `git fetch origin <branch>`; in GitHub Actions use "
               "actions/checkout with `fetch-depth: 0`")


@dataclass(frozen=True)
class Baseline:
    label: str
    findings: tuple[Finding, ...]


def with_baseline(report: Report, baseline: Baseline) -> Report:
    """The report with every finding classified and the baseline's vanished findings listed as fixed."""
    from itscm_check.report import sort_findings

    worst_failed: dict[str, int] = {}
    worst: dict[str, int] = {}  # failed or waived
    for old in baseline.findings:
        rank = SEVERITY_RANK[old.severity]
        worst[old.fingerprint] = min(worst.get(old.fingerprint, 99), rank)
        if old.status == FAILED:
            worst_failed[old.fingerprint] = min(worst_failed.get(old.fingerprint, 99), rank)
    current = {f.fingerprint for f in report.findings}
    classified = []
    for finding in report.findings:
        before = (worst_failed if finding.status == FAILED else worst).get(finding.fingerprint, 99)
        classified.append(replace(finding, baseline=EXISTING if SEVERITY_RANK[finding.severity] >= before else NEW))
    fixed = [f for f in baseline.findings if f.status == FAILED and f.fingerprint not in current]
    return replace(report, findings=sort_findings(classified), baseline=baseline.label, fixed=sort_findings(fixed))


def from_report_file(path: Path) -> Baseline:
    """The findings of an earlier ``--format json`` report."""
    from itscm_check.schema import problems

    where = Location(display_path(path), 0)
    hint = "give a report written by itscm-check --format json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputErrors([InputError(where, f"cannot read the baseline report: {exc.strerror}")]) from None
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InputErrors([InputError(where, f"the baseline report is not JSON: {exc}", hint)]) from None
    found = problems(data, "report")
    if found:
        raise InputErrors([InputError(where, f"not an itscm-check JSON report: {problem}", hint)
                           for problem in found])
    findings = tuple(Finding(rule_id=f["rule_id"], severity=f["severity"], target=f["target"],
                             message=f["message"], location=Location(f["location"]["path"], f["location"]["line"]),
                             controls=tuple(f["controls"]), fingerprint=f["fingerprint"], status=f["status"])
                     for f in data["findings"])
    return Baseline(f"report {display_path(path)}", findings)


class AtRef(NamedTuple):
    """The inventory and rules as they are at a git ref, and what names their findings' entries in
    the findings cache."""

    inventory: Inventory
    rules: list[Rule]
    parts: PartKeys | None  # the file part of each service and vendor; None when read as documents
    policy_digests: list[bytes]  # the sha256 of each policy file, in the order its rules apply


def load_at_ref(ref: str, inventory_paths: Sequence[Path], policy_paths: Sequence[Path],
                waiver_files: Sequence[Path], parse_cache: ParseCache | None = None) -> AtRef:
    """The inventory and rules as they are at ``ref``, read from git objects (the working tree is untouched).

    Inventory files go through the parse cache: most are the same bytes as in the working tree.
    """
    from itscm_check.assemble import assemble
    from itscm_check.cache import check_sources
    from itscm_check.loader import find_yaml_files
    from itscm_check.model_cache import cached_inventory
    from itscm_check.policy.loading import builtin_pack_dir, rules_from_documents

    commit, root = _commit(ref)
    inventory_sources = _sources(commit, root, [*inventory_paths, *waiver_files], ref, set())
    by_parts = cached_inventory(inventory_sources, parse_cache)
    inventory_docs: list[Document] = []
    errors: list[InputError] = []
    if by_parts is None:  # an input error, which the documents tell
        inventory_docs, errors, _ = check_sources(inventory_sources, "inventory", parse_cache)
    policy_docs = []
    # The built-in pack as installed: a copy of one of its files at the ref is not loaded twice.
    pack_digests = [hashlib.sha256(path.read_bytes()).digest() for path in find_yaml_files(builtin_pack_dir())[0]]
    policy_sources = _sources(commit, root, policy_paths, ref, {digest.hex() for digest in pack_digests})
    for shown, content in policy_sources:
        try:
            docs, errs = load_text(content.decode("utf-8-sig"), shown)
        except UnicodeDecodeError:
            docs, errs = [], [InputError(Location(shown, 0), "file is not UTF-8 text", "save the file as UTF-8")]
        policy_docs += docs
        errors += errs
    if errors:
        raise InputErrors(errors)
    # The pack, then the policy files at the ref, as rules_from_documents applies them.
    policy_digests = pack_digests + [hashlib.sha256(content).digest() for _, content in policy_sources]
    if by_parts is None:
        return AtRef(assemble(inventory_docs), rules_from_documents(policy_docs), None, policy_digests)
    return AtRef(by_parts[0], rules_from_documents(policy_docs), by_parts[1], policy_digests)


def _commit(ref: str):  # noqa: ANN202 - a git.Commit; gitpython is imported only when a baseline is asked for
    where = Location("--baseline", 0)
    try:
        import git
    except ImportError as exc:
        raise InputErrors([InputError(where, f"--baseline needs git: {exc}", "use --baseline-report FILE")]) from None
    try:
        repo = git.Repo(Path.cwd(), search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise InputErrors([InputError(where, "not in a git repository",
                                      "run inside the repository, or use --baseline-report FILE")]) from None
    try:
        commit = repo.commit(ref)
        commit.tree  # noqa: B018 - reads the object now: a shallow clone may name a parent it does not have
        return commit, Path(repo.working_tree_dir or ".")
    # gitpython's rev-parse raises what it meets on the way: IndexError for `@{-1}` or `HEAD@{99}`,
    # NotImplementedError for `HEAD@{yesterday}`, KeyError for `HEAD:no-such-path`.
    except (IndexError, KeyError, NotImplementedError):
        raise InputErrors([InputError(where, f"cannot resolve '{ref}': this form of revision is not supported here",
                                      "name a commit, a branch or a tag")]) from None
    except (git.BadName, git.BadObject, ValueError, git.GitCommandError):
        shallow = (Path(repo.git_dir) / "shallow").exists()
        why = "this is a shallow clone without it" if shallow else "no such commit, branch or tag"
        raise InputErrors([InputError(where, f"cannot resolve '{ref}': {why}", _FETCH_HINT)]) from None


def _sources(commit, root: Path, paths: Sequence[Path], ref: str,  # noqa: ANN001 - a git.Commit
             skip: set[str]) -> list[tuple[str, bytes]]:
    """Shown path and content of the YAML files under ``paths`` at ``commit``, each once, less those
    whose digest is in ``skip``; as in the working tree, dot-names are skipped below each path."""
    sources: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for path in paths:
        try:
            relative = PurePosixPath(Path(path).resolve().relative_to(root.resolve()).as_posix())
        except ValueError:
            raise InputErrors([InputError(Location(display_path(path), 0), "is outside the git repository",
                                          "a baseline can only read files of the repository")]) from None
        try:
            item = commit.tree / str(relative) if str(relative) != "." else commit.tree
        except KeyError:
            continue  # not there at the baseline: an empty inventory or policy set
        blobs = [item] if item.type == "blob" else sorted(
            (b for b in item.traverse() if b.type == "blob"), key=lambda b: b.path)
        for blob in blobs:
            parts = PurePosixPath(blob.path).relative_to(PurePosixPath(item.path)).parts
            if blob is not item and (not blob.path.endswith((".yaml", ".yml")) or any(p.startswith(".") for p in parts)):
                continue
            if blob.path in seen:
                continue
            seen.add(blob.path)
            data = blob.data_stream.read()
            if hashlib.sha256(data).hexdigest() not in skip:
                sources.append((f"{display_path(root / blob.path)}@{ref}", data))
    return sources
