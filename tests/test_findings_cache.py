"""The findings cache: a warm run reports exactly what a run without a cache reports, reading the
findings of rules that read one service (and what its dependencies name) on unchanged file parts
back instead of evaluating them."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
import yaml

from itscm_check import engine, findings_cache
from itscm_check.cache import ParseCache
from itscm_check.errors import Location
from itscm_check.formatters import render
from itscm_check.model_cache import PartKeys
from itscm_check.pipeline import findings_of, run_check
from itscm_check.policy.loading import load_rules
from itscm_check.policy.names import INVENTORY, NEIGHBOURS, SERVICE, reach

REPO = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 6, 30)
OVERRIDE = """\
apiVersion: itscm/v1
kind: Policy
overrides:
  - rule: ITSCM-003
    severity: {when: {path: dependencies, any_item: {path: hard, equals: true}}, then: critical, else: low}
  - rule: ITSCM-015
    severity: info
"""


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "inventory", tmp_path / "inventory")
    return tmp_path / "inventory"


@pytest.fixture
def evaluated(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, frozenset[str]]]:
    """Each declarative rule's id and the services it skipped, as the engine was asked."""
    calls: list[tuple[str, frozenset[str]]] = []
    real = engine._declarative

    def spy(rule, kind, subjects, as_of, passing, skip):  # the engine's own signature
        calls.append((rule.id, skip))
        return real(rule, kind, subjects, as_of, passing, skip)

    monkeypatch.setattr(engine, "_declarative", spy)
    return calls


def _json(inventory: Path, cache: Path | None, policies: tuple[Path, ...] = (), as_of: dt.date = AS_OF,
          passing: bool = False) -> str:
    report = run_check([inventory], list(policies), as_of, parse_cache=ParseCache(cache) if cache else None,
                       passing=passing)
    return render("json", report)


def test_a_warm_run_reads_the_kept_findings_and_reports_the_same(
        inventory: Path, tmp_path: Path, evaluated: list[tuple[str, frozenset[str]]]) -> None:
    expected = _json(inventory, None)
    assert _json(inventory, tmp_path / "cache") == expected  # cold: evaluates and stores
    services = {call[1] for call in evaluated}
    assert services == {frozenset()}
    evaluated.clear()
    assert _json(inventory, tmp_path / "cache") == expected
    skipped = dict(evaluated)
    assert skipped["ITSCM-003"] and skipped["ITSCM-003"] == skipped["ITSCM-017"]  # every service's part
    assert skipped["ITSCM-021"] == skipped["ITSCM-028"] == skipped["ITSCM-031"] == skipped["ITSCM-003"]
    assert skipped["ITSCM-008"] == frozenset()  # a team's rule: teams are not kept


# What a dependency names changes in another file: auth-service (identity.yaml) becomes tier 4, so
# the tier 2 services of customer.yaml that hard-depend on it have a tier inversion (ITSCM-031);
# sms-gateway (vendors.yaml), which customer.yaml's notifications depends on, is renamed, so that
# ref dangles (ITSCM-028); event-bus is renamed, and a new service takes its old id.
NEIGHBOUR_CHANGES = {
    "target": ("services/identity.yaml", "id: auth-service", "tier: 1", "tier: 4"),
    "vendor": ("vendors.yaml", "id: sms-gateway", "id: sms-gateway", "id: sms-gateway-2"),
    "new definition": ("services/data-platform.yaml", "id: event-bus", "id: event-bus", "id: event-bus-2"),
}


@pytest.mark.parametrize("change", sorted(NEIGHBOUR_CHANGES))
def test_a_change_to_what_a_dependency_names_misses_in_the_files_that_name_it(
        inventory: Path, tmp_path: Path, change: str, evaluated: list[tuple[str, frozenset[str]]]) -> None:
    _json(inventory, tmp_path / "cache")
    name, anchor, old, new = NEIGHBOUR_CHANGES[change]
    path = inventory / name
    text = path.read_text()
    at = text.index(anchor)
    path.write_text(text[:at] + text[at:].replace(old, new, 1), encoding="utf-8")
    if change == "new definition":  # the old id is defined again, in another file
        (inventory / "services" / "extra.yaml").write_text(
            "apiVersion: itscm/v1\nservices:\n  - {id: event-bus, name: Event bus, tier: 4, owner: payments}\n", encoding="utf-8")
    expected = _json(inventory, None)
    evaluated.clear()
    assert _json(inventory, tmp_path / "cache") == expected
    skipped = dict(evaluated)
    customer = {service["id"] for service in yaml.safe_load((inventory / "services" / "customer.yaml").read_text())["services"]}
    assert skipped["ITSCM-031"] and not customer & skipped["ITSCM-031"]  # other files' were read back
    assert customer <= skipped["ITSCM-003"]  # its own part did not change
    evaluated.clear()
    assert _json(inventory, tmp_path / "cache") == expected
    again = dict(evaluated)  # its entry was written again with both reaches' findings
    assert customer <= again["ITSCM-031"] and customer <= again["ITSCM-003"]


