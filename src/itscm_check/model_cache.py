"""The model cache: each part of an inventory file kept as its assembled records.

A warm run then neither decodes the parsed documents of an unchanged part nor assembles them
again: it decodes typed records and links them to the rest of the inventory (assemble_parts).
A part without records is built into them, and they are written, where it is parsed (this
process and forked children, chunk by chunk, when there are many; one forked child, while this
process decodes the others, when a few files changed; forked children and then this process, once
it has decoded the others, when many parts moved), so that this process holds the documents
of a valid inventory only while it builds a chunk's records, or for parts read at a new place
(below), cache folder or not. A part's records are kept in its parse entry,
beside its parse (cache.kept_beside): one file per part. They are msgspec MessagePack data decoded
into the model's own types only, so that, unlike a pickle, they cannot run code. They are kept
under a name that covers the whole package (cache.package_fingerprint) and the part's shown path
and place in its file, which its records carry; an entry keeps them for the last two such names
(the working tree's and a --baseline ref's, whose paths are shown with the ref). A part read at a
new place (a fragment after an added item, a moved file) is built again from its parse, and its
entry written again with those records too. What the records take from other files (their sites,
their waivers' keys) is set again on every run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import replace
from functools import partial
from typing import Any, NamedTuple

import msgspec
from msgspec.structs import force_setattr

from itscm_check.assemble import Part, assemble_parts, part_of
from itscm_check.cache import (Checked, FilePart, Misfit, ParseCache, check_parts, entry_key, keep_beside, kept_beside,
                               package_fingerprint, parse_processes, read_cut)
from itscm_check.inventory import Inventory
from itscm_check.loader import Document
from itscm_check.parallel import Forked, shared_tasks
from itscm_check.values import Duration, YamlTimestamp

_TIMESTAMP = 1  # the MessagePack extension type of a YamlTimestamp
# From this many parts without records among parts with them, forked children take them one by
# one, and this process too once it has decoded the others; below it, one child takes them all.
_SHARED_JOBS = 8


class PartKeys(NamedTuple):
    """What the findings cache keys on: the part of a file that defines each service and each
    vendor, by id (two mappings, as a service's id may be any text), named by its path and what
    it reads as but not by where it is in its file (_identity), and the lines of its file before
    each part, by that name."""

    services: dict[str, str]
    vendors: dict[str, str]
    line_offsets: dict[str, int]


def cached_inventory(sources: Iterable[tuple[str, bytes]], parse_cache: ParseCache | None,
                     documents: Sequence[Document] = ()) -> tuple[Inventory, PartKeys] | None:
    """The Inventory of the (shown path, content) sources and of valid ``documents`` after them,
    each part of a file from its entry when there is one, else parsed and built into a Part where
    it is parsed (see above), and the entry of the part that defines each service and vendor
    (PartKeys); None when a part has an input error or the parts clash,
    which the caller reports from the documents."""
    return read_cut(sources, True, parse_cache, lambda parts: _cached_inventory(parts, parse_cache, documents))


def _cached_inventory(sources_parts: list[FilePart], parse_cache: ParseCache | None,
                      documents: Sequence[Document]) -> tuple[Inventory, PartKeys] | None:
    # Every part's bytes are kept until its entry has decoded: a damaged one is parsed again.
    parse_keys = [entry_key(part.content, "inventory", part.fragment) for part in sources_parts]
    keys = [_key(part, parse_key) for part, parse_key in zip(sources_parts, parse_keys)]
    stored: list[bytes | None] = []
    # The entries of the parts without records, for check_parts: one read at a new place has its parse.
    looked_up: dict[int, tuple[str, bytes | None]] = {}
    for index, (parse_key, key) in enumerate(zip(parse_keys, keys)):
        entry = parse_cache.get(parse_key) if parse_cache is not None else None
        stored.append(kept_beside(entry, key))
        if stored[-1] is None:
            looked_up[index] = parse_key, entry
    missed = list(looked_up)
    jobs = [(sources_parts[index], entry) for index, entry in looked_up.items()]
    parts: list[Part | None] = []

    def decode_stored() -> None:
        parts.extend(_decode(payload) for payload in stored)
    if not 0 < len(jobs) < len(stored):  # none, or all of them (a cold run: check_parts shares them out)
        decode_stored()
        made, hits, misses, problem = _parsed(jobs, parse_cache, _built)
    elif len(jobs) < _SHARED_JOBS:
        # A few (a pull request's change) are parsed by a forked child while this process decodes
        # the others: compiling the schema's validator alone takes about as long.
        parsed = Forked(partial(_parsed, jobs, parse_cache))
        try:
            decode_stored()
            made, hits, misses, problem = parsed.result()
        finally:
            parsed.cancel()
        if not isinstance(made, Misfit):
            made = [_built(records) for records in made]
    else:
        # Many (the fragments after an added item, built again from their parse entries) are
        # shared one by one by forked children and this process, once it has decoded the others.
        made, hits, misses, problem = _shared(jobs, parse_cache, decode_stored)
    if isinstance(made, Misfit):
        raise made
    if parse_cache is not None:  # the reads and writes of a child are counted here
        parse_cache.hits, parse_cache.misses = parse_cache.hits + hits, parse_cache.misses + misses
        parse_cache.problem = parse_cache.problem or problem
    for index, part in zip(missed, made):  # their entries are written where they were made
        parts[index] = part
    new_entries: dict[int, bytes] = {}
    for index, part in enumerate(parts):
        if part is None:
            # An input error, a value an entry cannot hold (a number beyond 64 bits),
            # or a damaged entry: read as documents, here (from the parse cache when there is one).
            [checked] = check_parts([sources_parts[index]], "inventory", parse_cache)
            parts[index] = _part(checked)
            if parts[index] is None:
                return None
            payload = encode_records(parts[index])
            if payload is not None and _decode(payload) is not None:  # a damaged entry is written again
                new_entries[index] = payload
    extra = part_of(list(documents))
    inventory = assemble_parts([*parts, extra]) if extra is not None else None  # type: ignore[list-item]
    if inventory is None:
        return None
    if parse_cache is not None:
        for index, payload in new_entries.items():
            keep_beside(parse_cache, parse_keys[index], keys[index], payload)
    names = [_identity(part, parse_key) for part, parse_key in zip(sources_parts, parse_keys)]
    return inventory, PartKeys({service.id: name for name, part in zip(names, parts) for service in part.services},  # type: ignore[union-attr]
                               {vendor.id: name for name, part in zip(names, parts) for vendor in part.vendors},  # type: ignore[union-attr]
                               {name: part.offset for name, part in zip(names, sources_parts)})


def _shared(jobs: list[tuple[FilePart, tuple[str, bytes | None]]], parse_cache: ParseCache | None,
            first: Callable[[], None]) -> tuple[list[Part | None] | Misfit, int, int, str | None]:
    """What _parsed gives for ``jobs``, each a task of parallel.shared_tasks; ``first`` is run here
    while the children start."""
    processes = parse_processes(sum(len(part.content) for part, _ in jobs))
    made: list[Part | None] = [None] * len(jobs)
    hits = misses = 0
    problem = None
    with closing(shared_tasks(len(jobs), lambda n: _parsed(jobs[n:n + 1], parse_cache), processes - 1, first)) as shared:
        for n, (records, job_hits, job_misses, job_problem) in shared:
            if isinstance(records, Misfit):
                return records, 0, 0, None  # closed: the children stop
            made[n] = _built(records[0])
            hits, misses, problem = hits + job_hits, misses + job_misses, problem or job_problem
    return made, hits, misses, problem


def _parsed(jobs: list[tuple[FilePart, tuple[str, bytes | None]]], parse_cache: ParseCache | None,
            taken: Callable[[_Records | None], Any] | None = None) -> tuple[list[Any] | Misfit, int, int, str | None]:
    """The records of each job (a part, its parse entry's name and its entry; None for a part with
    an input error), or what ``taken`` makes of them in this process as each is done, or the Misfit
    a fragment raised, and the cache's hits, misses and problem on the way: a forked child's copy
    of the cache is its own."""
    mine = replace(parse_cache, hits=0, misses=0) if parse_cache is not None else None
    try:
        records = check_parts([part for part, _ in jobs], "inventory", mine, _records, _key, taken,
                              [entry for _, entry in jobs])
    except Misfit as misfit:  # a value, so that a forked child sends it rather than failing
        return misfit, 0, 0, None
    return records, mine.hits if mine else 0, mine.misses if mine else 0, mine.problem if mine else None


class _Records:
    """A part's records as they were built, and their encoding, which its entry keeps (bytes()).

    A forked child sends the encoding alone, which this process decodes as it unpickles it; the
    records this process built are used as they are, not decoded from their own encoding (0.05 s
    of CPU in a cold 10k run).
    """

    __slots__ = ("part", "payload")

    def __init__(self, part: Part | None, payload: bytes) -> None:
        self.part, self.payload = part, payload

    def __bytes__(self) -> bytes:
        return self.payload

    def __reduce__(self) -> tuple[Callable[[bytes], _Records], tuple[bytes]]:
        return _received, (self.payload,)


def _received(payload: bytes) -> _Records:
    return _Records(_decode(payload), payload)


def _records(checked: Checked) -> _Records | None:
    """A part's records, where the part was parsed; None when it has an input error or a value
    MessagePack cannot hold."""
    part = _part(checked)
    payload = encode_records(part) if part is not None else None
    return _Records(part, payload) if payload is not None else None


def _built(records: _Records | None) -> Part | None:
    return records.part if records is not None else None


def _part(checked: Checked) -> Part | None:
    """The records of a part of a file, or None when it has an input error."""
    return part_of(checked.documents) if not checked.errors and checked.complete else None


def _identity(part: FilePart, parse_key: str) -> str:
    """A part's name for the findings cache: its path and its parse entry's name (``parse_key``).
    A fragment after an added item keeps it, and its findings, with their lines moved
    (findings_cache)."""
    return hashlib.sha256(f"part\0{part.shown}\0{parse_key}".encode()).hexdigest()


def _key(part: FilePart, parse_key: str) -> str:
    # The records carry lines and indices: where a part is in its file is part of their entry's
    # name, though not of its parse entry's (cache.entry_key).
    index_offset, key_line = (part.fragment.index_offset, part.fragment.key_line) if part.fragment else (0, 0)
    total = hashlib.sha256(package_fingerprint())
    total.update(f"model\0{part.shown}\0{part.offset}\0{index_offset}\0{key_line}\0{parse_key}".encode())
    return total.hexdigest()


def _encode_value(value: Any) -> Any:
    if type(value) is Duration:
        return int(value)
    if type(value) is YamlTimestamp:  # a str subclass that rules read differently from quoted text
        return msgspec.msgpack.Ext(_TIMESTAMP, value.encode())
    raise TypeError(f"no model cache encoding for {type(value).__name__}")


def _decode_value(kind: type, value: Any) -> Any:
    if kind is Duration and type(value) is int:
        return Duration(value)
    raise TypeError(f"expected {kind.__name__}")


def _decode_extension(code: int, data: memoryview) -> Any:
    if code != _TIMESTAMP:
        raise TypeError(f"unknown extension {code}")
    return YamlTimestamp(bytes(data).decode())


_ENCODER = msgspec.msgpack.Encoder(enc_hook=_encode_value)
_DECODER = msgspec.msgpack.Decoder(Part, dec_hook=_decode_value, ext_hook=_decode_extension)


def encode_records(records: Any) -> bytes | None:
    """Records of the model (a Part, sites, findings) as MessagePack, or None for a value it cannot
    hold (an integer beyond 64 bits)."""
    try:
        return _ENCODER.encode(records)
    except (OverflowError, TypeError):
        return None


def _decode(payload: bytes | None) -> Part | None:
    """The Part, or None when there is no entry or it is not what this version writes."""
    part = decode_records(_DECODER, payload)
    if part is not None:
        _share_path(part)
    return part


def _share_path(part: Part) -> None:
    """Point the Location of every record of a Part read back at one string of its file's path:
    each was read back as a copy of its own (a 100k-service inventory's 700,000 copies took 43 MB,
    and a forked evaluation worker copies the pages of those it reads)."""
    records: list[Any] = [*part.services, *part.teams, *part.sites, *part.vendors, *part.waivers,
                          *((part.programme,) if part.programme is not None else ())]
    if not records:
        return
    path = records[0].source.path
    for record in records:
        force_setattr(record.source, "path", path)
    for service in part.services:
        for dependency in service.dependencies:
            force_setattr(dependency.source, "path", path)
        for plan in service.plans:
            force_setattr(plan.source, "path", path)
            for exercise in plan.exercises:
                force_setattr(exercise.source, "path", path)
        for backup in service.backups:
            force_setattr(backup.source, "path", path)
            if backup.last_restore_test is not None:
                force_setattr(backup.last_restore_test.source, "path", path)


def decode_records(decoder: msgspec.msgpack.Decoder, payload: bytes | None) -> Any:
    """What ``decoder`` reads from an entry's payload, or None when there is none or it is not what
    this version writes (damaged, foreign, or nested deeper than Python recurses)."""
    if payload is None:
        return None
    try:
        return decoder.decode(payload)
    except (msgspec.DecodeError, TypeError, ValueError, RecursionError):
        return None
