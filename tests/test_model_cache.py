"""The model cache: a warm run builds the very inventory a run without a cache builds, whatever
changed in the other files, and reports the same input errors."""

from __future__ import annotations

import marshal
import pickle
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from itscm_check import cache as cache_module
from itscm_check import model_cache, parallel
from itscm_check.cache import FilePart, ParseCache, entry_key, kept_beside
from itscm_check.errors import InputErrors
from itscm_check.inventory import Inventory, Service
from itscm_check.pipeline import load_inventory
from itscm_check.values import Duration, YamlTimestamp

TEAMS = "teams: [{id: t, name: T}, {id: u, name: U}]\n"
SITES = """\
sites:
  - {id: dc1, failure_domain: region-a}
  - {id: dc2, failure_domain: region-b}
"""
SERVICES = """\
services:
  - id: api
    name: API
    owner: t
    tier: 1
    objectives: {rto: 4h, rpo: 1h}
    labels: {since: 2024-01-01, quoted: "2024-01-01"}
    sites: {primary: dc1, alternates: [dc2]}
    plans:
      - id: dr
        type: disaster-recovery
        stored_copies: [dc2]
        exercises: [{date: 2026-03-01, type: tabletop, result: pass}]
    backups:
      - {id: nightly, frequency: 1d, retention: 30d, location: dc2}
---
services:
  - id: db
    name: DB
    owner: u
    dependencies: [{ref: api}]
waivers:
  - {rule: ITSCM-010, target: api, reason: migration, approved_by: CISO, expires: 2026-12-31}
"""
MORE_WAIVERS = "waivers:\n  - {rule: ITSCM-010, target: api, reason: again, approved_by: CISO, expires: 2026-12-31}\n"


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "inventory"
    folder.mkdir()
    for name, text in (("a-teams.yaml", TEAMS), ("b-sites.yaml", SITES), ("c-services.yaml", SERVICES),
                       ("d-waivers.yaml", MORE_WAIVERS)):
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _load(folder: Path, cache: Path | None) -> tuple[Inventory, ParseCache | None]:
    parse_cache = ParseCache(cache) if cache is not None else None
    return load_inventory([folder], parse_cache=parse_cache), parse_cache


def _warm(folder: Path, cache: Path) -> tuple[Inventory, ParseCache]:
    """The inventory from a run after one that filled ``cache``."""
    _load(folder, cache)
    warm, parse_cache = _load(folder, cache)
    assert parse_cache is not None
    return warm, parse_cache


