"""The benchmark scripts run end to end on a tiny inventory. They call the package (stages.py its
internals), so a change of an internal signature must not leave them broken until the next time
someone measures. No time is asserted: the figures come from running the scripts by hand."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="run.py's baseline needs PyYAML built with libyaml")
def test_run_times_a_tiny_inventory(tmp_path: Path) -> None:
    table = _run("run.py", "--sizes", "40", "--services-per-file", "20", "--repeat", "2", "--workdir", str(tmp_path))
    row = next(line for line in table.splitlines() if line.startswith("| 40 |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "3"  # two service files and shared.yaml
    assert int(cells[-1].replace(",", "")) > 0  # the report had findings: the inventory was checked
    # The second cold run moved the first one's cache folder aside, and the script deleted it last.
    assert (tmp_path / "cache-inv-40").is_dir() and not (tmp_path / "cache-set-aside").exists()


@pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="run.py's baseline needs PyYAML built with libyaml")
@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").is_file(), reason="--memory reads Linux's /proc/PID/smaps_rollup")
def test_run_measures_the_memory_of_every_process_of_a_run(tmp_path: Path) -> None:
    table = _run("run.py", "--sizes", "40", "--services-per-file", "20", "--repeat", "1", "--memory",
                 "--workdir", str(tmp_path))
    header, row = (line for line in table.splitlines() if line.startswith(("| services", "| 40 |")))
    cells = dict(zip((cell.strip() for cell in header.strip("|").split("|")),
                     (cell.strip() for cell in row.strip("|").split("|"))))
    # A Python process takes more than 10 MB: a figure below it would be a process missed.
    assert int(cells["cold, every process: peak PSS MB"]) > 10
    assert int(cells["--no-cache, every process: peak PSS MB"]) > 10


def test_stages_times_each_stage(tmp_path: Path) -> None:
    inventory = tmp_path / "inv-stages"
    _run("generate.py", "--services", "40", "--files", "2", "--out", str(inventory))
    table = _run("stages.py", "--inventory", str(inventory), "--repeat", "1")
    stages = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")][1:]
    assert stages[0] == "imports" and stages[-1] == "total" and len(stages) == 7


def test_baseline_times_a_check_against_a_ref(tmp_path: Path) -> None:
    inventory = tmp_path / "inv-baseline"
    _run("generate.py", "--services", "40", "--files", "2", "--out", str(inventory))
    table = _run("baseline.py", "--inventory", str(inventory), "--repeat", "1", "--workdir", str(tmp_path / "baseline"))
    rows = dict((cell.strip() for cell in line.strip("|").split("|")) for line in table.splitlines()
                if line.startswith("| ") and "wall" not in line)
    assert set(rows) == {"without a baseline", "--baseline HEAD~1"} and all(float(s) > 0 for s in rows.values())


def _run_script() -> Any:
    """benchmarks/run.py as a module."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import run
    finally:
        sys.path.remove(str(BENCHMARKS))
    return run


def test_a_one_file_inventory_is_edited_in_its_middle_document() -> None:
    edited = _run_script().edited
    shared = b"metadata:\n  description: Sites and vendors\nsites: []\n"
    service = b"---\nmetadata:\n  description: Payments, part %d\nservices: []\n"
    stream = shared + b"".join(service % n for n in range(4))

    changed = edited(stream)

    assert changed.count(b"Edited. ") == 1 and b"description: Edited. Payments, part 2" in changed
    assert edited(shared) == shared.replace(b"description: ", b"description: Edited. ")
    document = b"metadata:\n  description: " + b"All " * 20 + b"\nservices:\n- id: a\n  description: Svc\n"
    assert edited(document, middle=True) == document.replace(b"description: Svc", b"description: Edited. Svc")


def test_a_service_is_added_to_the_middle_document_as_a_copy_under_another_id() -> None:
    run = _run_script()
    added, BenchmarkError = run.added, run.BenchmarkError
    service = b"---\nteams:\n- id: t%d\nservices:\n- id: s%d\n  tier: 1\n- id: s%da\n  tier: 2\nwaivers: []\n"
    stream = b"sites: []\n" + b"".join(service % (n, n, n) for n in range(4))
    assert added(stream) == stream.replace(b"- id: s2\n", b"- id: added-s2\n  tier: 1\n- id: s2\n")
    document = b"teams:\n- id: t\nservices:\n" + b"".join(b"- id: s%d\n  tier: 1\n" % n for n in range(9))
    assert added(document, middle=True) == document.replace(b"- id: s4\n", b"- id: added-s4\n  tier: 1\n- id: s4\n")  # after byte 98
    with pytest.raises(BenchmarkError):
        added(b"sites: []\n")


def test_a_cold_run_moves_the_old_cache_folder_aside_rather_than_delete_it(tmp_path: Path) -> None:
    run = _run_script()
    cache = tmp_path / "cache-inv-40"
    cache.mkdir()
    (cache / "entry").write_bytes(b"x")
    run.set_aside(cache, tmp_path)
    run.set_aside(cache, tmp_path)  # nothing there any more: nothing to do

    [aside] = (tmp_path / run.SET_ASIDE).iterdir()
    assert not cache.exists() and aside.name.startswith("cache-inv-40-") and (aside / "entry").read_bytes() == b"x"


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").is_file(), reason="reads Linux's /proc/PID/smaps_rollup")
def test_the_memory_of_a_run_counts_the_processes_it_started(tmp_path: Path) -> None:
    run = _run_script()
    ready = tmp_path / "ready"
    # The parent holds little; its child fills 100 MB, then says so.
    child = (f"x = bytearray(100_000_000); open({str(ready)!r}, 'w').close(); import time; time.sleep(30)")
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"])
    try:
        for _ in range(300):
            if ready.exists():
                break
            time.sleep(0.05)
        assert run._tree_pss(parent.pid) > 100_000_000
    finally:
        for pid in _descendants(parent.pid):
            os.kill(pid, signal.SIGKILL)
        parent.kill()
        parent.wait()


def _descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii").split()
    return [int(child) for child in children]
