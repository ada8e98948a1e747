"""Random edits to the example inventory, one after another, each followed by a run that reads and
writes the findings cache: it must report exactly what a run without a cache reports. The edits
are the ones that reach across files (a target's tier or lifecycle, a dependency added or dropped,
a vendor renamed, a site's failure domain, a service moved to another file), where a stale entry
would hide. Seeded: a failure names the seed and the edits that led to it."""

from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from itscm_check.cache import ParseCache
from itscm_check.errors import InputErrors
from itscm_check.formatters import render
from itscm_check.pipeline import run_check

REPO = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 6, 30)
EDITS_PER_SEED = 8


def _outcome(inventory: Path, cache: Path | None, passing: bool) -> str:
    try:
        report = run_check([inventory], [], AS_OF, parse_cache=ParseCache(cache) if cache else None, passing=passing)
    except InputErrors as exc:  # an edit may break the inventory: both runs must then say the same
        return f"input errors: {exc.errors}"
    return render("junit" if passing else "json", report)


def _edit(rng: random.Random, inventory: Path) -> str:
    """One random edit, written back to the files it changed; what it did. Most edits change a
    record that services of other files name or use: a stale entry would show there."""
    docs = {path: yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(inventory.rglob("*.yaml"))}
    service_files = [path for path, doc in docs.items() if doc.get("services")]
    services = [(path, service) for path in service_files for service in docs[path]["services"]]
    vendors = [vendor for doc in docs.values() for vendor in doc.get("vendors") or ()]
    sites = [site for doc in docs.values() for site in doc.get("sites") or ()]
    named = {dep["ref"] for _, service in services for dep in service.get("dependencies") or ()}
    targets = [(path, service) for path, service in services if service["id"] in named] or services
    kind = rng.choice(["target tier", "target lifecycle", "target rto", "add dependency", "drop dependency",
                       "rename vendor", "define ghost", "failure domain", "move"])
    path, service = rng.choice(targets if kind.startswith("target") else services)
    changed = {path}
    if kind == "target tier":
        service["tier"] = rng.choice([1, 4])
    elif kind == "target lifecycle":
        service["lifecycle"] = "deprecated" if service.get("lifecycle", "production") == "production" else "production"
    elif kind == "target rto":
        service.setdefault("objectives", {})["rto"] = rng.choice(["15m", "24h"])
    elif kind == "add dependency":
        refs = [s["id"] for _, s in services] + [f"vendor:{v['id']}" for v in vendors] + ["ghost", "vendor:ghost"]
        service.setdefault("dependencies", []).append({"ref": rng.choice(refs)})
    elif kind == "drop dependency" and service.get("dependencies"):
        service["dependencies"].pop(rng.randrange(len(service["dependencies"])))
    elif kind == "rename vendor":  # its consumers' refs dangle, or a dangling vendor:ghost resolves
        vendor = next((v for v in vendors if v["id"] == "ghost"), None) or rng.choice(vendors)
        vendor["id"] = f"renamed-{rng.randrange(10**6)}" if vendor["id"] == "ghost" else "ghost"
        changed = {p for p, doc in docs.items() if vendor in (doc.get("vendors") or ())}
    elif kind == "define ghost":  # a service appears under, or leaves, the refs to 'ghost'
        ghosts = [(p, s) for p, s in services if s["id"] == "ghost"]
        if ghosts:
            docs[ghosts[0][0]]["services"].remove(ghosts[0][1])
            changed = {ghosts[0][0]}
        else:
            docs[path]["services"].append({"id": "ghost", "name": "Ghost", "tier": 4, "owner": service["owner"]})
    elif kind == "failure domain":  # a site joins another's failure domain: alternates may share it now
        site = rng.choice(sites)
        site["failure_domain"] = rng.choice([s["failure_domain"] for s in sites if s is not site])
        changed = {p for p, doc in docs.items() if site in (doc.get("sites") or ())}
    elif kind == "move":
        other = rng.choice(service_files)
        docs[path]["services"].remove(service)
        docs[other]["services"].append(service)
        changed.add(other)
    for changed_path in changed:
        document: Any = docs[changed_path]
        changed_path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return f"{kind} ({service['id']})"


@pytest.mark.parametrize("passing", [False, True], ids=["json", "junit"])
@pytest.mark.parametrize("seed", range(3))
def test_a_cached_run_after_random_edits_reports_what_a_fresh_run_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     seed: int, passing: bool, parse_path: str) -> None:
    if parse_path == "pyyaml":
        pytest.skip("the findings cache keys on records, whichever path parsed them; test_findings_cache runs on both")
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "inventory", tmp_path / "inventory")
    inventory, cache = tmp_path / "inventory", tmp_path / "cache"
    _outcome(inventory, cache, passing)
    rng = random.Random(seed)
    done = []
    for _ in range(EDITS_PER_SEED):
        done.append(_edit(rng, inventory))
        assert _outcome(inventory, cache, passing) == _outcome(inventory, None, passing), f"seed {seed}: {done}"
