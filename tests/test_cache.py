"""The parse cache: never stale, damaged entries ignored and rewritten, safe to delete or share."""

from __future__ import annotations

import marshal
import multiprocessing
import os
import shutil
import time
from pathlib import Path

import pytest

from itscm_check import cache as cache_module
from itscm_check import parallel
from itscm_check.cache import ParseCache, load_checked
from itscm_check.cli import main
from itscm_check.pipeline import load_inventory
from itscm_check.values import YamlTimestamp

REPO = Path(__file__).resolve().parents[1]
VALID = """\
apiVersion: itscm/v1
teams: [{id: t, name: T}]
services:
  - id: api
    name: API
    owner: t
    tier: 2
    bia: {document: bia.pdf, completed_on: 2026-01-15}
    objectives: {rto: 4h, rpo: 1h}
waivers:
  - {rule: ITSCM-010, target: api, reason: migration, approved_by: CISO, expires: "2026-12-31"}
"""
INVALID = VALID.replace("tier: 2", "tier: 9").replace("owner: t", "owner: t\n    colour: blue")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.name != "CACHEDIR.TAG")


def _load(path: Path, folder: Path) -> tuple[list, list, ParseCache]:
    parse_cache = ParseCache(folder)
    checked = load_checked([path], "inventory", parse_cache)
    return checked.documents, checked.errors, parse_cache


def test_a_warm_load_gives_the_same_documents_and_errors(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "bad.yaml").write_text(INVALID, encoding="utf-8")
    for name in ("ok.yaml", "bad.yaml"):
        cold_docs, cold_errors, cold = _load(tmp_path / name, tmp_path / "cache")
        warm_docs, warm_errors, warm = _load(tmp_path / name, tmp_path / "cache")
        assert (cold.misses, cold.hits, warm.misses, warm.hits) == (1, 0, 0, 1)
        assert warm_docs == cold_docs and warm_errors == cold_errors
    assert [str(e) for e in warm_errors] == [str(e) for e in cold_errors] and len(warm_errors) == 2
    # Dates written unquoted stay YAML timestamps through the cache: the date rules depend on it.
    completed = warm_docs[0].data["services"][0]["bia"]["completed_on"]
    assert type(completed) is YamlTimestamp and type(warm_docs[0].data["waivers"][0]["expires"]) is str


