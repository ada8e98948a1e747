"""Every rule against its passing and failing cases (tests/rules/cases/<RULE>.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import DEFAULT_AS_OF, check, default_rules
from itscm_check.values import parse_date
from itscm_check.waivers import META_RULES

CASES = Path(__file__).parent / "cases"


def _case_files() -> dict[str, dict]:
    return {path.stem: yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(CASES.glob("*.yaml"))}


def _params():
    for rule_id, data in _case_files().items():
        for case in data["cases"]:
            yield pytest.param(rule_id, case, id=f"{rule_id}: {case['name']}")


@pytest.mark.parametrize("rule_id, case", list(_params()))
def test_rule_case(rule_id: str, case: dict, tmp_path: Path) -> None:
    as_of = parse_date(case["as_of"]) if "as_of" in case else DEFAULT_AS_OF
    report = check(tmp_path, case["inventory"], as_of)
    got = sorted((f.target, f.severity) for f in report.findings if f.rule_id == rule_id and f.status == "failed")
    want = sorted((e["target"], e["severity"]) for e in case["expect"] or ())
    messages = [f.message for f in report.findings if f.rule_id == rule_id]
    assert got == want, f"messages: {messages}"


def test_every_rule_has_a_passing_and_a_failing_case() -> None:
    files = _case_files()
    missing = []
    for rule_id in [r.id for r in default_rules()] + [m.id for m in META_RULES]:
        cases = files.get(rule_id, {}).get("cases", [])
        if not any(not c["expect"] for c in cases):
            missing.append(f"{rule_id}: no passing case")
        if not any(c["expect"] for c in cases):
            missing.append(f"{rule_id}: no failing case")
    assert not missing, "\n".join(missing)


def test_case_files_name_their_rule() -> None:
    for rule_id, data in _case_files().items():
        assert data["rule"] == rule_id
        names = [c["name"] for c in data["cases"]]
        assert len(names) == len(set(names)), f"{rule_id}: duplicate case names"


@pytest.mark.parametrize("case_file", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_compiled_tests_agree_with_the_conditions(case_file: Path, tmp_path: Path) -> None:
    """policy.codegen writes each condition out as Python: on every subject of every case, for every
    rule, it must say yes exactly when the condition's closures give reasons."""
    from helpers import write_inventory
    from itscm_check.errors import Location
    from itscm_check.facts import Index
    from itscm_check.pipeline import load_inventory
    from itscm_check.policy.conditions import Env
    from itscm_check.subjects import Subjects

    checked = 0
    for case in yaml.safe_load(case_file.read_text(encoding="utf-8"))["cases"]:
        as_of = parse_date(case["as_of"]) if "as_of" in case else DEFAULT_AS_OF
        subjects = Subjects(Index(load_inventory([write_inventory(tmp_path, case["inventory"])])), Location("x", 0))
        for rule in default_rules():
            if rule.check:
                continue
            for kind in rule.subjects:
                for subject in subjects.of(kind):
                    env = Env(as_of, rule.params_for(subject.tier))
                    for test, condition in ((rule.where_test, rule.where), (rule.test, rule.condition)):
                        if test is not None:
                            assert test(subject.scope, env) == (condition(subject.scope, env) is not None), \
                                (rule.id, case["name"], subject.target, subject.key)
                            checked += 1
    assert checked