@pytest.mark.parametrize("workers", [False, True])  # a cold run's parts built here, or by parse workers
def test_a_warm_run_builds_the_inventory_without_reading_a_parsed_file(inventory: Path, tmp_path: Path, workers: bool,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    if workers:  # each worker writes the entries of the parts it builds
        monkeypatch.setattr(parallel, "forked_cpus", lambda: 2)
        monkeypatch.setattr(cache_module, "_PARALLEL_BYTES", 1)
    expected = _load(inventory, None)[0]
    warm, parse_cache = _warm(inventory, tmp_path / "cache")
    assert (parse_cache.hits, parse_cache.misses) == (0, 0)  # every part came from its records' entry
    assert warm == expected
    api = warm.services[0]
    assert api.sites is not None and api.sites.primary is warm.sites[0] and api.sites.alternates[0] is warm.sites[1]
    assert api.plans[0].stored_copies[0] is warm.sites[1] and api.backups[0].location is warm.sites[1]
    # What equality does not tell apart: an unquoted date stays a YAML timestamp, a duration a Duration.
    assert type(api.labels["since"]) is YamlTimestamp and type(api.labels["quoted"]) is str
    assert type(api.objectives.rto) is Duration and str(api.objectives.rto) == "4h"
    # Lines of the second document of a file are the whole file's.
    assert warm.services[1].source.line == 18 and warm.services[1].source.path == "inventory/c-services.yaml"


def test_the_records_of_a_part_read_back_share_one_string_of_its_path(inventory: Path, tmp_path: Path) -> None:
    warm, _ = _warm(inventory, tmp_path / "cache")
    api, db = warm.services  # in the two documents of one file: two parts
    assert api.source.path == db.source.path == "inventory/c-services.yaml"
    places = [*(plan.source for plan in api.plans), *(e.source for plan in api.plans for e in plan.exercises),
              *(backup.source for backup in api.backups)]
    assert places and all(place.path is api.source.path for place in places)
    assert db.dependencies[0].source.path is db.source.path and warm.waivers[0].source.path is db.source.path


def test_records_built_here_are_used_as_built_and_a_child_sends_their_encoding(inventory: Path, tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "forked_cpus", lambda: 1)
    decoded: list[bytes] = []
    real = model_cache._decode

    def spy(payload: bytes | None) -> object:
        if payload is not None:
            decoded.append(payload)
        return real(payload)
    monkeypatch.setattr(model_cache, "_decode", spy)
    assert _load(inventory, tmp_path / "cache")[0] == _load(inventory, None)[0]
    assert decoded == []  # a cold run in one process decodes nothing
    # What a forked child pickles is the encoding, which the parent decodes to the same records.
    records = model_cache._records(cache_module._check(SITES.encode(), "inventory/b-sites.yaml", "inventory"))
    assert records is not None and records.part is not None
    received = pickle.loads(pickle.dumps(records))
    assert received.part == records.part and bytes(received) == bytes(records) == decoded[0]
    assert len(pickle.dumps(records)) < len(bytes(records)) + 100


@pytest.mark.parametrize("cpus", [1, 2])  # the changed file parsed here, or by a forked child
def test_a_changed_site_reaches_the_services_of_unchanged_files(inventory: Path, tmp_path: Path, cpus: int,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "forked_cpus", lambda: cpus)
    _load(inventory, tmp_path / "cache")
    (inventory / "b-sites.yaml").write_text(SITES.replace("region-b", "region-a"), encoding="utf-8")
    warm, parse_cache = _load(inventory, tmp_path / "cache")
    assert parse_cache is not None and parse_cache.misses == 1  # the sites file only
    assert warm == _load(inventory, None)[0]
    api = warm.services[0]
    assert api.sites is not None and api.sites.alternates[0].failure_domain == "region-a"
    assert api.backups[0].location is warm.sites[1]


def test_alike_waivers_are_numbered_across_files(inventory: Path, tmp_path: Path) -> None:
    warm = _warm(inventory, tmp_path / "cache")[0]
    assert [w.key for w in warm.waivers] == ["expires:2026-12-31", "expires:2026-12-31#1"]
    (inventory / "d-waivers.yaml").unlink()
    assert [w.key for w in _load(inventory, tmp_path / "cache")[0].waivers] == ["expires:2026-12-31"]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("a-teams.yaml", "teams: [{id: t, name: T}]\n", r"c-services.yaml:\d+: owner 'u' is not a team id"),
    ("b-sites.yaml", SITES.replace("dc2", "dc3"), r"c-services.yaml:\d+: site 'dc2' is not defined"),
    ("e-more.yaml", "services: [{id: db, name: Again}]\n", r"e-more.yaml:1: duplicate service id 'db'"),
    ("e-more.yaml", "teams: [{id: u, name: Again}]\n", r"e-more.yaml:1: duplicate team id 'u'"),
    ("e-more.yaml", "programme: {}\n---\nprogramme: {}\n", r"e-more.yaml:3: programme is defined a second time"),
])
def test_an_error_between_files_is_reported_as_without_a_cache(inventory: Path, tmp_path: Path, name: str,
                                                                  text: str, message: str) -> None:
    _load(inventory, tmp_path / "cache")
    (inventory / name).write_text(text, encoding="utf-8")
    with pytest.raises(InputErrors) as uncached:
        _load(inventory, None)
    with pytest.raises(InputErrors, match=message) as warm:
        _load(inventory, tmp_path / "cache")
    assert [str(e) for e in warm.value.errors] == [str(e) for e in uncached.value.errors]


@pytest.mark.parametrize("cpus", [1, 2])  # the moved parts built here, or shared with a forked child
def test_many_parts_moved_in_their_file_are_built_again_from_their_parse(inventory: Path, tmp_path: Path, cpus: int,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "forked_cpus", lambda: cpus)
    monkeypatch.setattr(cache_module, "_PARALLEL_BYTES", 1)  # a child for so few bytes
    many = "".join(f"---\nservices:\n  - {{id: s{n}, name: S{n}, owner: t, tier: 2}}\n" for n in range(12))
    (inventory / "e-many.yaml").write_text(many, encoding="utf-8")
    _load(inventory, tmp_path / "cache")
    # A comment on top moves every document of the file a line down: its twelve parts keep their
    # parse entries but not their records, which carry lines (model_cache._SHARED_JOBS is 8).
    (inventory / "e-many.yaml").write_text("# moved\n" + many, encoding="utf-8")
    warm, parse_cache = _load(inventory, tmp_path / "cache")
    assert warm == _load(inventory, None)[0]
    # Twelve parses read back; the comment before the first "---" is a part of its own, new.
    assert parse_cache is not None and (parse_cache.hits, parse_cache.misses) == (12, 1)
    assert [service.source.line for service in warm.services if service.id in ("s0", "s11")] == [4, 37]


