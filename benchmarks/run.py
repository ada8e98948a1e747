"""Time ``itscm-check check`` on generated inventories and compare it with a bare YAML parse.

    python benchmarks/run.py [--sizes 1000,10000,100000] [--repeat 3] [--workdir /tmp/itscm-bench] [--memory]

For each size it generates the inventory once (``generate.py``, kept in the work directory for
later runs), then runs, ``--repeat`` times and interleaved, the whole checker process cold (empty
parse cache), warm (nothing changed), warm after one file changed, warm after one service was
added to that file, and with ``--no-cache``, and a
baseline process that only parses the same files with ``yaml.load_all(..., CSafeLoader)``. Each
measurement is one child process reaped with ``os.wait4``, which gives that child's own peak RSS
(``getrusage(RUSAGE_CHILDREN)`` would only give the maximum over all children so far). The cold,
warm and no-cache reports must be byte-identical. Prints a Markdown table to stdout and progress
to stderr. Unix only (``os.wait4``).

A child's peak RSS leaves out the processes it forks (parse and evaluation workers), which share
most of its pages and copy those either writes. With ``--memory``, one more cold and one more
``--no-cache`` run of each size, not timed, sample every process of the run every 0.1 s and report
the peak of their summed proportional set sizes (each shared page counted once, in shares): the
memory the run takes from the machine. Linux only (``/proc/PID/smaps_rollup``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
GENERATOR = HERE / "generate.py"
MARKER = ".benchmark-inventory.json"  # written by generate.py
RSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
MB = 1_000_000

# Runs in its own process so that its time and peak RSS compare with the checker's. It keeps
# the documents, as any loader must, and walks the tree the way itscm-check does.
BASELINE = """
import sys
from pathlib import Path
import yaml
root = Path(sys.argv[1])
documents = []
for path in sorted(root.rglob("*")):
    parts = path.relative_to(root).parts
    if path.suffix in (".yaml", ".yml") and path.is_file() and not any(p.startswith(".") for p in parts):
        documents.extend(yaml.load_all(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader))
"""


class BenchmarkError(Exception):
    """A step failed in a way that makes the figures meaningless."""


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_bytes: int
    returncode: int


@dataclass(frozen=True)
class Inventory:
    path: Path
    services: int
    files: int
    bytes: int
    one_document: bool = False


SCENARIOS = ("cold", "warm", "one changed", "one added", "no cache")
MEMORY_SCENARIOS = ("cold", "no cache")  # with --memory


@dataclass(frozen=True)
class Result:
    inventory: Inventory
    tool: dict[str, list[Run]]  # scenario -> runs
    baseline: list[Run]
    findings: int
    version: str
    processes_peak: dict[str, int] | None = None  # with --memory: "cold", "no cache" -> bytes (measure_processes)


# --- processes -------------------------------------------------------------------------------

def measure(command: list[str], cwd: Path, stderr: Path) -> Run:
    """Run one child to completion; its wall time, its own peak RSS and its exit code."""
    with stderr.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
    return Run(seconds, usage.ru_maxrss * RSS_UNIT, proc.returncode)


SAMPLE_SECONDS = 0.1


def measure_processes(command: list[str], cwd: Path, stderr: Path) -> Run:
    """Run one child to completion, sampling it and every process it forks (see the docstring at
    the top); the peak of their summed PSS is the Run's peak_bytes, and its time is not a figure
    (sampling takes CPU from the run)."""
    with stderr.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_pss(proc.pid))
            time.sleep(SAMPLE_SECONDS)
    return Run(time.perf_counter() - start, peak, proc.returncode)


def _tree_pss(pid: int) -> int:
    """The summed PSS, in bytes, of ``pid`` and its descendants now; a process that has just ended
    counts nothing."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup", encoding="ascii") as rollup:
                total += next(int(line.split()[1]) * 1024 for line in rollup if line.startswith("Pss:"))
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as children:
                    pending += map(int, children.read().split())
        except (OSError, StopIteration):
            continue  # it ended while it was read
    return total


def compile_package() -> None:
    """Byte-compile the package, as installing a wheel does: an editable install run with
    PYTHONDONTWRITEBYTECODE (set on the machine the figures come from) would otherwise compile
    every module again in every timed run, about 0.15 s each."""
    import compileall

    import itscm_check

    compileall.compile_dir(Path(itscm_check.__file__).parent, quiet=1)


def tool_command() -> list[str]:
    """The console script installed next to this interpreter, else the module."""
    script = Path(sys.executable).parent / "itscm-check"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "itscm_check"]


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def report_path(inventory: Inventory, workdir: Path, scenario: str) -> Path:
    return workdir / f"report-{inventory.path.name}-{scenario.replace(' ', '-')}.json"


