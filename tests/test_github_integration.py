"""The composite action's check step, run as GitHub would run it; the pre-commit hook definition."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def _check_step() -> dict:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    return next(step for step in action["runs"]["steps"] if step.get("id") == "check")


def _run_step(tmp_path: Path, cwd: Path = ROOT, **inputs: str) -> tuple[dict[str, str], str, subprocess.CompletedProcess]:
    step = _check_step()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1",
           "RUNNER_TEMP": str(tmp_path), "GITHUB_OUTPUT": str(tmp_path / "output"),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
           "INVENTORY": "inventory", "POLICIES": "", "FAIL_ON": "", "FORMATS": "", "AS_OF": "2026-11-24",
           "BASELINE": "", "CACHE": "true",
           **inputs}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False)
    outputs = dict(line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines())
    return outputs, (tmp_path / "summary.md").read_text(), done


def test_action_writes_summary_sarif_and_reports_the_exit_code(tmp_path: Path) -> None:
    outputs, summary, done = _run_step(tmp_path, FORMATS=f"csv={tmp_path}/findings.csv")
    assert done.returncode == 0, done.stderr  # the step records the code; a later step fails the job
    assert outputs["exit-code"] == "1"
    assert Path(outputs["sarif"]).is_file() and (tmp_path / "findings.csv").is_file()
    assert summary.startswith("## ❌ itscm-check: ") and "at or above high" in summary
    assert "ITSCM-030" in done.stdout  # the table goes to the log


def test_action_keeps_the_parse_cache_where_actions_cache_saves_it(tmp_path: Path) -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    steps = {step.get("uses", "").split("@")[0]: step for step in action["runs"]["steps"]}
    restore, save = steps["actions/cache/restore"], steps["actions/cache/save"]
    assert restore["with"]["path"] == save["with"]["path"] == "${{ runner.temp }}/itscm-cache"
    assert restore["with"]["key"] == save["with"]["key"]
    assert save["if"].startswith("${{ !cancelled()")  # a run with findings fails the job: save the cache anyway
    _run_step(tmp_path)
    assert any((tmp_path / "itscm-cache").iterdir())
    without = tmp_path / "without-cache"
    without.mkdir()
    _, _, done = _run_step(without, CACHE="false")
    assert done.returncode == 0 and not (without / "itscm-cache").exists()


def test_action_passes_fail_on_never(tmp_path: Path) -> None:
    outputs, summary, _ = _run_step(tmp_path, FAIL_ON="never")
    assert outputs["exit-code"] == "0" and "✅" in summary


def test_action_inputs_left_empty_keep_the_config_files_values(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "continuity").mkdir(parents=True)
    (project / "continuity" / "inv.yaml").write_text("services: [{id: a, name: A}]\n")  # no owner: ITSCM-001 (high)
    (project / ".itscm-check.yaml").write_text("inventory: continuity\nfail_on: never\n")
    outputs, _, done = _run_step(tmp_path, cwd=project, INVENTORY="", FAIL_ON="")
    assert outputs["exit-code"] == "0", done.stderr
    outputs, _, _ = _run_step(tmp_path, cwd=project, INVENTORY="", FAIL_ON="high")
    assert outputs["exit-code"] == "1"


def test_pre_commit_hook_runs_the_check_on_inventory_changes() -> None:
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "itscm-check" and hook["entry"] == "itscm-check check"
    assert hook["pass_filenames"] is False and hook["language"] == "python"


def test_action_baseline_mode_counts_only_new_findings(tmp_path: Path) -> None:
    outputs, summary, done = _run_step(tmp_path, BASELINE="HEAD")
    assert outputs["exit-code"] == "0", done.stderr  # nothing new since the last commit of the inventory
    assert "Compared with git ref HEAD: 0 new failed" in summary