def test_the_same_bytes_under_another_name_report_that_name(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(INVALID, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(INVALID, encoding="utf-8")
    _load(tmp_path / "a.yaml", tmp_path / "cache")
    documents, errors, parse_cache = _load(tmp_path / "b.yaml", tmp_path / "cache")
    assert parse_cache.hits == 1
    assert {e.location.path for e in errors} == {documents[0].path} and documents[0].path.endswith("b.yaml")


def test_a_changed_file_or_a_new_tool_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(VALID, encoding="utf-8")
    _load(path, tmp_path / "cache")
    path.write_text(VALID.replace("tier: 2", "tier: 3"), encoding="utf-8")
    documents, _, parse_cache = _load(path, tmp_path / "cache")
    assert parse_cache.misses == 1 and documents[0].data["services"][0]["tier"] == 3
    monkeypatch.setattr(cache_module, "tool_fingerprint", lambda: b"another version")
    assert _load(path, tmp_path / "cache")[2].misses == 1
    assert len(_entries(tmp_path / "cache")) == 3


@pytest.mark.parametrize("damage", [
    lambda blob: b"",
    lambda blob: blob[: len(blob) // 2],  # a write cut short
    lambda blob: blob[:-1] + bytes([blob[-1] ^ 1]),  # one flipped bit
    lambda blob: b"not a cache entry at all",
    lambda blob: blob.replace(b"parse cache 3", b"parse cache 2"),  # another format
])
def test_a_damaged_entry_is_ignored_and_rewritten(tmp_path: Path, damage) -> None:  # noqa: ANN001
    path = tmp_path / "inv.yaml"
    path.write_text(VALID, encoding="utf-8")
    expected = _load(path, tmp_path / "cache")[0]
    (entry,) = _entries(tmp_path / "cache")
    good = entry.read_bytes()
    entry.write_bytes(damage(good))
    documents, _, parse_cache = _load(path, tmp_path / "cache")
    assert documents == expected and parse_cache.misses == 1
    assert entry.read_bytes() == good


@pytest.mark.parametrize("payload", [
    marshal.dumps(("something", "else", "entirely")),
    marshal.dumps((marshal.dumps(("a parse", "of another shape")), ())),  # an entry's sections, a foreign parse
])
def test_an_entry_with_a_valid_checksum_but_foreign_content_is_ignored(tmp_path: Path, payload: bytes) -> None:
    import zlib

    path = tmp_path / "inv.yaml"
    path.write_text(VALID, encoding="utf-8")
    expected = _load(path, tmp_path / "cache")[0]
    (entry,) = _entries(tmp_path / "cache")
    header = b"itscm-check parse cache 3\n" + entry.name.encode() + b"\n"
    entry.write_bytes(header + zlib.crc32(payload).to_bytes(4, "big") + payload)
    assert _load(path, tmp_path / "cache")[0] == expected


def test_no_cache_writes_nothing_and_deleting_the_folder_is_safe(workdir: Path) -> None:
    (workdir / "inv.yaml").write_text(VALID, encoding="utf-8")
    assert main(["validate", "--inventory", "inv.yaml", "--no-cache"]) == 0
    assert not (workdir / ".itscm-cache").exists()
    assert main(["validate", "--inventory", "inv.yaml"]) == 0
    # The parsed file with its records (model_cache) beside them, and the parsed built-in policy pack.
    assert len(_entries(workdir / ".itscm-cache")) == 2
    assert (workdir / ".itscm-cache" / ".gitignore").read_text(encoding="utf-8").endswith("*\n")
    shutil.rmtree(workdir / ".itscm-cache")
    assert main(["validate", "--inventory", "inv.yaml", "--cache-dir", "elsewhere/c"]) == 0
    assert len(_entries(workdir / "elsewhere" / "c")) == 2 and not (workdir / ".itscm-cache").exists()


def test_the_config_file_can_move_the_cache(workdir: Path) -> None:
    (workdir / "inv.yaml").write_text(VALID, encoding="utf-8")
    (workdir / ".itscm-check.yaml").write_text("cache_dir: build/cache\n", encoding="utf-8")
    assert main(["validate", "--inventory", "inv.yaml"]) == 0
    assert len(_entries(workdir / "build" / "cache")) == 2


def test_an_unwritable_cache_is_a_warning_not_a_failure(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "inv.yaml").write_text(VALID, encoding="utf-8")
    (workdir / "blocked").write_text("a file where the cache folder should be", encoding="utf-8")
    assert main(["validate", "--inventory", "inv.yaml", "--cache-dir", "blocked"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: cannot write the cache in blocked") == 1


@pytest.mark.parametrize("command", ["validate", "check"])
def test_a_cache_the_parse_workers_cannot_write_is_a_warning_once(command: str, workdir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Workers write the entries of the files they parse: a cache none can write to is reported
    once, and the run goes on without it."""
    _files_for_workers(workdir / "inv", monkeypatch)

    def no_space(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module.tempfile, "mkstemp", no_space)
    args = ["--as-of", "2026-06-30", "--format", "json", "--output", "report.json"] if command == "check" else []
    assert main([command, "--inventory", "inv", *args]) in (0, 1)
    err = capsys.readouterr().err
    assert err.count("warning: cannot write the cache in .itscm-cache: No space left on device") == 1, err
    assert not _entries(workdir / ".itscm-cache")


def _files_for_workers(folder: Path, monkeypatch: pytest.MonkeyPatch, count: int = 6) -> None:
    """``count`` inventory files in ``folder``, which forked workers share with this process."""
    folder.mkdir()
    for i in range(count):  # the team in the first file only
        text = VALID.replace("id: api", f"id: api{i}").replace("target: api", f"target: api{i}")
        text = text.replace("teams: [{id: t, name: T}]\n", "" if i else "teams: [{id: t, name: T}]\n")
        (folder / f"part{i}.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setattr(cache_module, "_PARALLEL_BYTES", 1)
    monkeypatch.setattr(parallel, "forked_cpus", lambda: 2)


def test_parse_workers_write_their_entries_while_the_run_goes_on(workdir: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    """A worker writes the entries of what it parsed once it has sent it all; with ``finishing``,
    the parse leaves it to that, and finish() waits for it. Without, the parse waits."""
    _files_for_workers(workdir / "inv", monkeypatch, count=40)
    waiting = ParseCache(workdir / "waiting")
    load_inventory([workdir / "inv"], parse_cache=waiting)
    assert waiting.finishing is None and len(_entries(workdir / "waiting")) == 40

    def slow_parse(*args: object) -> object:  # so that the worker takes its share
        time.sleep(0.002)
        return check(*args)

    def slow_entry(*args: object) -> None:  # in the worker only: this process writes its own at once
        if os.getpid() != parent:
            time.sleep(0.01)
        write_entry(*args)
    parent, check, write_entry = os.getpid(), cache_module._check, cache_module._write_entry
    monkeypatch.setattr(cache_module, "_check", slow_parse)
    monkeypatch.setattr(cache_module, "_write_entry", slow_entry)
    going_on = ParseCache(workdir / "going-on", finishing=[])
    load_inventory([workdir / "inv"], parse_cache=going_on)
    assert len(going_on.finishing or []) == 1 and len(_entries(workdir / "going-on")) < 40
    going_on.finish()
    assert going_on.finishing == [] and going_on.problem is None and len(_entries(workdir / "going-on")) == 40

    def no_parse(*args: object) -> None:
        raise AssertionError("parsed again")
    monkeypatch.setattr(cache_module, "_check", no_parse)  # every part's records are in its entry
    assert len(load_inventory([workdir / "inv"], parse_cache=ParseCache(workdir / "going-on")).services) == 40


def _load_in_process(args: tuple[str, str]) -> int:
    folder, path = args
    parse_cache = ParseCache(Path(folder))
    return len(load_checked([Path(path)], "inventory", parse_cache).documents)


def test_runs_at_once_share_a_cache_without_damage(tmp_path: Path) -> None:
    paths = []
    for i in range(20):
        path = tmp_path / f"inv{i}.yaml"
        path.write_text(VALID.replace("id: api", f"id: api{i}"), encoding="utf-8")
        paths.append(str(path))
    jobs = [(str(tmp_path / "cache"), p) for p in paths] * 4
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert pool.map(_load_in_process, jobs) == [1] * len(jobs)
    assert len(_entries(tmp_path / "cache")) == 20
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".tmp-")]
    for path in paths:  # every entry is whole: each one is a hit
        assert _load(Path(path), tmp_path / "cache")[2].hits == 1


def test_reports_are_byte_identical_cold_warm_and_without_cache(workdir: Path) -> None:
    inventory, policies = REPO / "inventory", REPO / "policies"
    args = ["check", "--inventory", str(inventory), "--policies", str(policies), "--as-of", "2026-11-24",
            "--format", "json"]
    outputs = []
    for name, extra in (("cold", []), ("warm", []), ("none", ["--no-cache"])):
        main([*args, "--output", f"{name}.json", *extra])
        outputs.append((workdir / f"{name}.json").read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_prune_deletes_what_no_run_used_for_a_month(tmp_path: Path) -> None:
    import os
    import time

    for name, text in (("used.yaml", VALID), ("old.yaml", VALID.replace("id: api", "id: old"))):
        (tmp_path / name).write_text(text, encoding="utf-8")
        _load(tmp_path / name, tmp_path / "cache")
    orphan = tmp_path / "cache" / ".tmp-killed-run"
    orphan.write_bytes(b"half an entry")
    long_ago = time.time() - 40 * 86400
    for path in [*_entries(tmp_path / "cache"), orphan]:
        os.utime(path, (long_ago, long_ago))
    _load(tmp_path / "used.yaml", tmp_path / "cache")  # a hit marks its entry as in use
    ParseCache(tmp_path / "cache").prune()
    assert len(_entries(tmp_path / "cache")) == 1 and not orphan.exists()
    assert _load(tmp_path / "used.yaml", tmp_path / "cache")[2].hits == 1
    assert (tmp_path / "cache" / ".gitignore").exists()


def test_prune_runs_once_a_day(tmp_path: Path) -> None:
    import os
    import time

    (tmp_path / "old.yaml").write_text(VALID, encoding="utf-8")
    _load(tmp_path / "old.yaml", tmp_path / "cache")
    ParseCache(tmp_path / "cache").prune()  # the first: nothing is old yet
    long_ago = time.time() - 40 * 86400
    for path in _entries(tmp_path / "cache"):
        os.utime(path, (long_ago, long_ago))
    ParseCache(tmp_path / "cache").prune()
    assert len(_entries(tmp_path / "cache")) == 1  # pruned less than a day ago
    marker = tmp_path / "cache" / ".pruned"
    os.utime(marker, (time.time() - 2 * 86400,) * 2)
    ParseCache(tmp_path / "cache").prune()
    assert not _entries(tmp_path / "cache") and marker.stat().st_mtime > time.time() - 60


def test_the_fingerprint_covers_the_parser_and_validator_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    before = cache_module.tool_fingerprint()
    cache_module.tool_fingerprint.cache_clear()
    real = cache_module.metadata.version
    monkeypatch.setattr(cache_module.metadata, "version",
                        lambda name: "99.0" if name == "pyyaml" else real(name))
    try:
        assert cache_module.tool_fingerprint() != before
    finally:
        cache_module.tool_fingerprint.cache_clear()


def test_a_hit_marks_its_entry_used_once_a_day(tmp_path: Path) -> None:
    import os
    import time

    (tmp_path / "used.yaml").write_text(VALID, encoding="utf-8")
    _load(tmp_path / "used.yaml", tmp_path / "cache")
    [entry] = _entries(tmp_path / "cache")
    for age, touched in ((3600, False), (2 * 86400, True)):
        before = time.time() - age
        os.utime(entry, (before, before))
        _load(tmp_path / "used.yaml", tmp_path / "cache")
        assert (entry.stat().st_mtime > before + 60) is touched
