"""The pipeline: load, validate, build the model, load rules, evaluate, apply waivers, report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import NamedTuple

from itscm_check import __version__
from itscm_check.assemble import assemble, reference_errors
from itscm_check.baseline import Baseline, from_report_file, load_at_ref, with_baseline
from itscm_check.cache import ParseCache, load_checked, read_files
from itscm_check.engine import evaluate
from itscm_check.errors import InputError, InputErrors, Location
from itscm_check.findings import CheckResult, Finding
from itscm_check.findings_cache import Reuse, reuse
from itscm_check.inventory import Inventory
from itscm_check.loader import Document, display_path, find_all_yaml_files
from itscm_check.model_cache import PartKeys
from itscm_check.parallel import Forked
from itscm_check.policy.loading import load_rules, policy_name
from itscm_check.policy.model import Rule
from itscm_check.provenance import Provenance, digest, git_state
from itscm_check.report import Report, build_report
from itscm_check.schema import load_schema
from itscm_check.waivers import apply_waivers


def load_inventory(paths: Sequence[Path], waiver_files: Sequence[Path] = (),
                   parse_cache: ParseCache | None = None) -> Inventory:
    """The merged inventory, or InputErrors listing every problem of every file."""
    return read_inventory(paths, waiver_files, parse_cache).inventory


class Inputs(NamedTuple):
    """What a check reads: the inventory, the rules and what identifies what it read."""

    inventory: Inventory
    rules: list[Rule]
    inventory_digest: str
    parts: PartKeys | None  # the file part of each service and vendor (None when read as whole documents)
    policy_digests: dict[Path, bytes]  # each policy file's sha256, in the order its rules were applied


class InventoryRead(NamedTuple):
    inventory: Inventory
    digest: str
    parts: PartKeys | None  # as in Inputs


def read_inventory(paths: Sequence[Path], waiver_files: Sequence[Path],
                    parse_cache: ParseCache | None) -> InventoryRead:
    """The inventory, the digest of its files and the file part of each service and vendor (see Inputs),
    each file read once when it is valid (see _read_by_parts)."""
    seen: set[str] = set()
    files, missing = find_all_yaml_files(paths, seen=seen)
    # A --waivers file that is an inventory file too is read once, as an inventory file.
    waiver_files, missing_waivers = find_all_yaml_files(waiver_files, "--waivers", seen)
    if not (missing or missing_waivers):
        by_parts = _read_by_parts(files, waiver_files, parse_cache)
        if by_parts is not None:
            return by_parts
    inventory = load_checked(files, "inventory", parse_cache)
    waivers = load_checked(waiver_files, "inventory", parse_cache)
    documents = inventory.documents + waivers.documents
    errors = missing + missing_waivers + inventory.errors + waivers.errors
    errors += [e for doc in waivers.documents for e in only_waivers(doc)]
    if errors:
        # Duplicates and dangling references too, so that one run lists every problem; but no
        # dangling ones when a file is missing or did not parse, as its definitions are unknown
        # (a duplicate key's second value, which the document leaves out, may define one).
        complete = not (missing or missing_waivers) and inventory.complete and waivers.complete
        raise InputErrors(errors + reference_errors(documents, dangling=complete))
    content_digests = {**inventory.content_digests, **waivers.content_digests}
    return InventoryRead(assemble(documents), digest([*files, *waiver_files], content_digests), None)


def _read_by_parts(files: list[Path], waiver_files: list[Path], parse_cache: ParseCache | None
                   ) -> InventoryRead | None:
    """The inventory and its digest built part by part through the model cache (see model_cache),
    or None when the input has an error, which the whole documents' path reports. Waiver files are
    always read as documents: only_waivers checks them."""
    from itscm_check.model_cache import cached_inventory

    waivers = load_checked(waiver_files, "inventory", parse_cache)
    if waivers.errors or any(only_waivers(document) for document in waivers.documents):
        return None
    errors: list[InputError] = []
    digests: dict[Path, bytes] = {}
    by_parts = cached_inventory(read_files(files, errors, digests), parse_cache, waivers.documents)
    if by_parts is None or errors:
        return None
    return InventoryRead(by_parts[0], digest([*files, *waiver_files], {**digests, **waivers.content_digests}),
                         by_parts[1])


def only_waivers(document: Document) -> list[InputError]:
    """A --waivers file holds waivers (and apiVersion, metadata), nothing else."""
    if not isinstance(document.data, dict):
        return []  # validation reports it
    # Keys no inventory file may have are reported by validation already: only the blocks that
    # belong in other inventory files are reported here.
    blocks = load_schema("inventory")["properties"]
    return [InputError(document.location((key,)), f"unexpected key '{key}' in a waivers file",
                       "a --waivers file holds only waivers:, apiVersion and metadata")
            for key in document.data if key in blocks and key not in ("apiVersion", "metadata", "waivers")]


def load_inputs(inventory_paths: Sequence[Path], policy_paths: Sequence[Path],
                waiver_files: Sequence[Path] = (), parse_cache: ParseCache | None = None) -> Inputs:
    """Inventory, rules, what identifies them (the inventory's digest, each service's and vendor's file part,
    each policy file's digest), reporting the input errors of both together."""
    errors: list[InputError] = []
    read = rules = None
    policy_digests: dict[Path, bytes] = {}
    try:
        read = read_inventory(inventory_paths, waiver_files, parse_cache)
    except InputErrors as exc:
        errors += exc.errors
    try:
        rules = load_rules(policy_paths, parse_cache, policy_digests)
    except InputErrors as exc:
        errors += exc.errors
    if errors or read is None or rules is None:
        raise InputErrors(errors)
    return Inputs(read.inventory, rules, read.digest, read.parts, policy_digests)


def findings_of(inventory: Inventory, rules: list[Rule], as_of: dt.date, root: Location, max_waiver_days: int,
                passing: bool = False, reuse: Reuse | None = None
                ) -> tuple[list[Finding], tuple[CheckResult, ...] | None]:
    """Evaluate and apply waivers: the findings of one inventory, and with ``passing`` every check.
    With ``reuse``, the findings (and checks) of rules that read little of the inventory on
    unchanged file parts are read back from the findings cache, not evaluated."""
    if reuse is not None and reuse.passing != passing:  # its entries would hold other checks than the run makes
        raise ValueError("the findings cache of a run must be set up with the run's own passing")
    stored: list[Finding] = []
    stored_results: list[CheckResult] = []
    covered: dict[str, frozenset[str]] = {}  # per reach, the services whose findings were read back
    if reuse is not None:
        stored, stored_results, covered = reuse.read()
    evaluation = evaluate(inventory, rules, as_of, root, passing, covered)
    if reuse is not None:
        reuse.write(evaluation, {rule.id: rule.reach for rule in rules}, covered)
    findings = apply_waivers(stored + list(evaluation.findings), inventory.waivers, as_of, max_waiver_days)
    results = (*stored_results, *evaluation.results) if evaluation.results is not None else None
    return findings, results


def run_check(inventory_paths: Sequence[Path], policy_paths: Sequence[Path], as_of: dt.date, *,
              waiver_files: Sequence[Path] = (), fail_on: str = "high", generated_at: dt.datetime | None = None,
              max_waiver_days: int = 365, warn_expiring_days: int = 30, baseline_ref: str | None = None,
              baseline_report: Path | None = None, parse_cache: ParseCache | None = None,
              config_file: Path | None = None, passing: bool = True) -> Report:
    """The whole pipeline; ``generated_at`` (SOURCE_DATE_EPOCH's time, or None) is only reported.
    Without ``passing`` the report has no passing checks (``results`` is None)."""
    root = Location(display_path(inventory_paths[0]) if inventory_paths else ".", 0)
    # A forked child loads and evaluates the baseline while this process does the working tree
    # (most files are the same bytes in both: with a warm parse cache, each reads them from it).
    at_ref = Forked(partial(_findings_at_ref, baseline_ref, inventory_paths, policy_paths, waiver_files,
                            parse_cache, as_of, root, max_waiver_days)) if baseline_ref is not None else None
    # The commit and dirty state too: importing gitpython and asking git cost a tenth of a second,
    # while loading a warm inventory leaves the second CPU idle.
    repository = Forked(partial(git_state, inventory_paths[0] if inventory_paths else Path.cwd(),
                                [*inventory_paths, *policy_paths, *waiver_files, *([config_file] if config_file else [])]))
    try:
        inventory, rules, inventory_digest, parts, policy_digests = load_inputs(inventory_paths, policy_paths,
                                                                                waiver_files, parse_cache)
        findings, results = findings_of(inventory, rules, as_of, root, max_waiver_days, passing,
                                        reuse(parse_cache, parts, policy_digests.values(), inventory, as_of, passing,
                                              _scope(inventory_paths)))
        baseline = None
        if at_ref is not None:
            baseline = Baseline(f"git ref {baseline_ref}", tuple(at_ref.result()))
        elif baseline_report is not None:
            baseline = from_report_file(baseline_report)
        git = repository.result()
    finally:
        for child in (at_ref, repository):
            if child is not None:  # this process raised before it asked for the result
                child.cancel()
    provenance = Provenance(tool_version=__version__, as_of=as_of, generated_at=generated_at, git=git,
                            inventory_digest=inventory_digest,
                            policies_digest=digest(policy_digests, policy_digests, name=policy_name))
    report = build_report(provenance, inventory, rules, findings, results, fail_on, warn_expiring_days)
    return with_baseline(report, baseline) if baseline is not None else report


def _findings_at_ref(ref: str, inventory_paths: Sequence[Path], policy_paths: Sequence[Path],
                     waiver_files: Sequence[Path], parse_cache: ParseCache | None, as_of: dt.date, root: Location,
                     max_waiver_days: int) -> list[Finding]:
    """The findings of the inventory and policies as they are at the git ref ``ref``."""
    base = load_at_ref(ref, inventory_paths, policy_paths, waiver_files, parse_cache)
    return findings_of(base.inventory, base.rules, as_of, root, max_waiver_days,
                       reuse=reuse(parse_cache, base.parts, base.policy_digests, base.inventory, as_of,
                                   scope=f"{_scope(inventory_paths)}\0at a git ref"))[0]


def _scope(inventory_paths: Sequence[Path]) -> str:
    """What a run checks, as the findings cache names its entry (findings_cache.reuse)."""
    return "\0".join(display_path(path) for path in inventory_paths)