def test_a_moved_file_has_its_new_path(inventory: Path, tmp_path: Path) -> None:
    _load(inventory, tmp_path / "cache")
    (inventory / "c-services.yaml").rename(inventory / "z-services.yaml")
    warm = _load(inventory, tmp_path / "cache")[0]
    assert {s.source.path for s in warm.services} == {"inventory/z-services.yaml"}
    assert warm == _load(inventory, None)[0]


def test_a_damaged_or_foreign_entry_is_ignored_and_rewritten(inventory: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    expected = _load(inventory, cache)[0]
    content = (inventory / "a-teams.yaml").read_bytes()
    parse_key = entry_key(content, "inventory")
    key = model_cache._key(FilePart("inventory/a-teams.yaml", 0, content), parse_key)
    entry = ParseCache(cache).get(parse_key)
    parsed, ((name, stored),) = marshal.loads(entry)  # the part's parse, and its records beside it
    assert name == key and kept_beside(entry, key) == stored
    # Garbage, an empty map, a record that is not a Part, a Part with a field it does not have.
    foreign = [b"\x93not a part", b"\x80", msgspec.msgpack.encode(expected.teams[0]),
               msgspec.msgpack.encode({**msgspec.structs.asdict(model_cache._decode(stored)), "extra": 1})]
    for payload in foreign:
        assert model_cache._decode(payload) is None
        ParseCache(cache).put(parse_key, marshal.dumps((parsed, ((key, payload),))))
        assert _load(inventory, cache)[0] == expected
        assert kept_beside(ParseCache(cache).get(parse_key), key) == stored  # written again


@pytest.mark.parametrize(("old", "new", "read"), [
    ("quoted:", "huge: 100000000000000000000000, quoted:", lambda api: api.labels["huge"] == 10 ** 23),  # beyond 64 bits
])
def test_a_part_an_entry_cannot_hold_is_read_from_its_parse_entry(inventory: Path, tmp_path: Path, old: str, new: str,
                                                                  read: Callable[[Service], bool]) -> None:
    (inventory / "c-services.yaml").write_text(SERVICES.replace(old, new), encoding="utf-8")
    warm, parse_cache = _warm(inventory, tmp_path / "cache")
    assert warm == _load(inventory, None)[0] and read(warm.services[0])
    # The part with that value has no records' entry: its parse entry is read, and read again as documents.
    assert (parse_cache.hits, parse_cache.misses) == (2, 0)


def test_waiver_files_are_read_with_the_inventory_and_still_hold_only_waivers(inventory: Path, tmp_path: Path) -> None:
    (inventory / "d-waivers.yaml").rename(tmp_path / "risks.yaml")
    waivers = [tmp_path / "risks.yaml"]
    expected = load_inventory([inventory], waivers)
    for _ in range(2):  # cold, then warm
        assert load_inventory([inventory], waivers, ParseCache(tmp_path / "cache")) == expected
    assert len(expected.waivers) == 2
    (tmp_path / "risks.yaml").write_text("teams: []\n" + MORE_WAIVERS, encoding="utf-8")
    for _ in range(2):
        with pytest.raises(InputErrors, match="risks.yaml:1: unexpected key 'teams' in a waivers file"):
            load_inventory([inventory], waivers, ParseCache(tmp_path / "cache"))


def test_a_new_model_code_misses(inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _load(inventory, tmp_path / "cache")
    monkeypatch.setattr(model_cache, "package_fingerprint", lambda: b"another version of assemble.py")
    warm, parse_cache = _load(inventory, tmp_path / "cache")
    assert parse_cache is not None and parse_cache.hits == 5  # every part (of four files) from its parse entry
    assert warm == _load(inventory, None)[0]


def test_an_entry_nested_deeper_than_python_recurses_is_ignored() -> None:
    deep = b"\x91" * 100_000 + b"\xc0"  # a list in a list ... in a MessagePack array, 100,000 deep
    assert model_cache.decode_records(msgspec.msgpack.Decoder(), deep) is None
