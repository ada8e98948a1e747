"""The command line end to end: exit codes, outputs, determinism (SPEC sections 6 and 7)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import write_inventory
from itscm_check import cli
from itscm_check.cli import main
from itscm_check.schema import problems

CLEAN = """\
apiVersion: itscm/v1
teams: [{id: t, name: T}]
services:
  - {id: tool, name: Internal tool, tier: 4, owner: t}
programme:
  bc_policy: {document: bcp.pdf, approved_by: Board, approved_on: 2026-03-01}
  last_management_review: 2026-03-01
  last_internal_audit: 2026-03-01
"""
FAILING = CLEAN.replace("tier: 4, owner: t", "owner: t")  # no tier: ITSCM-002 (high), and tier-1 rules apply


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


def _run(*args: str) -> int:
    return main(["check", "--as-of", "2026-06-30", *args])


def test_exit_0_when_nothing_fails(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_inventory(workdir, CLEAN, "inv.yaml")
    assert _run("--inventory", "inv.yaml") == 0
    assert capsys.readouterr().out.endswith("0 failed (critical: 0, high: 0, medium: 0, low: 0, info: 0), 0 waived; "
                                            "1 services, 36 rules, as of 2026-06-30\n")


def test_exit_1_on_a_failed_finding_at_or_above_fail_on(workdir: Path) -> None:
    write_inventory(workdir, FAILING, "inv.yaml")
    assert _run("--inventory", "inv.yaml") == 1
    assert _run("--inventory", "inv.yaml", "--fail-on", "critical") == 1
    assert _run("--inventory", "inv.yaml", "--fail-on", "never") == 0


def test_fail_on_counts_only_findings_at_or_above_it(workdir: Path) -> None:
    unused_waiver = "waivers: [{rule: ITSCM-002, target: tool, reason: r, approved_by: a, expires: 2027-01-01}]\n"
    write_inventory(workdir, CLEAN + unused_waiver, "inv.yaml")  # only ITSCM-901, which is low
    assert _run("--inventory", "inv.yaml") == 0
    assert _run("--inventory", "inv.yaml", "--fail-on", "medium") == 0
    assert _run("--inventory", "inv.yaml", "--fail-on", "low") == 1


def test_exit_2_on_input_error_with_file_and_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_inventory(workdir, CLEAN.replace("tier: 4", "tier: 4, ownr: t"), "inv.yaml")
    assert _run("--inventory", "inv.yaml") == 2
    err = capsys.readouterr().err
    assert "inv.yaml:4: services[0]: unknown key 'ownr'" in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["--as-of", "30/06/2026"], ["--fail-on", "severe"], ["--format", "pdf"]])
def test_exit_2_on_bad_flags(workdir: Path, args: list[str]) -> None:
    write_inventory(workdir, CLEAN, "inv.yaml")
    assert main(["check", "--inventory", "inv.yaml", *args]) == 2


def test_exit_2_on_a_malformed_policy(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_inventory(workdir, CLEAN, "inv.yaml")
    (workdir / "extra.yaml").write_text("rules:\n  - id: X-1\n    title: t\n    description: d\n    remediation: r\n"
                                        "    severity: high\n    subject: service\n    fail_when: {path: tier, bogus: 1}\n")
    assert _run("--inventory", "inv.yaml", "--policies", "extra.yaml") == 2
    assert "extra.yaml:8: " in capsys.readouterr().err


def test_exit_2_when_the_report_cannot_be_written(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_inventory(workdir, CLEAN, "inv.yaml")
    (workdir / "taken").write_text("a file, not a folder\n")

    assert _run("--inventory", "inv.yaml", "--format", "json", "--output", "taken/report.json") == 2
    err = capsys.readouterr().err
    assert "cannot write the report to taken/report.json" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("args", [["--as-of", "9999-12-31"], ["--warn-expiring", "999999999"]])
def test_a_horizon_past_the_last_date_is_no_crash(workdir: Path, args: list[str]) -> None:
    write_inventory(workdir, CLEAN, "inv.yaml")
    assert main(["check", "--inventory", "inv.yaml", *args, "--fail-on", "never"]) == 0


def test_json_report_shape(workdir: Path) -> None:
    write_inventory(workdir, FAILING, "inv.yaml")
    _run("--inventory", "inv.yaml", "--format", "json", "--output", "out/report.json")
    report = json.loads((workdir / "out/report.json").read_text())
    assert list(report) == ["schema_version", "tool", "as_of", "summary", "findings"]
    assert report["tool"]["name"] == "itscm-check" and report["as_of"] == "2026-06-30"
    assert list(report["summary"]) == ["services", "rules", "failed", "waived", "by_severity"]
    assert list(report["summary"]["by_severity"]) == ["critical", "high", "medium", "low", "info"]
    finding = next(f for f in report["findings"] if f["rule_id"] == "ITSCM-002")
    assert finding["target"] == "tool" and finding["location"] == {"path": "inv.yaml", "line": 4}
    assert set(finding) == {"rule_id", "severity", "target", "status", "message", "location", "controls",
                            "fingerprint"}
    ranks = ["critical", "high", "medium", "low", "info"]
    keys = [(ranks.index(f["severity"]), f["rule_id"], f["target"], f["message"]) for f in report["findings"]]
    assert keys == sorted(keys)
    assert problems(report, "report") == []  # the shipped report schema describes it


def test_reports_are_byte_identical_across_runs(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_inventory(workdir, FAILING, "inv.yaml")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    clock = iter([dt.datetime(2026, 7, 1, 9, tzinfo=dt.timezone.utc), dt.datetime(2026, 7, 2, 17, tzinfo=dt.timezone.utc)])
    # The two runs happen at different times of day: only the inputs and --as-of may shape a report.
    monkeypatch.setattr(cli, "dt", SimpleNamespace(datetime=SimpleNamespace(now=lambda tz: next(clock)),
                                                   timezone=dt.timezone))
    formats = ("json", "table", "html", "sarif", "junit", "markdown", "csv")
    outputs = []
    for name in ("a", "b"):
        _run("--inventory", "inv.yaml", *(f"--format={fmt}={name}.{fmt}" for fmt in formats))
        outputs.append([(workdir / f"{name}.{fmt}").read_bytes() for fmt in formats])
    assert outputs[0] == outputs[1]


def test_passing_checks_are_collected_when_one_output_shows_them(workdir: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    write_inventory(workdir, FAILING, "inv.yaml")
    built = []
    monkeypatch.setattr(cli, "render", lambda name, report, color: built.append((name, report.results)) or "")
    for formats in (["json", "sarif", "table", "markdown", "csv"], ["json", "junit"], ["html"]):
        built.clear()
        _run("--inventory", "inv.yaml", *(f"--format={fmt}={fmt}.out" for fmt in formats))
        wanted = bool({"junit", "html"} & set(formats))
        assert [name for name, _ in built] == formats
        assert all((results is not None) == wanted for _, results in built)
        if wanted:  # every check: the passing ones too
            assert any(r.passed for _, results in built for r in results)


def test_validate_rules_and_explain(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_inventory(workdir, CLEAN, "inv.yaml")
    assert main(["validate", "--inventory", "inv.yaml"]) == 0
    assert main(["rules"]) == 0
    assert "ITSCM-036" in capsys.readouterr().out
    assert main(["explain", "itscm-030"]) == 0
    assert "No RTO inversion" in capsys.readouterr().out
    assert main(["explain", "ITSCM-999"]) == 2


def test_console_script_and_module_entry_points(workdir: Path) -> None:
    write_inventory(workdir, FAILING, "inv.yaml")
    script = Path(sys.executable).with_name("itscm-check")
    for command in ([str(script)], [sys.executable, "-m", "itscm_check"]):
        done = subprocess.run([*command, "check", "--inventory", "inv.yaml", "--as-of", "2026-06-30"],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 1, done.stderr
        assert "ITSCM-002" in done.stdout and "\033[" not in done.stdout


@pytest.mark.parametrize("command", [["rules"], ["explain", "ITSCM-001"]])  # more, and less, than a buffer
def test_a_reader_that_stops_early_gets_no_traceback(workdir: Path, command: list[str]) -> None:
    # The pipe is closed before the child has started Python, so every write it makes fails. Output
    # is buffered as it is for a user's pipe (PYTHONUNBUFFERED would hide a failing flush at exit).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    child = subprocess.Popen([sys.executable, "-m", "itscm_check", *command], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    stderr = child.stderr.read().decode()
    assert child.wait() == 141 and stderr == ""


def test_a_run_imports_only_what_it_uses(workdir: Path) -> None:
    """Start-up time: a report format nobody asked for, and jsonschema on valid input, stay unimported."""
    write_inventory(workdir, FAILING, "inv.yaml")
    code = ("import sys; from itscm_check.cli import main; "
            "main(['check', '--inventory', 'inv.yaml', '--as-of', '2026-06-30', '--format', 'json=r.json']); "
            "print(' '.join(m for m in ('jinja2', 'tabulate', 'jsonschema', 'defusedcsv', 'xml.etree.ElementTree')"
            " if m in sys.modules))")
    for _ in ("cold", "warm"):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert done.stdout.strip() == "" and (workdir / "r.json").is_file()


def test_a_file_named_twice_is_read_once(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "inv").mkdir()
    write_inventory(workdir, CLEAN, "inv/all.yaml")
    (workdir / "risks.yaml").write_text("waivers: [{id: w1, rule: ITSCM-001, target: tool, reason: r, "
                                        "approved_by: CISO, expires: 2026-07-31}]\n")
    # By name and by its folder, and a --waivers file that also sits in an --inventory folder:
    # read twice, each would clash with itself ("duplicate team id 't'", "duplicate waiver id 'w1'").
    assert main(["validate", "--inventory", "inv/all.yaml", "--inventory", "inv", "--inventory", "./inv/all.yaml"]) == 0
    assert main(["validate", "--inventory", "inv", "--inventory", "risks.yaml", "--waivers", "risks.yaml",
                 "--waivers", "risks.yaml"]) == 0
    assert "duplicate" not in capsys.readouterr().err
    assert main(["validate", "--inventory", "inv", "--waivers", "nowhere.yaml"]) == 2
    assert "nowhere.yaml:0: no such file or directory (pass an existing file or folder with --waivers)" in \
        capsys.readouterr().err