def test_a_changed_file_is_evaluated_again_and_the_rest_read_back(
        inventory: Path, tmp_path: Path, evaluated: list[tuple[str, frozenset[str]]]) -> None:
    _json(inventory, tmp_path / "cache")
    changed = next(path for path in sorted(inventory.rglob("*.yaml")) if "tier: 1" in path.read_text())
    changed.write_text(changed.read_text().replace("tier: 1", "tier: 2", 1), encoding="utf-8")
    expected = _json(inventory, None)
    evaluated.clear()
    assert _json(inventory, tmp_path / "cache") == expected
    skipped = dict(evaluated)["ITSCM-003"]
    assert skipped and not any(sid in changed.read_text() for sid in skipped)


@pytest.mark.parametrize("change", ["sites", "as_of", "policy"])
def test_what_a_finding_reads_beyond_its_file_misses(inventory: Path, tmp_path: Path, change: str) -> None:
    _json(inventory, tmp_path / "cache")
    policies: tuple[Path, ...] = ()
    as_of = AS_OF
    if change == "sites":  # a service's sites are defined in another file: all in one failure domain now
        sites = inventory / "sites.yaml"
        sites.write_text(re.sub(r"failure_domain: [\w-]+", "failure_domain: one", sites.read_text()), encoding="utf-8")
    elif change == "as_of":
        as_of = AS_OF + dt.timedelta(days=200)
    else:
        (tmp_path / "override.yaml").write_text(OVERRIDE, encoding="utf-8")
        policies = (tmp_path / "override.yaml",)
    assert _json(inventory, tmp_path / "cache", policies, as_of) == _json(inventory, None, policies, as_of)


def test_a_service_whose_id_looks_like_a_vendor_ref_is_kept_with_its_own_file(inventory: Path, tmp_path: Path) -> None:
    odd = inventory / "services" / "odd.yaml"
    odd.write_text('apiVersion: itscm/v1\nservices:\n  - {id: "vendor:sms-gateway", name: Odd id, tier: 4, '
                   'owner: payments}\n', encoding="utf-8")
    _json(inventory, tmp_path / "cache")
    odd.write_text(odd.read_text().replace("tier: 4", "tier: 1"), encoding="utf-8")
    expected = _json(inventory, None)
    assert '"target": "vendor:sms-gateway"' in expected
    assert _json(inventory, tmp_path / "cache") == expected


@pytest.mark.parametrize(("when", "kept"), [
    ("{path: dependencies, any_item: {path: hard, equals: true}}", True),  # NEIGHBOURS, from SERVICE
    ("{path: dependencies, any_item: {path: target.dependencies, present: true}}", False),  # two hops
])
def test_a_severity_read_from_dependencies_widens_a_rules_reach(
        inventory: Path, tmp_path: Path, evaluated: list[tuple[str, frozenset[str]]], when: str, kept: bool) -> None:
    (tmp_path / "override.yaml").write_text(OVERRIDE.replace("{path: dependencies, any_item: {path: hard, equals: true}}",
                                                             when), encoding="utf-8")
    expected = _json(inventory, None, (tmp_path / "override.yaml",))
    evaluated.clear()
    for _ in range(2):
        assert _json(inventory, tmp_path / "cache", (tmp_path / "override.yaml",)) == expected
    skipped = dict(evaluated)
    assert skipped["ITSCM-015"]
    assert skipped["ITSCM-003"] == (skipped["ITSCM-028"] if kept else frozenset())
    rule = next(rule for rule in load_rules([tmp_path / "override.yaml"]) if rule.id == "ITSCM-003")
    assert rule.reach == (NEIGHBOURS if kept else INVENTORY)


