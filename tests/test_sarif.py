"""SARIF: valid against the SARIF 2.1.0 schema, and within what GitHub code scanning accepts and uses."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from pathlib import Path
from typing import Any

import pytest

from helpers import check
from itscm_check.cli import main
from itscm_check.errors import Location
from itscm_check.formatters import render, sarif
from itscm_check.provenance import GitState
from itscm_check.report import Report
from itscm_check.waivers import META_RULES
from test_junit import INVENTORY, validate_junit

SCHEMAS = Path(__file__).resolve().parents[1].parent / "shared" / "schemas"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Report:
    monkeypatch.chdir(tmp_path)  # finding paths are relative to the working directory
    return check(tmp_path, INVENTORY)


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)  # the schema declares draft-04
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate_sarif(text: str) -> dict[str, Any]:
    """Parse the log and check it against the SARIF 2.1.0 schema; the parsed log."""
    if not (SCHEMAS / "sarif-schema-2.1.0.json").is_file():
        pytest.skip(f"{SCHEMAS / 'sarif-schema-2.1.0.json'} not found: the SARIF schema is read from "
                    "../shared/schemas and never copied")
    assert text.endswith("}\n")
    log = json.loads(text)
    _validator().validate(log)
    return log


def _run(report: Report) -> dict[str, Any]:
    [run] = validate_sarif(render("sarif", report))["runs"]
    return run


def _result(run: dict[str, Any], rule_id: str, target: str) -> dict[str, Any]:
    return next(r for r in run["results"] if r["ruleId"] == rule_id and r["properties"]["target"] == target)


def test_one_result_per_finding_with_what_github_requires(report: Report) -> None:
    run = _run(report)
    rules = run["tool"]["driver"]["rules"]
    assert len(run["results"]) == len(report.findings) == 6
    for result, finding in zip(run["results"], report.findings):
        assert result["ruleId"] == finding.rule_id and rules[result["ruleIndex"]]["id"] == finding.rule_id
        assert result["partialFingerprints"] == {"itscmFingerprint/v1": finding.fingerprint}
        [location] = result["locations"]
        assert location["physicalLocation"]["region"]["startLine"] >= 1
        assert location["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert result["message"]["text"] == f"{finding.target}: {finding.message}"
        assert result["properties"] == {"target": finding.target, "severity": finding.severity,
                                        "controls": list(finding.controls)}
    ghost = next(r for r in run["results"] if "ghost" in r["message"]["text"])
    assert ghost["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "inventory.yaml", "uriBaseId": "%SRCROOT%"}, "region": {"startLine": 14}}
    programme = _result(run, "ITSCM-034", "programme")  # line 0 (the whole file) becomes line 1
    assert programme["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}


def test_levels_follow_finding_severity(report: Report) -> None:
    run = _run(report)
    assert _result(run, "ITSCM-028", "lost")["level"] == "error"  # high
    assert _result(run, "ITSCM-034", "programme")["level"] == "warning"  # medium
    assert _result(run, "ITSCM-901", "waiver:ITSCM-002/ok")["level"] == "note"  # low
    assert _result(run, "ITSCM-900", "waiver:ITSCM-002/ok")["level"] == "error"  # high


def test_waived_findings_are_suppressed_with_the_justification(report: Report) -> None:
    run = _run(report)
    waived = _result(run, "ITSCM-001", "anon")
    assert waived["suppressions"] == [{
        "kind": "external", "status": "accepted",
        "justification": "team being formed <soon> & \x1b (approved by CISO, expires 2026-12-31)"}]
    assert [r for r in run["results"] if "suppressions" in r] == [waived]


def test_rules_carry_metadata_controls_and_security_severity(report: Report) -> None:
    run = _run(report)
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("itscm-check", report.tool_version)
    assert driver["informationUri"] == "https://github.com/itscm-check/itscm-check"
    rules = {r["id"]: r for r in driver["rules"]}
    assert list(rules) == [r.id for r in report.rules] + [m.id for m in META_RULES]
    for rule in driver["rules"]:
        severity = rule["properties"]["security-severity"]
        assert isinstance(severity, str) and 0.0 < float(severity) <= 10.0  # GitHub rejects a number
        assert rule["properties"]["precision"] == "very-high"
        assert rule["properties"]["tags"][:2] == ["continuity", "security"]
        assert len(rule["properties"]["tags"]) <= 20
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"] and rule["help"]["text"]
    # Level and score come from the strictest severity the rule can report.
    assert rules["ITSCM-003"]["properties"]["security-severity"] == "9.5"  # critical (T1), high (otherwise)
    assert rules["ITSCM-003"]["defaultConfiguration"] == {"level": "error"}
    assert rules["ITSCM-032"]["properties"]["security-severity"] == "8.0"  # high or medium
    assert rules["ITSCM-026"]["properties"]["security-severity"] == "5.5"  # medium (T1), low (otherwise)
    assert rules["ITSCM-026"]["defaultConfiguration"] == {"level": "warning"}
    assert rules["ITSCM-035"]["properties"]["security-severity"] == "3.0"
    assert rules["ITSCM-035"]["defaultConfiguration"] == {"level": "note"}
    assert rules["ITSCM-030"]["name"] == "NoRTOInversion"
    assert rules["ITSCM-030"]["shortDescription"] == {"text": "No RTO inversion"}
    assert rules["ITSCM-030"]["properties"]["tags"] == ["continuity", "security", "FFIEC:BCM", "NIST-800-34:4.3.1"]
    assert rules["ITSCM-001"]["help"]["text"] == "Set `owner` to the id of a team defined under `teams:`."
    assert "**Remediation:**" in rules["ITSCM-001"]["help"]["markdown"]
    assert rules["ITSCM-901"]["helpUri"].endswith("/docs/rules.md#itscm-901")


def test_a_rules_own_help_uri_wins_and_a_custom_rule_gets_no_invented_link(report: Report) -> None:
    own = dataclasses.replace(report.rules[0], help_uri="https://wiki.example.com/bcm/owners")
    custom = dataclasses.replace(report.rules[1], id="ACME-001")
    rules = {r["id"]: r for r in _run(dataclasses.replace(report, rules=(own, custom)))["tool"]["driver"]["rules"]}
    assert rules[own.id]["helpUri"] == "https://wiki.example.com/bcm/owners"
    assert "helpUri" not in rules["ACME-001"]


def test_run_identity_and_version_control_provenance(report: Report) -> None:
    run = _run(report)
    # Category "itscm-check" (stable across runs, so GitHub closes fixed alerts), run id the as-of date.
    assert run["automationDetails"] == {"id": "itscm-check/2026-06-30"}
    assert "versionControlProvenance" not in run  # not a git repository
    git = GitState("0123456789abcdef0123456789abcdef01234567", False, "main", "https://github.com/acme/continuity")
    with_git = dataclasses.replace(report, provenance=dataclasses.replace(report.provenance, git=git))
    assert _run(with_git)["versionControlProvenance"] == [{
        "repositoryUri": "https://github.com/acme/continuity", "revisionId": git.commit, "branch": "main"}]
    detached = dataclasses.replace(git, branch=None)
    run = _run(dataclasses.replace(report, provenance=dataclasses.replace(report.provenance, git=detached)))
    assert run["versionControlProvenance"] == [{"repositoryUri": git.remote_url, "revisionId": git.commit}]
    no_remote = dataclasses.replace(git, remote_url=None)  # repositoryUri is required: nothing to say
    assert "versionControlProvenance" not in _run(
        dataclasses.replace(report, provenance=dataclasses.replace(report.provenance, git=no_remote)))


def test_results_are_capped_at_githubs_limit_failed_first(report: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sarif, "MAX_RESULTS", 5)
    run = _run(report)
    assert len(run["results"]) == 5
    assert not any("suppressions" in r for r in run["results"])  # the waived one is the one left out
    [invocation] = run["invocations"]
    assert "6 findings; only the first 5" in invocation["toolExecutionNotifications"][0]["message"]["text"]


def test_paths_are_uri_references(report: Report) -> None:
    finding = dataclasses.replace(report.findings[0], location=Location("inventory/core services.yaml", 3))
    run = _run(dataclasses.replace(report, findings=(finding,)))
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "inventory/core%20services.yaml"


def test_output_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = render("sarif", check(tmp_path, INVENTORY))
    later = check(tmp_path, INVENTORY)
    later = dataclasses.replace(later, provenance=dataclasses.replace(
        later.provenance, generated_at=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)))
    assert render("sarif", later) == first  # the generation time is not part of the log
    validate_sarif(first)


def test_bundled_inventory_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    sarif_path, junit_path = tmp_path / "out.sarif", tmp_path / "out.xml"
    code = main(["check", "--as-of", "2026-11-24", "--format", f"sarif={sarif_path}", "--format",
                 f"junit={junit_path}"])
    assert code == 1  # the example inventory keeps a few deliberate gaps
    [run] = validate_sarif(sarif_path.read_text(encoding="utf-8"))["runs"]
    assert run["results"] and any("suppressions" in r for r in run["results"])
    for result in run["results"]:  # repository-relative paths of real files: GitHub can annotate them
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert (REPO / uri).is_file(), uri
    root = validate_junit(junit_path.read_text(encoding="utf-8"))
    assert int(root.get("failures", "0")) == sum(1 for r in run["results"] if "suppressions" not in r)
    assert len(root.findall(".//skipped")) == sum(1 for r in run["results"] if "suppressions" in r)


@pytest.mark.parametrize("sort_keys", [False, True])
def test_json_text_writes_what_the_standard_library_writes(sort_keys: bool) -> None:
    from itscm_check.formatters import json_text
    from itscm_check.values import YamlTimestamp

    document = {"z": [], "a": {}, "text": "Zürich \u2028 \x01 \"quoted\" \\", "list": [1, -2, 0.5, True, None, [{}]],
                "nested": {"b": {"y": 1, "x": [2]}}, "date": YamlTimestamp("2026-01-15")}
    assert json_text(document, sort_keys=sort_keys) == json.dumps(document, indent=2, sort_keys=sort_keys,
                                                                  ensure_ascii=False) + "\n"