def run_tool(inventory: Inventory, as_of: str, workdir: Path, scenario: str, measured: Callable[..., Run] = measure
             ) -> Run:
    report = report_path(inventory, workdir, scenario)
    stderr = workdir / f"stderr-{inventory.path.name}.txt"
    cache = workdir / f"cache-{inventory.path.name}"
    report.unlink(missing_ok=True)  # a stale report must not pass for this run's
    if scenario == "cold":
        set_aside(cache, workdir)
    command = [*tool_command(), "check", "--inventory", str(inventory.path), "--as-of", as_of,
               "--format", "json", "--output", str(report)]
    command += ["--no-cache"] if scenario == "no cache" else ["--cache-dir", str(cache)]
    changed = one_file(inventory)
    original = changed.read_bytes()
    if scenario == "one changed":  # a real edit, as a pull request makes: the file must be parsed again
        changed.write_bytes(edited(original, middle=inventory.one_document))
    elif scenario == "one added":  # the other common pull request: every line after it moves
        changed.write_bytes(added(original, middle=inventory.one_document))
    try:
        run = measured(command, workdir, stderr)
    finally:
        changed.write_bytes(original)
    # Exit 1 only means findings at or above --fail-on; a crash can exit 1 too, so the report must exist.
    if run.returncode not in (0, 1) or not report.is_file():
        missing = "" if report.is_file() else " without writing the report"
        raise BenchmarkError(f"{' '.join(command)}\nexited with {run.returncode}{missing}:\n{tail(stderr)}")
    return run


# Where cold runs' old cache folders go until the script ends (set_aside).
SET_ASIDE = "cache-set-aside"


def set_aside(cache: Path, workdir: Path) -> None:
    """Make way for a cold run by moving the old cache folder aside, not deleting it. Creating a
    file on ext4 without a journal (the machine of the figures) skips, one check each, the inodes
    freed in the last minute (five while their table is not yet written back): right after the last
    cold 100k run's 4,000 entries were deleted, the main process of the next spent 0.48 s of CPU
    creating its own 1,874 (0.09 s after five quiet minutes), and its parse worker about as much
    more, which a cold run in a fresh CI runner does not pay (see "Figures" in README.md)."""
    if cache.exists():
        (workdir / SET_ASIDE).mkdir(exist_ok=True)
        cache.rename(workdir / SET_ASIDE / f"{cache.name}-{time.time_ns()}")


