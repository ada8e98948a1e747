"""The pipeline: load, validate, build the model, load rules, evaluate, apply waivers, report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from itscm_check import __version__
from itscm_check.assemble import assemble
from itscm_check.engine import evaluate
from itscm_check.errors import InputError, InputErrors, Location
from itscm_check.inventory import Inventory
from itscm_check.loader import display_path, find_yaml_files, load_files
from itscm_check.policy.loading import load_rules, policy_files
from itscm_check.policy.model import Rule
from itscm_check.provenance import Provenance, digest, git_state
from itscm_check.report import Report, build_report
from itscm_check.schema import validate
from itscm_check.waivers import apply_waivers


def inventory_files(paths: Sequence[Path]) -> tuple[list[Path], list[InputError]]:
    files: list[Path] = []
    errors: list[InputError] = []
    for path in paths:
        found, errs = find_yaml_files(path)
        files += found
        errors += errs
    return files, errors


def load_inventory(paths: Sequence[Path]) -> Inventory:
    """The merged inventory, or InputErrors listing every problem of every file."""
    files, errors = inventory_files(paths)
    documents, errs = load_files(files)
    errors += errs
    for document in documents:
        errors += validate(document, "inventory")
    if errors:
        raise InputErrors(errors)
    return assemble(documents)


def load_inputs(inventory_paths: Sequence[Path], policy_paths: Sequence[Path]) -> tuple[Inventory, list[Rule]]:
    """Inventory and rules, reporting the input errors of both together."""
    errors: list[InputError] = []
    inventory = rules = None
    try:
        inventory = load_inventory(inventory_paths)
    except InputErrors as exc:
        errors += exc.errors
    try:
        rules = load_rules(policy_paths)
    except InputErrors as exc:
        errors += exc.errors
    if errors or inventory is None or rules is None:
        raise InputErrors(errors)
    return inventory, rules


def run_check(inventory_paths: Sequence[Path], policy_paths: Sequence[Path], as_of: dt.date,
              generated_at: dt.datetime | None = None, fail_on: str = "high") -> Report:
    """The whole pipeline; ``generated_at`` (default: the as-of date at midnight UTC) is only reported."""
    inventory, rules = load_inputs(inventory_paths, policy_paths)
    root = Location(display_path(inventory_paths[0]) if inventory_paths else ".", 0)
    evaluation = evaluate(inventory, rules, as_of, root)
    findings = apply_waivers(list(evaluation.findings), inventory.waivers, as_of)
    provenance = Provenance(
        tool_version=__version__, as_of=as_of,
        generated_at=generated_at or dt.datetime.combine(as_of, dt.time(), dt.timezone.utc),
        git=git_state(inventory_paths[0] if inventory_paths else Path.cwd()),
        inventory_digest=digest(inventory_files(inventory_paths)[0]),
        policies_digest=digest(policy_files(policy_paths)[0]))
    return build_report(provenance, inventory, rules, findings, evaluation.results, fail_on)
