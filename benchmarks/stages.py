"""Time each stage of one check run: where the time of `run.py`'s whole-process figures goes.

    python benchmarks/stages.py --inventory /tmp/itscm-bench-test/inv-10000 [--repeat 3]

Each repeat runs two child processes with the pipeline's own functions, timed with
``time.perf_counter``: a cold one (the parse cache folder emptied first) and a warm one (every file
read from the cache). A stage's figure is its best over the repeats. Unlike `run.py`, this calls
the package's internals, so it follows them when they change.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from run import compile_package

STAGES = (
    ("imports", "imports"),
    ("load", ("read, parse and validate the files and assemble the model, or decode each file's records "
              "from the model cache; cache misses are parsed by this process and forked workers")),
    ("rules", "load the rules (built-in pack, compiled conditions)"),
    ("evaluate", "evaluate the rules (or read the findings of those that read one service, and what its "
                 "dependencies name, from the findings cache) and apply waivers; rules and services shared by "
                 "worker processes"),
    ("report", "provenance, report, JSON"),
    ("finish", "wait for the parse workers still writing cache entries (they do so once they have sent what they parsed)"),
)

# The child: one run of the pipeline, stage by stage, printing the times as JSON.
CHILD = r"""
import time
start = time.perf_counter()
import datetime as dt, gc, json, sys
from pathlib import Path
from itscm_check import __version__
from itscm_check.cache import ParseCache
from itscm_check.errors import Location
from itscm_check.formatters import render
from itscm_check.findings_cache import reuse
from itscm_check.pipeline import findings_of, read_inventory
from itscm_check.policy.loading import load_rules
from itscm_check.provenance import Provenance, git_state
from itscm_check.report import build_report

gc.disable()  # as the command line does
inventory, cache_dir, as_of = Path(sys.argv[1]), Path(sys.argv[2]), dt.date.fromisoformat(sys.argv[3])
times = {}
mark = time.perf_counter(); times["imports"] = mark - start
def stage(name):
    global mark
    now = time.perf_counter(); times[name] = now - mark; mark = now
cache = ParseCache(cache_dir, finishing=[])  # as the command line does
model, inventory_digest, parts = read_inventory([inventory], (), cache); stage("load")
policy_digests = {}
rules = load_rules([], cache, policy_digests); stage("rules")
findings, results = findings_of(model, rules, as_of, Location(str(inventory), 0), 365,
                                reuse=reuse(cache, parts, policy_digests.values(), model, as_of)); stage("evaluate")
provenance = Provenance(tool_version=__version__, as_of=as_of,
                        generated_at=None, git=git_state(inventory),
                        inventory_digest=inventory_digest, policies_digest="")
render("json", build_report(provenance, model, rules, findings, results)); stage("report")
cache.finish(); stage("finish")
times["total"] = time.perf_counter() - start
print(json.dumps(times))
"""


def run_child(inventory: Path, cache_dir: Path, as_of: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(inventory), str(cache_dir), as_of],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"the timed run failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, required=True, help="an inventory folder (generate.py output)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--as-of", default="2026-06-30")
    args = parser.parse_args()
    compile_package()
    best: dict[str, dict[str, float]] = {"cold": {}, "warm": {}}
    with tempfile.TemporaryDirectory(prefix="itscm-stages-") as scratch:
        cache_dir = Path(scratch) / "cache"
        for repeat in range(args.repeat):
            shutil.rmtree(cache_dir, ignore_errors=True)
            for kind in ("cold", "warm"):
                times = run_child(args.inventory, cache_dir, args.as_of)
                for name, seconds in times.items():
                    best[kind][name] = min(seconds, best[kind].get(name, seconds))
                print(f"run {repeat + 1}/{args.repeat} {kind}: {times['total']:.2f} s", file=sys.stderr)
    print(f"{args.inventory}, best of {args.repeat}\n")
    print("| stage | cold (empty cache) | warm |\n|---|---:|---:|")
    for name, label in (*STAGES, ("total", "total")):
        print(f"| {label} | {best['cold'][name]:.2f} s | {best['warm'][name]:.2f} s |")


if __name__ == "__main__":
    main()
