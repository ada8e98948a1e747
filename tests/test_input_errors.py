"""Unusable input: every error is collected and reported with its file and line (SPEC sections 1 and 8)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from itscm_check.errors import InputErrors
from itscm_check.pipeline import load_inventory
from itscm_check.policy.loading import load_rules

TEAM = "teams: [{id: t, name: T}]\n"


def _errors(tmp_path: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    old = Path.cwd()
    os.chdir(tmp_path)  # report paths are relative to the working directory
    try:
        load_inventory([Path(".")])
    except InputErrors as exc:
        return [str(e) for e in exc.errors]
    finally:
        os.chdir(old)
    return []


@pytest.mark.parametrize("text, expected", [
    ("services:\n  - id: a\n    name: A\n    name: B\n", "inv.yaml:4: duplicate key 'name' (first defined on line 3)"),
    ("services:\n  - id: a\n    name: A\n    ownr: t\n", "inv.yaml:4: services[0]: unknown key 'ownr' (did you mean 'owner'?"),
    ("services:\n  - id: a\n    name: A\n    objectives: {rto: 4}\n",
     "inv.yaml:4: services[0].objectives.rto: '4' is not a duration: a bare number has no unit; write 4h or PT4H"),
    ("services:\n  - id: a\n    name: A\n    objectives:\n      rpo: P1M\n",
     "inv.yaml:5: services[0].objectives.rpo: 'P1M' is not a duration: months and years have no fixed length"),
    ("services:\n  - id: a\n    name: A\n    bia: {document: d, completed_on: 15/01/2024}\n",
     "inv.yaml:4: services[0].bia.completed_on: '15/01/2024' is not a valid date"),
    ("services:\n  - id: a\n    name: A\n    bia: {document: d, completed_on: 2024-02-30}\n",
     "inv.yaml:4: services[0].bia.completed_on: '2024-02-30' is not a valid date"),
    ("services:\n  - id: a\n    name: A\n    bia: {document: d, completed_on: 2024-1-5}\n",
     "inv.yaml:4: services[0].bia.completed_on: '2024-1-5' is not a valid date"),
    ("services:\n  - id: a\n", "inv.yaml:2: services[0]: missing required key 'name'"),
    ("services:\n  - id: 12\n    name: A\n", "inv.yaml:2: services[0].id: 12 is not an identifier"),
    ("teams:\n  - id: 2024-01-01\n    name: T\n",
     "inv.yaml:2: teams[0].id: '2024-01-01' is not an identifier (identifiers are strings; quote the value)"),
    ("services:\n  - id: a\n    name: A\n    objectives: {rto: ' 4h'}\n",
     "inv.yaml:4: services[0].objectives.rto: ' 4h' is not a duration"),
    ("services:\n  - id: a\n    name: A\n    tier: 5\n", "inv.yaml:4: services[0].tier: 5 is out of range"),
    ("services:\n  - id: a\n    name: A\n    owner: nobody\n", "inv.yaml:4: owner 'nobody' is not a team id"),
    ("services:\n  - id: a\n    name: A\n    sites: {primary: mars}\n", "inv.yaml:4: site 'mars' is not defined"),
    ("services:\n  - id: a\n    name: A\n    exercises: []\n", "inv.yaml:4: services[0]: unknown key 'exercises'"),
    ("- just a list\n", "inv.yaml:1: a document must be a mapping of top-level keys, not a list"),
    ("apiVersion: itscm/v2\n", "inv.yaml:1: apiVersion: 'itscm/v2' is not supported; write itscm/v1"),
    ("services: [\n", "inv.yaml:2: YAML syntax error"),
    ("programme:\n  last_internal_audit: 0001-01-01T00:00:00+01:00\n",  # before the first date Python holds, in UTC
     "inv.yaml:2: programme.last_internal_audit: '0001-01-01T00:00:00+01:00' is not a valid date"),
    ("programme:\n  last_internal_audit: !!timestamp not-a-date\n",
     "inv.yaml:2: programme.last_internal_audit: 'not-a-date' is not a valid date"),
    ("a: !!python/object/apply:os.system [ls]\n", "inv.yaml:1: unsupported tag"),
    ("waivers:\n  - {rule: ITSCM-001, target: a, reason: r, expires: 2027-01-01}\n",
     "inv.yaml:2: waivers[0]: missing required key 'approved_by'"),
    ("labels: {a: b}\n", "inv.yaml:1: unknown key 'labels'"),
])
def test_input_error_names_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    errors = _errors(tmp_path, {"inv.yaml": text + TEAM if text.startswith("services:\n") else text})
    assert any(e.startswith(expected) for e in errors), errors


def test_duplicate_service_id_names_both_places(tmp_path: Path) -> None:
    errors = _errors(tmp_path, {
        "a.yaml": TEAM + "services:\n  - {id: pay, name: Pay}\n",
        "sub/b.yaml": "services:\n  - {id: x, name: X}\n  - {id: pay, name: Pay again}\n",
    })
    assert errors == ["sub/b.yaml:3: duplicate service id 'pay' (first defined at a.yaml:3) "
                      "(service ids must be unique across the whole inventory)"]


def test_second_programme_is_reported_at_the_second(tmp_path: Path) -> None:
    errors = _errors(tmp_path, {"a.yaml": "programme: {last_internal_audit: 2026-01-01}\n",
                                "b.yaml": "x-note: 1\nprogramme: {last_internal_audit: 2026-01-01}\n"})
    assert errors == ["b.yaml:2: programme is defined a second time (first at a.yaml:1) "
                      "(keep one programme block for the whole inventory)"]


def test_all_errors_of_all_files_are_reported_together(tmp_path: Path) -> None:
    errors = _errors(tmp_path, {"a.yaml": "services:\n  - {id: a}\n", "b.yaml": "services: [\n"})
    assert [e.split(":")[0] for e in errors] == ["a.yaml", "b.yaml"]


def test_schema_errors_duplicates_and_dangling_references_are_reported_together(tmp_path: Path) -> None:
    errors = _errors(tmp_path, {
        "a.yaml": TEAM + "services:\n  - {id: pay, name: Pay, tier: 9}\n",
        "b.yaml": "services:\n  - {id: pay, name: Pay again, owner: ghost}\n",
    })
    assert [e.split(" (")[0] for e in errors] == [
        "a.yaml:3: services[0].tier: 9 is out of range",
        "b.yaml:2: duplicate service id 'pay'",
        "b.yaml:2: owner 'ghost' is not a team id"]


def test_no_dangling_reference_is_claimed_when_a_file_did_not_parse(tmp_path: Path) -> None:
    errors = _errors(tmp_path, {
        "a.yaml": TEAM + "sites: [{id: dc1, failure_domain: x}\n",  # unclosed: team t and site dc1 are unknown
        "b.yaml": "services:\n  - {id: pay, name: Pay, owner: t, sites: {primary: dc1}}\n  - {id: pay, name: P2}\n",
    })
    assert [e.split(":")[0:2] for e in errors] == [["a.yaml", "3"], ["b.yaml", "3"]]
    assert "duplicate service id 'pay'" in errors[1]


def test_a_document_with_a_duplicate_key_is_still_checked(tmp_path: Path) -> None:
    # The duplicate key keeps its first value; the rest of the document is validated and its ids
    # counted, so one run lists every problem. A team defined by the dropped value would be unknown:
    # no reference is called dangling then (b.yaml's owner is one).
    errors = _errors(tmp_path, {
        "a.yaml": TEAM + "services:\n  - {id: pay, name: Pay, name: Payments}\n  - {id: web, name: Web, tier: 9}\n",
        "b.yaml": "services:\n  - {id: pay, name: Pay again, owner: ghost}\n",
    })
    assert [e.split(" (")[0] for e in errors] == [
        "a.yaml:3: duplicate key 'name'",
        "a.yaml:4: services[1].tier: 9 is out of range",
        "b.yaml:2: duplicate service id 'pay'"]


def test_misshapen_records_get_schema_errors_only(tmp_path: Path) -> None:
    errors = _errors(tmp_path, {"a.yaml": TEAM + textwrap.dedent("""\
        sites: site-1
        services:
          - 5
          - {id: 7, name: Seven}
          - {id: s, name: S, owner: [t], sites: [dc1], plans: {dr: 1}, backups: [{location: 3}]}
        waivers: {rule: ITSCM-001}
        """), "b.yaml": "services: {id: t}\n"})
    assert errors and not any("dangling" in e or "is not a team id" in e or "is not defined" in e for e in errors)
    assert all(e.startswith(("a.yaml:", "b.yaml:")) for e in errors)



def test_no_dangling_reference_is_claimed_to_a_misshapen_definition(tmp_path: Path) -> None:
    errors = _errors(tmp_path, {"a.yaml": "teams: {t1: {name: T}}\nsites: [dc1]\nservices:\n"
                                          "  - {id: s, name: S, owner: t1, sites: {primary: dc1}}\n"})
    assert [e.split(":")[1] for e in errors] == ["1", "2"]  # the two schema errors, nothing about s's references


def test_alias_bomb_is_an_input_error(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    errors = _errors(tmp_path, {"bomb.yaml": "\n".join(lines) + "\n"})
    assert len(errors) == 1 and "too many nodes" in errors[0]


def test_symlink_loop_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "loop").symlink_to(tmp_path / "inv")
    errors = _errors(tmp_path, {"inv/a.yaml": TEAM})
    assert errors == ["inv/loop:0: symbolic link loop: this folder contains itself "
                      "(remove the link that points back to a parent folder)"]


def test_missing_path_is_an_input_error_at_line_0(tmp_path: Path) -> None:
    with pytest.raises(InputErrors) as exc:
        load_inventory([tmp_path / "nope"])
    assert str(exc.value.errors[0]).endswith(":0: no such file or directory (pass an existing file or folder "
                                             "with --inventory)")


def test_a_path_too_long_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputErrors) as exc:
        load_inventory([tmp_path / ("a" * 300)])
    assert [e.message for e in exc.value.errors] == ["cannot read: File name too long"]


def test_missing_policy_path_names_the_policies_flag(tmp_path: Path) -> None:
    with pytest.raises(InputErrors) as exc:
        load_rules([tmp_path / "nope"])
    assert str(exc.value.errors[0]).endswith(":0: no such file or directory (pass an existing file or folder "
                                             "with --policies)")


def test_empty_files_comments_and_dotfiles_are_accepted(tmp_path: Path) -> None:
    assert _errors(tmp_path, {"empty.yaml": "", "comments.yml": "# nothing\n", "docs.yaml": "---\n---\n",
                              ".hidden.yaml": "services: [\n", ".git/x.yaml": "bad: [\n", "notes.txt": "x: [\n"}) == []


def test_null_is_the_same_as_absent(tmp_path: Path) -> None:
    assert _errors(tmp_path, {"a.yaml": TEAM + "services:\n  - {id: a, name: A, tier: , owner: , bia: }\n"}) == []


def test_x_keys_are_accepted_everywhere_and_labels_on_services(tmp_path: Path) -> None:
    text = TEAM + "x-top: 1\nservices:\n  - {id: a, name: A, x-note: n, labels: {anything: {goes: here}}}\n"
    assert _errors(tmp_path, {"a.yaml": text}) == []


def test_duration_and_date_forms(tmp_path: Path) -> None:
    text = TEAM + textwrap.dedent("""\
        services:
          - id: a
            name: A
            objectives: {rto: PT15M, rpo: 0s, mtpd: P1W2D, wrt: 1h30m}
            bia: {document: d, completed_on: "2026-01-15", next_review: 2026-01-15T23:30:00-02:00}
        """)
    assert _errors(tmp_path, {"a.yaml": text}) == []


def test_deep_nesting_is_an_input_error_not_a_crash(tmp_path: Path) -> None:
    depth = 100_000
    errors = _errors(tmp_path, {"deep.yaml": "a: " + "[" * depth + "]" * depth + "\n"})
    # PyYAML 6.0.4's libyaml stops at its own depth limit (a syntax error on line 1); older ones
    # reach Python's recursion limit in the composer. Either way: one input error, no crash.
    assert errors in (["deep.yaml:0: nesting too deep (flatten the structure)"],
                      ["deep.yaml:1: YAML syntax error: exceeded maximum nesting depth"])


def test_nesting_below_the_parsers_limit_is_an_input_error_too(tmp_path: Path) -> None:
    """Shallow-looking input goes to libyaml's own composer; the builder still stops at 64 levels."""
    from itscm_check.loader import _shallow

    text = "a: " + "[\n" * 200 + "]" * 200 + "\n"
    assert _shallow(text) and not _shallow("a: " + "[" * 6000 + "]" * 6000 + "\n")
    errors = _errors(tmp_path, {"deep.yaml": text})
    assert errors == ["deep.yaml:65: recursive alias or nesting too deep "
                      "(write the structure out without self-reference)"]
