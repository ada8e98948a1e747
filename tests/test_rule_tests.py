"""`itscm-check test`: platform teams run cases for their own rules, in the default pack's case format."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from itscm_check.cli import main

POLICY = """\
rules:
  - id: ACME-001
    title: PCI services are tier 1
    description: d
    remediation: r
    severity: high
    subject: service
    where: {path: labels.pci, equals: true}
    fail_when: {path: tier, gt: 1, message: "PCI service declared tier {tier}"}
"""

CASES = """\
rule: ACME-001
cases:
  - name: a tier-2 PCI service fails
    inventory:
      services:
        - {id: api, name: API, tier: 2, labels: {pci: true}}
    expect:
      - {target: api, severity: high}
  - name: a tier-1 PCI service passes
    inventory:
      services:
        - {id: api, name: API, tier: 1, labels: {pci: true}}
    expect: []
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "acme.yaml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "cases").mkdir()
    return tmp_path


def _test(*args: str) -> int:
    return main(["test", *args, "--policies", "acme.yaml", "--as-of", "2026-06-30"])


def test_the_default_packs_own_cases_pass() -> None:
    assert main(["test", str(Path(__file__).parent / "rules" / "cases"), "--as-of", "2026-06-30"]) == 0


def test_passing_cases_exit_0(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "cases" / "acme-001.yaml").write_text(CASES, encoding="utf-8")
    assert _test("cases") == 0
    assert capsys.readouterr().out == "2 case(s): 2 passed, 0 failed\n"


def test_a_failing_case_exits_1_and_shows_what_differs(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "cases" / "acme-001.yaml").write_text(CASES.replace("tier: 1,", "tier: 3,"), encoding="utf-8")
    assert _test("cases") == 1
    assert capsys.readouterr().out == textwrap.dedent("""\
        FAIL cases/acme-001.yaml:9: ACME-001: a tier-1 PCI service passes
          expected: no failed finding
          got:      api (high)
          message:  api: PCI service declared tier 3
        2 case(s): 1 passed, 1 failed
        """)


def test_cases_of_a_disabled_rule_are_an_input_error(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "acme.yaml").write_text(POLICY + "overrides:\n  - {rule: ACME-001, enabled: false}\n", encoding="utf-8")
    (workdir / "cases" / "acme-001.yaml").write_text(CASES, encoding="utf-8")
    assert _test("cases") == 2
    assert "cases/acme-001.yaml:1: rule ACME-001 is disabled by an override" in capsys.readouterr().err


@pytest.mark.parametrize("cases, expected", [
    (CASES.replace("tier: 2,", "teir: 2,"), "cases/acme-001.yaml:6: services[0]: unknown key 'teir'"),
    (CASES.replace("rule: ACME-001", "rule: ACME-404"), "cases/acme-001.yaml:1: unknown rule ACME-404"),
    (CASES.replace("expect: []", "expected: []"), "cases/acme-001.yaml:13: cases[1]: unknown key 'expected'"),
    (CASES.replace("a tier-1 PCI service passes", "a tier-2 PCI service fails"),
     "cases/acme-001.yaml:9: case name 'a tier-2 PCI service fails' is used more than once"),
])
def test_a_malformed_case_file_is_an_input_error_at_its_line(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                             cases: str, expected: str) -> None:
    (workdir / "cases" / "acme-001.yaml").write_text(cases, encoding="utf-8")
    assert _test("cases") == 2
    assert expected in capsys.readouterr().err
