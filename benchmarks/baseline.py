"""Time ``itscm-check check --baseline REF`` against the same check without a baseline.

    python benchmarks/baseline.py --inventory /tmp/itscm-bench-test/inv-10000 [--repeat 3] [--workdir DIR]

Copies a `generate.py` inventory into a new git repository (``WORKDIR/baseline-repo``, replaced
on each run), commits it, makes the edit `run.py` makes for "one file changed" to the middle service
file and commits that, as a pull request would. Then it runs, ``--repeat`` times and interleaved,
with the parse cache warm (one untimed run first): the check of the working tree alone, and the
same check with ``--baseline HEAD~1``, which also loads and evaluates the inventory at the parent
commit. Needs git and `itscm-check` installed next to this interpreter.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from run import compile_package

AS_OF = "2026-06-30"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=benchmark", "-c", "user.email=benchmark@example.org", *args],
                   cwd=repo, check=True, capture_output=True)


def make_repository(inventory: Path, repo: Path) -> None:
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(inventory, repo / "inventory")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    files = sorted((repo / "inventory" / "services").rglob("*.yaml"))
    changed = files[len(files) // 2]
    changed.write_bytes(changed.read_bytes().replace(b"\n  description: ", b"\n  description: Edited. ", 1))
    git(repo, "commit", "-q", "-am", "one file changed")


def timed(repo: Path, *extra: str) -> float:
    command = [str(Path(sys.executable).parent / "itscm-check"), "check", "--inventory", "inventory",
               "--as-of", AS_OF, "--format", "json", "--output", "report.json", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=repo, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr.decode()}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, required=True, help="an inventory folder (generate.py output)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/itscm-bench"))
    args = parser.parse_args()
    compile_package()
    repo = args.workdir / "baseline-repo"
    make_repository(args.inventory, repo)
    timed(repo, "--baseline", "HEAD~1")  # fills the parse cache with both commits' files
    checks = {"without a baseline": (), "--baseline HEAD~1": ("--baseline", "HEAD~1")}
    best = dict.fromkeys(checks, float("inf"))
    for repeat in range(args.repeat):
        for label, extra in checks.items():
            seconds = timed(repo, *extra)
            best[label] = min(best[label], seconds)
            print(f"run {repeat + 1}/{args.repeat} {label}: {seconds:.2f} s", file=sys.stderr)
    print(f"{args.inventory}, warm parse cache, best of {args.repeat}\n")
    print("| check | wall s |\n|---|---:|")
    for label, seconds in best.items():
        print(f"| {label} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