def test_passing_checks_are_kept_too(inventory: Path, tmp_path: Path,
                                     evaluated: list[tuple[str, frozenset[str]]]) -> None:
    expected = run_check([inventory], [], AS_OF, passing=True)
    for _ in range(2):  # cold, then warm
        evaluated.clear()
        report = run_check([inventory], [], AS_OF, parse_cache=ParseCache(tmp_path / "cache"), passing=True)
        assert report.results is not None and expected.results is not None
        assert sorted(report.results) == sorted(expected.results)
        assert render("junit", report) == render("junit", expected)
    assert dict(evaluated)["ITSCM-003"]  # read back
    with pytest.raises(ValueError):  # entries of a run with passing checks, for one without
        findings_of(report.inventory, list(report.rules), AS_OF, Location("inventory", 0), 365, False,
                    findings_cache.reuse(ParseCache(tmp_path / "cache"), PartKeys({}, {}, {}), (), report.inventory, AS_OF,
                                         True))
    # A run without passing checks has entries of its own: it finds no checks it did not keep.
    assert _json(inventory, tmp_path / "cache") == _json(inventory, None)
    changed = inventory / "services" / "identity.yaml"
    changed.write_text(changed.read_text().replace("tier: 1", "tier: 3", 1), encoding="utf-8")
    expected = run_check([inventory], [], AS_OF, passing=True)
    report = run_check([inventory], [], AS_OF, parse_cache=ParseCache(tmp_path / "cache"), passing=True)
    assert render("junit", report) == render("junit", expected)


def test_a_damaged_entry_is_ignored_and_rewritten(inventory: Path, tmp_path: Path) -> None:
    expected = _json(inventory, tmp_path / "cache")
    entry = max((tmp_path / "cache").iterdir(), key=lambda path: path.stat().st_mtime_ns)  # written last
    intact = entry.read_bytes()
    entry.write_bytes(intact[:-1] + b"\xc1")
    assert _json(inventory, tmp_path / "cache") == expected
    assert entry.read_bytes() == intact  # written again as it was


def test_a_file_changed_back_is_read_back(inventory: Path, tmp_path: Path,
                                          evaluated: list[tuple[str, frozenset[str]]]) -> None:
    """The entry keeps the sections of the file as it was before a change, which a change back reads."""
    changed = inventory / "services" / "identity.yaml"
    before = changed.read_text(encoding="utf-8")
    for text in (before, before.replace("tier: 1", "tier: 3", 1), before):
        changed.write_text(text, encoding="utf-8")
        evaluated.clear()
        report = run_check([inventory], [], AS_OF, parse_cache=ParseCache(tmp_path / "cache"), passing=False)
    assert dict(evaluated)["ITSCM-003"] == frozenset(service.id for service in report.inventory.services)


def test_one_entry_holds_the_findings_of_every_part_of_a_run(inventory: Path, tmp_path: Path) -> None:
    cache = ParseCache(tmp_path / "cache")
    report = run_check([inventory], [], AS_OF, parse_cache=cache, passing=False)
    sections = [findings_cache.decode_records(findings_cache._ENTRY, cache.get(path.name))
                for path in (tmp_path / "cache").iterdir() if len(path.name) == 64]
    [entry] = [section for section in sections if section is not None]
    files = {service.source.path for service in report.inventory.services}
    assert len(files) > 1 and len(entry) == len(files)  # a section a part: one document a file here


def test_runs_of_other_inventories_keep_their_findings_apart(
        inventory: Path, tmp_path: Path, evaluated: list[tuple[str, frozenset[str]]]) -> None:
    """Another inventory with the same sites and policies (here its services file, with the
    teams, sites and vendors of the example) does not take the place of the first one's findings."""
    (tmp_path / "other.yaml").write_text((inventory / "services" / "internal.yaml").read_text(encoding="utf-8"),
                                         encoding="utf-8")
    other = [inventory / "teams.yaml", inventory / "sites.yaml", inventory / "vendors.yaml", tmp_path / "other.yaml"]
    for paths in ([inventory], other, [inventory]):
        evaluated.clear()
        report = run_check(paths, [], AS_OF, parse_cache=ParseCache(tmp_path / "cache"), passing=False)
    everything = frozenset(service.id for service in report.inventory.services)
    assert dict(evaluated)["ITSCM-003"] == everything  # the first inventory's run read all of its findings back