def one_file(inventory: Inventory) -> Path:
    """The service file a "one changed" run edits: the middle one."""
    files = [f for f in yaml_files(inventory.path) if f.name != "shared.yaml"] or yaml_files(inventory.path)
    return files[len(files) // 2]


def edited(content: bytes, middle: bool = False) -> bytes:
    """``content`` with its middle document's first description edited: in a service file its
    metadata's. In a one-file inventory that is a service file's document, not the first one, which
    holds the sites and vendors and whose change every service's findings depend on. With
    ``middle``, a file of one document gets its first description after its middle byte edited:
    a service's."""
    at = content.find(_DESCRIPTION, len(content) // 2 if middle else _middle_document(content))
    if at < 0:
        raise BenchmarkError("the file to edit has no description in its middle document")
    return content[:at] + _DESCRIPTION + b"Edited. " + content[at + len(_DESCRIPTION):]


_DESCRIPTION = b"\n  description: "


def added(content: bytes, middle: bool = False) -> bytes:
    """``content`` with a service added before the first service of the middle document (with
    ``middle``, a one-document file: before the first service after its middle byte), a copy of
    that service under another id."""
    at = content.find(b"\nservices:\n", _middle_document(content) if not middle else 0)
    at = content.find(b"\n- id: ", max(at, len(content) // 2 if middle else 0)) if at >= 0 else -1
    if at < 0:
        raise BenchmarkError("the file to add a service to has no services in its middle document")
    end = _ITEM_OR_KEY.search(content, at + 1)
    service = content[at:end.start() if end else len(content)]
    return content[:at] + service.replace(b"- id: ", b"- id: added-", 1) + content[at:]


_ITEM_OR_KEY = re.compile(rb"\n(?:- |[^\s#-])")  # the next item of a list at column 0, or the next top-level key


def _middle_document(content: bytes) -> int:
    """Where the middle document of a stream of several starts (at its "---" line's line break): a
    service file's, as the first holds the sites and vendors; 0 for a file of one document."""
    markers = []
    at = content.find(b"\n---")
    while at >= 0:
        markers.append(at)
        at = content.find(b"\n---", at + 1)
    return markers[len(markers) // 2] if markers else 0


def run_baseline(inventory: Inventory, workdir: Path) -> Run:
    stderr = workdir / f"stderr-baseline-{inventory.path.name}.txt"
    run = measure([sys.executable, "-c", BASELINE, str(inventory.path)], workdir, stderr)
    if run.returncode != 0:
        raise BenchmarkError(f"the CSafeLoader baseline exited with {run.returncode}:\n{tail(stderr)}")
    return run


def read_report(inventory: Inventory, workdir: Path) -> tuple[int, str]:
    """Number of findings and tool version, to show the run did real work; the cold, warm and
    no-cache reports must be the same bytes."""
    reports = {name: report_path(inventory, workdir, name).read_bytes() for name in ("cold", "warm", "no cache")}
    if len(set(reports.values())) != 1:
        raise BenchmarkError(f"the cold, warm and --no-cache reports of {inventory.path} differ")
    try:
        report = json.loads(reports["cold"])
        return len(report["findings"]), str(report["tool"]["version"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchmarkError(f"unreadable JSON report {report_path(inventory, workdir, 'cold')}: {exc}") from None


# --- inventories -----------------------------------------------------------------------------

def yaml_files(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*"))
            if p.suffix in (".yaml", ".yml") and not any(x.startswith(".") for x in p.relative_to(root).parts)]


def wanted_marker(services: int, args: argparse.Namespace) -> dict[str, object]:
    files = min(services, max(1, services // args.services_per_file))
    return {"services": services, "files": files, "seed": args.seed, "as_of": args.as_of,
            "single_file": args.single_file, "one_document": args.one_document}


def is_current(path: Path, wanted: dict[str, object]) -> bool:
    try:
        marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all(marker.get(key) == value for key, value in wanted.items())


def ensure_inventory(services: int, args: argparse.Namespace) -> Inventory:
    """Generate the inventory unless an identical one is already in the work directory."""
    wanted = wanted_marker(services, args)
    path = args.workdir / f"inv-{services}{'-document' if args.one_document else '-single' if args.single_file else ''}"
    if args.regenerate or not is_current(path, wanted):
        command = [sys.executable, str(GENERATOR), "--services", str(services), "--files", str(wanted["files"]),
                   "--seed", str(args.seed), "--as-of", args.as_of, "--out", str(path), "--force"]
        command += ["--single-file"] if args.single_file else []
        command += ["--one-document"] if args.one_document else []
        progress(f"generating {path}")
        if subprocess.run(command, stdout=sys.stderr).returncode != 0:
            raise BenchmarkError(f"generation failed: {' '.join(command)}")
    files = yaml_files(path)
    for file in files:  # warm the page cache so the first repeat does not pay for disk reads
        file.read_bytes()
    return Inventory(path, services, len(files), sum(f.stat().st_size for f in files), args.one_document)


# --- measuring and reporting -----------------------------------------------------------------

def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def benchmark(services: int, args: argparse.Namespace) -> Result:
    inventory = ensure_inventory(services, args)
    tool: dict[str, list[Run]] = {name: [] for name in SCENARIOS}
    baseline: list[Run] = []
    for k in range(args.repeat):  # interleaved, so drift in machine load hits all alike
        for name in SCENARIOS:
            tool[name].append(run_tool(inventory, args.as_of, args.workdir, name))
        baseline.append(run_baseline(inventory, args.workdir))
        times = ", ".join(f"{name} {runs[-1].seconds:.2f} s" for name, runs in tool.items())
        progress(f"{services} services, run {k + 1}/{args.repeat}: itscm-check {times}; "
                 f"CSafeLoader {baseline[-1].seconds:.2f} s")
    findings, version = read_report(inventory, args.workdir)
    processes_peak = None
    if args.memory:
        processes_peak = {name: run_tool(inventory, args.as_of, args.workdir, name, measure_processes).peak_bytes
                          for name in MEMORY_SCENARIOS}
        progress(f"{services} services, every process together: "
                 + ", ".join(f"{name} peak {peak / MB:.0f} MB" for name, peak in processes_peak.items()))
    return Result(inventory, tool, baseline, findings, version, processes_peak)


def row(result: Result) -> str:
    best = {name: min(r.seconds for r in runs) for name, runs in result.tool.items()}
    base = min(r.seconds for r in result.baseline)
    inv = result.inventory
    cells = [f"{inv.services:,}", f"{inv.files:,}", f"{inv.bytes / MB:.1f}", f"{best['cold']:.2f}",
             f"{statistics.median(r.seconds for r in result.tool['cold']):.2f}", f"{best['warm']:.2f}",
             f"{best['one changed']:.2f}", f"{best['one added']:.2f}", f"{best['no cache']:.2f}",
             f"{max(r.peak_bytes for runs in result.tool.values() for r in runs) / MB:.0f}", f"{base:.2f}",
             f"{best['cold'] / base:.2f}x", f"{best['cold'] / (inv.services / 1000):.3f}", f"{result.findings:,}"]
    if result.processes_peak is not None:
        cells += [f"{result.processes_peak[name] / MB:.0f}" for name in MEMORY_SCENARIOS]
    return "| " + " | ".join(cells) + " |"


COLUMNS = ["services", "files", "MB", "cold best s", "cold median s", "warm s", "one file changed s",
           "one service added s", "--no-cache s", "peak RSS MB", "CSafeLoader s", "cold / CSafeLoader", "cold s per 1k services",
           "findings"]


MEMORY_COLUMNS = ["cold, every process: peak PSS MB", "--no-cache, every process: peak PSS MB"]


def table(results: list[Result]) -> str:
    columns = COLUMNS + (MEMORY_COLUMNS if any(r.processes_peak is not None for r in results) else [])
    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join(["---:"] * len(columns)) + "|"
    return "\n".join([header, rule, *map(row, results)])


def parse_path() -> str:
    """Which parser the checker runs with: the child inherits ITSCM_CHECK_PARSER from this process."""
    from itscm_check import fast_yaml

    if not fast_yaml.enabled():
        return f"PyYAML ({fast_yaml.PARSER_VARIABLE}=pyyaml)"
    if fast_yaml.yaml_rs is None:
        return "the line scanner's builder, PyYAML for the files it leaves (yaml_rs not available)"
    return (f"the line scanner's builder, yaml_rs {importlib.metadata.version('yaml_rs')} for the files it leaves, "
            "PyYAML for the files neither takes")


def environment(results: list[Result], args: argparse.Namespace) -> str:
    version = results[0].version if results else "?"
    cpu = platform.processor() or platform.machine()
    return (f"itscm-check {version}, Python {platform.python_version()} ({platform.python_implementation()}), "
            f"PyYAML {yaml.__version__}, parse path {parse_path()}, {platform.system()} {platform.release()} {cpu}, "
            f"{os.cpu_count()} CPUs; as-of {args.as_of}, seed {args.seed}, best of {args.repeat}, "
            f"{'one document' if args.one_document else 'one file' if args.single_file else f'{args.services_per_file} services per file'}")


def raw(results: list[Result]) -> list[dict[str, object]]:
    return [{"services": r.inventory.services, "files": r.inventory.files, "bytes": r.inventory.bytes,
             "findings": r.findings, "tool": {name: [vars(run) for run in runs] for name, runs in r.tool.items()},
             "baseline": [vars(run) for run in r.baseline], "processes_peak_bytes": r.processes_peak}
            for r in results]


# --- command line ----------------------------------------------------------------------------

def sizes(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive service counts")
    return values


def iso_date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError("a date as YYYY-MM-DD") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=sizes, default=[1000, 10000, 100000], help="default 1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/itscm-bench"))
    parser.add_argument("--services-per-file", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", type=iso_date, default="2026-06-30")
    parser.add_argument("--single-file", action="store_true", help="benchmark one-file inventories")
    parser.add_argument("--one-document", action="store_true",
                        help="benchmark inventories of one file that holds one document")
    parser.add_argument("--regenerate", action="store_true", help="regenerate inventories even if present")
    parser.add_argument("--json", type=Path, help="also write the raw measurements to this file")
    parser.add_argument("--memory", action="store_true",
                        help="also measure every process of a cold and a --no-cache run together (Linux)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.services_per_file < 1:
        parser.error("--repeat and --services-per-file must be at least 1")
    if args.memory and not Path("/proc/self/smaps_rollup").is_file():
        parser.error("--memory reads /proc/PID/smaps_rollup, which only Linux has")
    args.workdir = args.workdir.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not hasattr(yaml, "CSafeLoader"):
        print("error: PyYAML is built without libyaml; the baseline needs yaml.CSafeLoader", file=sys.stderr)
        return 2
    args.workdir.mkdir(parents=True, exist_ok=True)
    compile_package()
    results: list[Result] = []
    try:
        for services in args.sizes:
            results.append(benchmark(services, args))
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        # Last, and not in the timed runs (see set_aside): a run started within a minute or so pays for it.
        shutil.rmtree(args.workdir / SET_ASIDE, ignore_errors=True)
    print(environment(results, args) + "\n\n" + table(results))
    if args.json:
        args.json.write_text(json.dumps(raw(results), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
