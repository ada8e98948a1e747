"""Custom policy files: new rules, overrides of the default pack, malformed policies (exit 2 with file:line)."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from helpers import write_inventory
from itscm_check.cache import ParseCache
from itscm_check.errors import InputErrors
from itscm_check.pipeline import run_check
from itscm_check.policy import codegen
from itscm_check.policy.loading import builtin_pack_dir, load_rules, logic_text

INVENTORY = {
    "teams": [{"id": "t", "name": "T"}],
    "services": [
        {"id": "api", "name": "API", "tier": 2, "owner": "t", "labels": {"pci": True}},
        {"id": "tool", "name": "Tool", "tier": 4, "owner": "t"},
    ],
}


def _policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "team-policy.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _findings(tmp_path: Path, policy: Path, rule_id: str) -> list[tuple[str, str, str]]:
    inventory = write_inventory(tmp_path, INVENTORY)
    report = run_check([inventory], [policy], dt.date(2026, 6, 30))
    return [(f.target, f.severity, f.message) for f in report.findings if f.rule_id == rule_id]


def test_a_platform_team_adds_a_rule(tmp_path: Path) -> None:
    policy = _policy(tmp_path, """\
        apiVersion: itscm/v1
        kind: Policy
        metadata: {name: acme}
        rules:
          - id: ACME-001
            title: PCI services are tier 1
            description: Card data services must be tier 1.
            remediation: Raise the tier.
            severity: high
            controls: [PCI-DSS:12.10]
            subject: service
            where: {path: labels.pci, equals: true}
            fail_when: {path: tier, gt: 1, message: "PCI service declared tier {tier}"}
        """)
    assert _findings(tmp_path, policy, "ACME-001") == [("api", "high", "PCI service declared tier 2")]


def test_tiers_written_as_whole_floats_are_those_tiers(tmp_path: Path) -> None:
    policy = _policy(tmp_path, """\
        rules:
          - id: ACME-003
            title: t
            description: d
            remediation: r
            severity: low
            subject: service
            tiers: [1.0, 2.0]
            fail_when: {path: owner, present: false}
        """)
    [rule] = [rule for rule in load_rules([policy]) if rule.id == "ACME-003"]
    assert rule.tiers == {1, 2} and all(type(tier) is int for tier in rule.tiers)


@pytest.mark.parametrize("inlined", [codegen._INLINED_NAMES, 1000])
def test_a_path_of_a_hundred_names_is_evaluated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inlined: int) -> None:
    # Written out name by name, such a path nests deeper than Python parses ("too many nested
    # parentheses"): it is read with Scope.resolve, and were it written out (inlined=1000), the
    # condition's closures would decide alone.
    monkeypatch.setattr(codegen, "_INLINED_NAMES", inlined)
    deep = ".".join(["labels"] + ["a"] * 100)
    policy = _policy(tmp_path, f"""\
        rules:
          - id: ACME-002
            title: Deep label
            description: d
            remediation: r
            severity: low
            subject: service
            where: {{path: {deep}, present: false}}
            fail_when: {{path: {deep}, present: false, message: no deep label}}
        """)
    assert _findings(tmp_path, policy, "ACME-002") == [("api", "low", "no deep label"), ("tool", "low", "no deep label")]


def test_overrides_change_parameters_severity_and_enabled_state(tmp_path: Path) -> None:
    policy = _policy(tmp_path, """\
        overrides:
          - rule: ITSCM-014
            severity: low
          - rule: ITSCM-007
            params: {rto_ceiling: {type: duration, by_tier: {2: 1h}}}
          - rule: ITSCM-002
            enabled: false
        """)
    INVENTORY["services"][0]["objectives"] = {"rto": "2h", "rpo": "1h"}
    try:
        assert _findings(tmp_path, policy, "ITSCM-014") == [("api", "low", "no exercise recorded in any plan")]
        assert _findings(tmp_path, policy, "ITSCM-007") == [("api", "medium", "rto 2h is above the tier ceiling 1h")]
    finally:
        del INVENTORY["services"][0]["objectives"]
    rules = {r.id: r for r in load_rules([policy])}
    assert not rules["ITSCM-002"].enabled
    assert rules["ITSCM-007"].params_for(1)["rto_ceiling"] == 4 * 3600  # tiers not overridden keep their value
    assert rules["ITSCM-007"].param_text["rto_ceiling"] == "T1: 4h, T2: 1h, T3: 3d"  # as `explain` shows it
    # explain still names where the rule is defined, and then the overrides.
    assert rules["ITSCM-007"].source.path.endswith("itscm-default.yaml")
    assert [(Path(at.path).name, at.line) for at in rules["ITSCM-007"].overridden_at] == [("team-policy.yaml", 4)]


@pytest.mark.parametrize("text, expected", [
    ("rules:\n  - id: X\n    title: t\n", "team-policy.yaml:2: rules[0]: missing required key 'description'"),
    ("rules:\n  - {id: X, title: t, description: d, remediation: r, severity: severe, subject: service,"
     " fail_when: {path: tier, present: false}}\n", "team-policy.yaml:2: rules[0].severity"),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    fail_when: {path: tier, bogus: 1}\n", "team-policy.yaml:8: rules[0].fail_when: unknown key 'bogus'"),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    fail_when:\n      path: tier\n      gt: 1\n      lt: 3\n",
     "team-policy.yaml:8: rules[0].fail_when: a condition takes 'path' and exactly one of"),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    check: no-such-check\n", "team-policy.yaml:8: rules[0].check: unknown check 'no-such-check'"),
    ("rules:\n  - id: ITSCM-001\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    fail_when: {path: tier, present: false}\n",
     "team-policy.yaml:2: rule ITSCM-001 is already defined at"),
    ("overrides:\n  - rule: ITSCM-404\n", "team-policy.yaml:2: override of unknown rule ITSCM-404"),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    fail_when: {path: objectives.rtoo, gt: 4h}\n",
     "team-policy.yaml:8: rules[0].fail_when.path: 'objectives' has no 'rtoo' (it has: mtpd, rpo, rto, rto_plus_wrt, wrt)"),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    fail_when: {path: teir, gt: 1}\n",
     "team-policy.yaml:8: rules[0].fail_when.path: a service has no 'teir' (it has: backups, bia, "),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    fail_when: {path: tier, gt: 1, message: 'tier {teir}'}\n",
     "team-policy.yaml:8: rules[0].fail_when.message: placeholder {teir}: a service has no 'teir'"),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    fail_when: {path: plans.id, equals: dr}\n",
     "team-policy.yaml:8: rules[0].fail_when.path: 'plans' is a list: read its entries with any_item, no_item, all_items or count"),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    fail_when: {path: objectives, any_item: {path: rto, present: true}}\n",
     "team-policy.yaml:8: rules[0].fail_when.path: 'objectives' is not a list: any_item reads the entries of a list"),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    fail_when: {path: plans, any_item: {path: exercises, any_item: {path: reslt, equals: pass}}}\n",
     "team-policy.yaml:8: rules[0].fail_when.any_item.any_item.path: a service has no 'reslt'"),
    ("rules:\n  - {id: X, title: t, description: d, remediation: r, severity: urgent, subject: service,"
     " fail_when: {path: tier, present: false}}\n",
     "team-policy.yaml:2: rules[0].severity: 'urgent' is not one of critical, high, medium, low, info"),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n"
     "    severity: {when: {path: tier, eq: 1}, then: high, else: low}\n"
     "    subject: service\n    fail_when: {path: tier, present: false}\n",
     "team-policy.yaml:6: rules[0].severity.when: unknown key 'eq'"),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    fail_when: {path: tier, in: 3}\n",
     "team-policy.yaml:8: rules[0].fail_when.in: 'in' takes a list of values"),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    fail_when: {path: tier, gt: {param: nosuch}}\n",
     "team-policy.yaml:8: rules[0].fail_when.gt: rule X has no parameter 'nosuch'; it has: none"),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    fail_when: {path: tier, gt: {param: [x]}}\n",
     "team-policy.yaml:8: rules[0].fail_when.gt: a parameter is named by text, {param: NAME}, not ['x']"),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: team\n    check: rto-inversion\n",
     "team-policy.yaml:7: rules[0].subject: check rto-inversion reports on service; write subject: service"),
    ("rules:\n  - id: X\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: [service, vendor]\n    check: concentration\n",
     "team-policy.yaml:2: rules[0]: check concentration needs the parameter min_consumers under params:"),
    ("rules:\n  - id: ITSCM-900\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    fail_when: {path: tier, present: false}\n",
     "team-policy.yaml:2: rule id ITSCM-900: ITSCM- ids belong to the default pack"),
    ("rules:\n  - id: itscm-001\n    title: t\n    description: d\n    remediation: r\n    severity: high\n"
     "    subject: service\n    fail_when: {path: tier, present: false}\n",
     "team-policy.yaml:2: rule itscm-001 differs only in case from rule ITSCM-001"),
    ("overrides:\n  - rule: ITSCM-014\n    params: {max_age_days: '30'}\n",
     "team-policy.yaml:3: overrides[0].params.max_age_days: parameter: '30' is not a whole number"),
    ("overrides:\n  - rule: ITSCM-007\n    params: {rto_ceiling: 4}\n",
     "team-policy.yaml:3: overrides[0].params.rto_ceiling: parameter: '4' is not a duration: a bare number"),
    ("overrides:\n  - rule: ITSCM-014\n    params: {max_age_days: {type: duration, value: 4h}}\n",
     "team-policy.yaml:3: overrides[0].params.max_age_days.type: parameter 'max_age_days' of rule ITSCM-014 is of "
     "type days, not duration"),
    ("overrides:\n  - rule: ITSCM-014\n    params: {max_days: 3}\n", "team-policy.yaml:3: overrides[0].params.max_days: rule ITSCM-014 has no parameter 'max_days'"),
    ("overrides:\n  - rule: ITSCM-032\n    severity: {when: {path: critical_consumr, equals: true}, then: critical, else: low}\n",
     "team-policy.yaml:3: overrides[0].severity.when.path: a vendor has no 'critical_consumr'"),
    ("overrides:\n  - rule: ITSCM-032\n    severity: {when: {path: id, in: {param: nope}}, then: critical, else: low}\n",
     "team-policy.yaml:3: overrides[0].severity.when.in: rule ITSCM-032 has no parameter 'nope'"),
    ("rules:\n  - {id: X, title: t, description: d, remediation: r, severity: {by_tier: {1: high}}, tiers: [1, 2],"
     " subject: service, fail_when: {path: tier, present: false}}\n",
     "team-policy.yaml:2: rules[0].severity: severity by_tier has no value for tier 2; add it or a default"),
    # Vendors and the programme have no tier: tiers and by_tier would make a rule that never fails there.
    ("rules:\n  - {id: X, title: t, description: d, remediation: r, severity: high, subject: vendor, tiers: [1],"
     " fail_when: {path: exit_plan, present: false}}\n",
     "team-policy.yaml:2: rules[0].tiers: a vendor has no tier: tiers: would leave every vendor out"),
    ("rules:\n  - {id: X, title: t, description: d, remediation: r, severity: {by_tier: {1: high, default: low}},"
     " subject: programme, fail_when: {path: programme, present: false}}\n",
     "team-policy.yaml:2: rules[0].severity: a programme has no tier: by_tier would always give its default"),
    ("overrides:\n  - rule: ITSCM-032\n    severity: {by_tier: {1: critical, default: low}}\n",
     "team-policy.yaml:3: overrides[0].severity: a vendor has no tier: by_tier would always give its default"),
    # What a condition compares must fit the type of its path, or the rule would silently never fail.
    *((f"rules:\n  - {{id: X, title: t, description: d, remediation: r, severity: high, {rule}}}\n",
       f"team-policy.yaml:2: rules[0].fail_when.{why}") for rule, why in [
        ("subject: service, fail_when: {path: sites.primary, equals: dc1}",
         "equals: 'sites.primary' is a record (a site), not a value: compare 'sites.primary.id'"),
        ("subject: dependency, fail_when: {path: target, in: [b]}",
         "in: 'target' is a record (a service), not a value: compare 'target.id'"),
        ("subject: plan, fail_when: {path: stored_copies, contains_any: [dc1]}",
         "contains_any: the entries of 'stored_copies' are records (a site): compare their ids with"),
        ("subject: exercise, fail_when: {path: scenarios, equals: ransomware}",
         "equals: 'scenarios' is a list: compare its entries with contains_any"),
        ("subject: service, fail_when: {path: sites.strategy, contains_any: [none]}",
         "contains_any: 'sites.strategy' is not a list: contains_any compares the entries of a list; use in"),
        ("subject: service, fail_when: {path: tier, older_than: 3}", "path: 'tier' is not a date"),
        ("subject: service, fail_when: {path: bia.completed_on, older_than: 30d}",
         "older_than: older_than takes a number of days, not '30d'"),
        ("subject: service, params: {age: {type: duration, value: 30d}}, "
         "fail_when: {path: bia.completed_on, within: {param: age}}",
         "within: within counts days: parameter 'age' is of type duration; declare it days"),
        ("subject: service, fail_when: {path: objectives.rto, gt: banana}",
         "gt: 'objectives.rto' is a duration: 'banana' is not a duration"),
        ("subject: service, fail_when: {path: objectives.rto, in: [4h, 4]}",
         "in: 'objectives.rto' is a duration: '4' is not a duration: a bare number has no unit"),
        ("subject: service, params: {n: {type: days, value: 3}}, fail_when: {path: objectives.rto, gt: {param: n}}",
         "gt: 'objectives.rto' is a duration: parameter 'n' of type days cannot be compared with it"),
        ("subject: service, fail_when: {path: tier, gt: high}", "gt: 'tier' is a whole number: 'high' is not a whole number"),
        ("subject: service, fail_when: {path: bia.completed_on, equals: 2026-02-30}",
         "equals: 'bia.completed_on' is a date: '2026-02-30' is not a valid date"),
        ("subject: service, fail_when: {path: stateful, equals: 'yes'}",
         "equals: 'stateful' is true or false: 'yes' is not true or false"),
    ]),
])
def test_malformed_policy_is_an_input_error_with_file_and_line(tmp_path: Path, text: str, expected: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    policy = _policy(tmp_path, text)
    with pytest.raises(InputErrors) as exc:
        load_rules([Path(policy.name)])
    assert any(str(e).startswith(expected) for e in exc.value.errors), exc.value.errors


def test_one_run_lists_the_problems_of_every_rule_and_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A schema error in one rule does not hide a misspelt name in the next, or a bad override.
    monkeypatch.chdir(tmp_path)
    policy = _policy(tmp_path, """\
        rules:
          - {id: ACME-1, title: t, description: d, remediation: r, severity: urgent, subject: service,
             fail_when: {path: tier, present: false}}
          - {id: ACME-2, title: t, description: d, remediation: r, severity: high, subject: service,
             fail_when: {path: teir, present: false}}
          - [not, a, rule]
        overrides:
          - {rule: ACME-1, severity: low}
          - {rule: ITSCM-014, params: {max_days: 3}}
          - {rule: ITSCM-015, enabled: maybe}
        """)
    for parse_cache in (None, ParseCache(tmp_path / "cache"), ParseCache(tmp_path / "cache")):  # cold, then warm
        with pytest.raises(InputErrors) as exc:
            load_rules([Path(policy.name)], parse_cache)
        assert [str(e).split(": ")[0:2] for e in exc.value.errors] == [
            ["team-policy.yaml:2", "rules[0].severity"],
            ["team-policy.yaml:5", "rules[1].fail_when.path"],
            ["team-policy.yaml:6", "rules[2]"],
            ["team-policy.yaml:9", "overrides[1].params.max_days"],
            ["team-policy.yaml:10", "overrides[2].enabled"]]


def test_every_problem_of_one_message_or_operand_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    policy = _policy(tmp_path, """\
        rules:
          - {id: ACME-1, title: t, description: d, remediation: r, severity: high, subject: [service, vendor],
             fail_when: {path: id, present: true, message: "{servce.id}, {tier} and {nme}"}}
          - {id: ACME-2, title: t, description: d, remediation: r, severity: high, subject: service,
             fail_when: {path: tier, in: [1, high, true]}}
        """)
    with pytest.raises(InputErrors) as exc:
        load_rules([Path(policy.name)])
    # {tier} is a service's, and a rule over services and vendors may read it: it is not listed.
    assert [str(e).split(" (it has")[0] for e in exc.value.errors] == [
        "team-policy.yaml:3: rules[0].fail_when.message: placeholder {nme}: a service has no 'nme'",
        "team-policy.yaml:3: rules[0].fail_when.message: placeholder {servce.id}: a service has no 'servce'",
        "team-policy.yaml:5: rules[1].fail_when.in: 'tier' is a whole number: 'high' is not a whole number",
        "team-policy.yaml:5: rules[1].fail_when.in: 'tier' is a whole number: True is not a whole number"]


def test_the_repository_policies_folder_is_the_builtin_pack_loaded_once() -> None:
    repo_policies = Path(__file__).parents[1] / "policies"
    assert len(load_rules([repo_policies])) == len(load_rules()) == 36
    assert builtin_pack_dir().is_dir()


def test_placeholders_naming_records_show_ids_never_a_repr(tmp_path: Path) -> None:
    policy = _policy(tmp_path, """\
        rules:
          - id: ACME-002
            title: t
            description: d
            remediation: r
            severity: low
            subject: vendor
            fail_when: {path: consumers, present: true, message: "used by {consumers}"}
          - id: ACME-003
            title: t
            description: d
            remediation: r
            severity: low
            subject: service
            where: {path: id, equals: api}
            fail_when: {path: tier, present: true, message: "{sites.primary}; {objectives}; {labels}; {owner}"}
        """)
    inventory = write_inventory(tmp_path, {
        **INVENTORY,
        "sites": [{"id": "dc1", "failure_domain": "east"}],
        "vendors": [{"id": "cloud", "name": "Cloud"}],
        "services": [{**INVENTORY["services"][0], "sites": {"primary": "dc1"}, "objectives": {"rto": "4h"},
                      "dependencies": [{"ref": "vendor:cloud"}]},
                     {"id": "web", "name": "Web", "tier": 1, "owner": "t", "dependencies": [{"ref": "vendor:cloud"}]}],
    })
    messages = sorted(f.message for f in run_check([inventory], [policy], dt.date(2026, 6, 30)).findings
                      if f.rule_id.startswith("ACME"))
    assert messages == ["dc1; (objectives); pci: true; t", "used by api, web"]


def test_an_override_may_change_a_rule_of_a_file_found_after_it(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "a-overrides.yaml").write_text("overrides:\n  - rule: ACME-001\n    severity: low\n", encoding="utf-8")
    (folder / "z-rules.yaml").write_text(textwrap.dedent("""\
        rules:
          - id: ACME-001
            title: t
            description: d
            remediation: r
            severity: high
            subject: service
            fail_when: {path: tier, gt: 1}
        """), encoding="utf-8")
    assert _findings(tmp_path, folder, "ACME-001") == [("api", "low", "tier 2 is more than 1"),
                                                       ("tool", "low", "tier 4 is more than 1")]


def _rule_text(fail_when: str) -> str:
    return f"""\
        rules:
          - id: ACME-009
            title: t
            description: d
            remediation: r
            severity: low
            subject: service
            where: {{path: id, equals: api}}
            fail_when: {fail_when}
        """


# Names whose type the model does not fix (free text, labels): only evaluation can tell.
@pytest.mark.parametrize("fail_when, why", [
    ("{path: labels.pci, gt: high}", "'>' not supported between instances of 'bool' and 'str'"),
    ("{path: labels.pci, contains_any: [x]}", "true is not a list: contains_any compares the entries of a list; use in"),
    ("{path: labels.pci, in: {path: labels.pci}}", "'in' takes a list, not true"),
    ("{path: name, older_than: 30}", "unsupported operand type(s) for -"),
    # The test stops at the first branch that holds; the reasons come from every branch.
    ("{any: [{path: tier, gt: 1}, {path: name, older_than: 30}]}", "unsupported operand type(s) for -"),
])
def test_a_condition_that_does_not_fit_the_data_names_the_rule_and_the_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_when: str, why: str) -> None:
    from itscm_check.engine import RuleError

    monkeypatch.chdir(tmp_path)
    policy = _policy(tmp_path, _rule_text(fail_when))
    INVENTORY["services"][0]["objectives"] = {"rto": "2h", "rpo": "1h"}
    try:
        inventory = write_inventory(tmp_path, INVENTORY)
        with pytest.raises(RuleError) as exc:
            run_check([Path(inventory.name)], [Path(policy.name)], dt.date(2026, 6, 30))
    finally:
        del INVENTORY["services"][0]["objectives"]
    assert str(exc.value).startswith("team-policy.yaml:2: rule ACME-009 cannot be evaluated on api (inventory.yaml:5): ")
    assert why in str(exc.value)


@pytest.mark.parametrize("fail_when, found", [
    ("{path: objectives.rto, in: [1h, PT2H]}", ["objectives.rto is 2h"]),
    ("{path: objectives.rto, in: [4h]}", []),
    ("{path: objectives.rto, ge: {param: floor}}", ["objectives.rto 2h is at least 2h"]),
])
def test_in_and_comparisons_read_durations_as_durations(tmp_path: Path, fail_when: str, found: list[str]) -> None:
    policy = _policy(tmp_path, _rule_text(fail_when) + "    params: {floor: {type: duration, value: 2h}}\n")
    INVENTORY["services"][0]["objectives"] = {"rto": "2h", "rpo": "1h"}
    try:
        assert [message for _, _, message in _findings(tmp_path, policy, "ACME-009")] == found
    finally:
        del INVENTORY["services"][0]["objectives"]


def test_names_under_labels_and_entries_of_lists_are_read_as_written(tmp_path: Path) -> None:
    policy = _policy(tmp_path, _rule_text("{path: plans, any_item: {path: exercises, any_item: "
                                          "{all: [{path: result, equals: pass}, {path: labels.team.x, present: false}]}}}"))
    assert _findings(tmp_path, policy, "ACME-009") == []  # loads: every name exists (labels are free)


def test_an_unquoted_date_in_a_condition_loads_and_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    policy = _policy(tmp_path, _rule_text("{path: bia.completed_on, le: 2026-01-10}"))
    [rule] = [r for r in load_rules([Path(policy.name)]) if r.id == "ACME-009"]
    assert "le: '2026-01-10'" in logic_text(rule)  # what `explain` prints


def test_a_severity_table_covers_the_tiers_the_rule_is_scoped_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    policy = _policy(tmp_path, "rules:\n  - {id: ACME-009, title: t, description: d, remediation: r, subject: service,"
                               " severity: {by_tier: {2: high}}, tiers: [2], fail_when: {path: tier, equals: 2}}\n")
    assert _findings(tmp_path, Path(policy.name), "ACME-009") == [("api", "high", "tier is 2")]


@pytest.mark.parametrize("rule", [
    "subject: backup, fail_when: {path: location, equals: {path: sites.primary}}",  # two records
    "subject: edge, fail_when: {path: target, equals: {path: source}}",
    "subject: exercise, fail_when: {path: achieved_rto, gt: {path: objectives.rto}}",
    "subject: service, params: {kinds: {type: list, value: [service]}}, fail_when: {path: kind, in: {param: kinds}}",
    "subject: vendor, fail_when: {path: critical_consumer, equals: true}",
    "subject: plan, fail_when: {path: stored_copies, any_item: {path: id, in: [dc1]}}",
])
def test_comparisons_that_fit_their_types_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rule: str) -> None:
    monkeypatch.chdir(tmp_path)
    policy = _policy(tmp_path, f"rules:\n  - {{id: ACME-1, title: t, description: d, remediation: r, severity: low, {rule}}}\n")
    assert "ACME-1" in {r.id for r in load_rules([Path(policy.name)])}


def test_a_document_that_does_not_parse_leaves_the_rest_of_its_file_out(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # As a YAML stream stops at its first broken document: the override after it is not read, so it
    # is not reported as the override of a rule that is not defined.
    monkeypatch.chdir(tmp_path)
    policy = _policy(tmp_path, """\
        rules:
          - {id: ACME-1, title: t, description: d, remediation: r, severity: high, subject: service,
             fail_when: {path: tier, present: false}
        ---
        overrides:
          - {rule: ACME-1, severity: low}
        """)
    for parse_cache in (None, ParseCache(tmp_path / "cache")):
        with pytest.raises(InputErrors) as exc:
            load_rules([Path(policy.name)], parse_cache)
        assert exc.value.errors and all("team-policy.yaml:" in str(e) and "YAML syntax error" in str(e)
                                        for e in exc.value.errors), exc.value.errors