@pytest.mark.parametrize(("subjects", "logic", "expected"), [
    (("service",), {"fail_when": {"path": "objectives.rto", "present": False}}, SERVICE),
    (("plan", "exercise"), {"fail_when": {"path": "exercises", "any_item": {"path": "result", "equals": "fail"}}}, SERVICE),
    (("service",), {"fail_when": {"path": "tier", "present": False, "message": "{dependencies}"}}, NEIGHBOURS),
    (("service",), {"where": {"path": "plans", "any_item": {"path": "dependencies", "present": True}}}, NEIGHBOURS),
    (("service",), {"severity": {"when": {"path": "dependencies", "present": True}}}, NEIGHBOURS),
    (("dependency",), {"fail_when": {"path": "ref", "present": False}}, NEIGHBOURS),
    (("edge",), {"fail_when": {"path": "target.objectives.rto", "present": False, "message": "{source.tier}"}},
     NEIGHBOURS),
    # A dependency's target's own dependencies are a further hop.
    (("service",), {"fail_when": {"path": "dependencies", "any_item": {"path": "target.dependencies",
                                                                        "present": True}}}, INVENTORY),
    (("edge",), {"fail_when": {"path": "tier", "present": False, "message": "{target.dependencies}"}}, INVENTORY),
    (("dependency",), {"fail_when": {"path": "service.dependencies", "present": True}}, INVENTORY),
    # Inside a label's list the model types nothing: a name there can fall back to the service's view.
    (("service",), {"fail_when": {"path": "labels.peers", "any_item": {"path": "index.services.b.tier",
                                                                        "equals": 1}}}, INVENTORY),
    (("service",), {"fail_when": {"path": "labels.peers", "any_item": {"path": "__class__", "present": True}}}, INVENTORY),
    # Where a record is written moves with what is written above it.
    (("service",), {"fail_when": {"path": "source.line", "gt": 100}}, INVENTORY),
    (("exercise",), {"fail_when": {"path": "result", "equals": "fail", "message": "line {source.line}"}}, INVENTORY),
    (("dependency",), {"fail_when": {"path": "source", "lt": {"path": "target.source"}}}, INVENTORY),
    (("service",), {"fail_when": {"path": "source.path", "equals": "a.yaml"}}, SERVICE),
    (("team",), {"fail_when": {"path": "id", "present": False}}, INVENTORY),
    (("vendor",), {"fail_when": {"path": "id", "present": False}}, INVENTORY),
])
def test_a_rules_reach_is_what_its_subjects_and_names_reach(subjects: tuple[str, ...], logic: dict,
                                                           expected: str) -> None:
    assert reach(logic, subjects) == expected


def test_the_views_of_a_service_reach_other_records_only_by_the_names_the_reach_reads() -> None:
    """A new fact or attribute of a view a service's subjects see must be added here, and read by
    names.reach when it reads other records (the findings cache would keep findings that depend
    on them)."""
    from itscm_check.facts import DependencyView, EdgeView, Index, ServiceView
    from itscm_check.inventory import Dependency, Service
    from itscm_check.pipeline import load_inventory
    from itscm_check.subjects import Subjects

    index = Index(load_inventory([REPO / "inventory"]))
    view = next(view for view in index.services.values() if view.dependencies)
    facts = {name for name in vars(ServiceView) if not name.startswith("_")}
    # Besides its record's fields and the facts read so far, a view holds its record and the index
    # (read: INVENTORY).
    assert set(vars(view)) - set(Service.__struct_fields__) - facts == {"record", "index"}
    assert facts == {"effective_tier", "dependencies", "plans", "exercises", "latest_exercise_date",
                     "latest_exercises", "shortest_backup_frequency"}
    # A dependency's: its service (its own), and what it names, which NEIGHBOURS keys on.
    dependency = view.dependencies[0]
    assert set(vars(dependency)) - set(Dependency.__struct_fields__) == {"record", "service", "occurrence"}
    assert {name for name in vars(DependencyView) if not name.startswith("_")} == {"hard", "vendor", "target",
                                                                                   "resolved"}
    [edge] = [subject.scope.record for subject in Subjects(index, Location("inventory", 0)).of("edge")][:1]
    assert isinstance(edge, EdgeView) and set(vars(edge)) == {"source", "target", "dependency", "ref"}
    assert {name for name in vars(EdgeView) if not name.startswith("_")} == {"tier_gap"}


def test_the_order_of_policy_files_is_part_of_the_key(inventory: Path, tmp_path: Path) -> None:
    # Both override ITSCM-002, which fails once on the example inventory: the file loaded last wins.
    for name, severity in (("a.yaml", "critical"), ("b.yaml", "low")):
        (tmp_path / name).write_text(f"apiVersion: itscm/v1\nkind: Policy\noverrides:\n"
                                     f"  - {{rule: ITSCM-002, severity: {severity}}}\n", encoding="utf-8")
    for order in (("a.yaml", "b.yaml"), ("b.yaml", "a.yaml")):
        policies = tuple(tmp_path / name for name in order)
        assert _json(inventory, tmp_path / "cache", policies) == _json(inventory, None, policies)
