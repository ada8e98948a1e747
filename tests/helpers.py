"""Shared test helpers: run the real pipeline on an inventory written to a temporary file."""

from __future__ import annotations

import datetime as dt
import functools
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from itscm_check import __version__
from itscm_check.engine import evaluate
from itscm_check.errors import Location
from itscm_check.pipeline import load_inventory
from itscm_check.policy.loading import load_rules
from itscm_check.policy.model import Rule
from itscm_check.provenance import Provenance
from itscm_check.report import Report, build_report
from itscm_check.waivers import apply_waivers

DEFAULT_AS_OF = dt.date(2026, 6, 30)


@functools.cache
def default_rules() -> tuple[Rule, ...]:
    return tuple(load_rules())


def write_inventory(folder: Path, document: dict[str, Any] | str, name: str = "inventory.yaml") -> Path:
    path = folder / name
    text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def check(folder: Path, document: dict[str, Any] | str, as_of: dt.date = DEFAULT_AS_OF) -> Report:
    """Load, validate, evaluate with the default pack, apply waivers: the pipeline minus the CLI."""
    path = write_inventory(folder, document)
    inventory = load_inventory([path])
    rules = list(default_rules())
    evaluation = evaluate(inventory, rules, as_of, Location(str(path), 0))
    findings = apply_waivers(list(evaluation.findings), inventory.waivers, as_of)
    provenance = Provenance(__version__, as_of, dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), None, "0" * 64, "0" * 64)
    return build_report(provenance, inventory, rules, findings, evaluation.results)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie that init has yet to reap is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def starts_a_worker(pids: Path) -> None:
    """In the child: start a process of its own that it stops on the way out, as the parse and
    rule workers are stopped, say both pids, and wait to be stopped."""
    worker = subprocess.Popen(["sleep", "60"])
    try:
        pids.write_text(f"{os.getpid()} {worker.pid}")
        time.sleep(60)
    finally:
        worker.kill()
        worker.wait()


def child_pids(path: Path) -> list[int]:
    """The pids that a child running ``starts_a_worker`` wrote: its own and its worker's."""
    deadline = time.monotonic() + 10
    while not path.exists() or len(path.read_text().split()) < 2:
        assert time.monotonic() < deadline, "the child did not start"
        time.sleep(0.01)
    return [int(pid) for pid in path.read_text().split()]


def gone(pids: list[int]) -> bool:
    """Whether every process of ``pids`` stops within a few seconds."""
    deadline = time.monotonic() + 5
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not any(_running(pid) for pid in pids)
