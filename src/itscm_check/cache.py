"""The parse cache: each inventory or policy file's documents and input errors, kept between runs.

An entry is named by a sha256 of the tool's own code, the schema the file is checked against and
the file's bytes, so a changed file or a changed tool can only miss, never read a stale entry.
Entries are written to a temporary file and renamed into place: two runs at once each write a
whole entry, and a reader sees an old entry, a new one or none. An entry that does not carry its
own name and checksum, or does not decode, is ignored and rewritten. Deleting the folder is
always safe. Entries are ``marshal`` data, never pickles: a cache restored in CI is input too, and
loading a pickle can run code. A part's entry also keeps what was made of it for the last places it
was read at, by name (the model cache's records: model_cache); the same folder holds the entries of
the findings cache (findings_cache).
"""

from __future__ import annotations

import hashlib
import marshal
import os
import re
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Container, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from functools import cache, partial
from importlib import metadata, resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from itscm_check import __version__, fast_yaml, parallel
from itscm_check.errors import InputError, Location
from itscm_check.fragments import Fragment, fits, placed, plan
from itscm_check.loader import Document, display_path, load_text, split_documents
from itscm_check.parallel import Forked, shared_tasks
from itscm_check.schema import validate
from itscm_check.values import YamlTimestamp

_FORMAT = b"itscm-check parse cache 3\n"
# What decides an entry's content: a change to any of these is a new tool as far as the cache goes.
_CODE = ("__init__.py", "cache.py", "loader.py", "fast_yaml.py", "yaml_build.py", "yaml_lines.py", "fragments.py",
         "schema.py", "values.py", "schemas/inventory.schema.json", "schemas/policy.schema.json")
_MARSHAL_VERSION = 4
_ENTRY_NAME = re.compile(r"[0-9a-f]{64}")
_PRUNE_AFTER_DAYS = 30
# An entry read is marked used (its mtime set) when its mark is older than this: a warm run reads
# thousands of entries, and writing each one's inode costs more than reading it.
_TOUCH_AFTER_SECONDS = 86400
_PRUNED = ".pruned"  # its modification time is when prune() last ran
_PRUNE_EVERY_SECONDS = 86400


# The libraries whose behaviour is part of an entry: the YAML parsers and the two validators.
_LIBRARIES = ("pyyaml", "yaml_rs", "fastjsonschema", "jsonschema")


@cache
def tool_fingerprint() -> bytes:
    """The tool version, the Python that writes marshal data, the libraries and the code that read a file."""
    libraries = "\0".join(f"{name} {_version(name)}" for name in _LIBRARIES)
    total = hashlib.sha256(f"{__version__}\0{sys.version}\0{libraries}\0".encode())
    package = resources.files("itscm_check")
    for name in _CODE:
        total.update(package.joinpath(name).read_bytes())
    return total.digest()


@cache
def package_fingerprint() -> bytes:
    """Every module, schema and policy of the package and the msgspec it encodes with: what the
    caches of records and findings (model_cache, findings_cache) are keyed on, as any of them may
    change a record or a finding."""
    total = hashlib.sha256(f"{tool_fingerprint().hex()}\0msgspec {_version('msgspec')}\0".encode())

    def walk(folder: Traversable) -> None:
        for item in sorted(folder.iterdir(), key=lambda item: item.name):
            if item.is_dir():
                if not item.name.startswith((".", "__")):
                    walk(item)
            elif item.name.endswith((".py", ".json", ".yaml")):
                total.update(item.name.encode() + b"\0" + item.read_bytes())

    walk(resources.files("itscm_check"))
    return total.digest()


def _version(library: str) -> str:
    try:
        return metadata.version(library)
    except metadata.PackageNotFoundError:  # yaml_rs, where it has no wheel
        return "absent"


_CHECKSUM_SIZE = 4


def _checksum(payload: bytes) -> bytes:
    """What an entry keeps to tell that its payload was damaged (a torn or flipped write): a CRC-32,
    as its name already says what it holds. It takes half the time of a sha256 (0.02 s against 0.035 s
    for the 40 MB of a 10k inventory's entries, which a cold run writes and a warm one reads)."""
    return zlib.crc32(payload).to_bytes(_CHECKSUM_SIZE, "big")


@dataclass
class ParseCache:
    """A folder of entries; ``problem`` says why writing stopped (it is tried once per run).

    ``hits`` and ``misses`` count this process's reads: a forked child (the baseline's) keeps its own.
    The forked workers of a parse write the entries of what they parsed once they have sent it all
    (check_parts). With ``finishing`` (a list), a parse in the process that made the cache does not
    wait for them: they are left there, writing while it goes on, until finish(). Without it, and
    in a forked child (the baseline's, which has a copy of the list), each parse waits for its own.
    """

    folder: Path
    problem: str | None = None
    hits: int = field(default=0, compare=False)
    misses: int = field(default=0, compare=False)
    finishing: list[Forked[None]] | None = field(default=None, compare=False, repr=False)
    owner: int = field(default_factory=os.getpid, compare=False, repr=False)  # the process that made it

    def leave(self, writers: list[Forked[None]]) -> None:
        """Leave a parse's workers still writing entries to finish(), in the process that made the
        cache with ``finishing``; elsewhere, wait for them now."""
        own = self._own_finishing()
        if own is None:
            self.finish(writers)
        else:
            own += writers

    def finish(self, writers: list[Forked[None]] | None = None) -> None:
        """Wait for the workers still writing entries (``writers``, or else those in ``finishing``),
        and take the reason one of them could not write, if it could not."""
        if writers is None:
            writers = self._own_finishing() or []
        while writers:
            problem = writers.pop().finish()
            self.problem = self.problem or (problem if isinstance(problem, str) else None)

    def _own_finishing(self) -> list[Forked[None]] | None:
        """``finishing`` in the process that made the cache; None in a forked child, whose list is a
        copy of its parent's."""
        return self.finishing if os.getpid() == self.owner else None

    def get(self, key: str) -> bytes | None:
        """The payload stored under ``key``, or None when there is none or it is damaged."""
        try:
            with open(self.folder / key, "rb") as entry:
                used = os.fstat(entry.fileno()).st_mtime
                blob = entry.read()
        except OSError:
            return None
        header = _FORMAT + key.encode() + b"\n"
        checksum = blob[len(header):len(header) + _CHECKSUM_SIZE]
        payload = blob[len(header) + _CHECKSUM_SIZE:]
        if not blob.startswith(header) or _checksum(payload) != checksum:
            return None
        if used < time.time() - _TOUCH_AFTER_SECONDS:  # in use: prune() keeps it (a day is close enough)
            try:
                os.utime(self.folder / key)
            except OSError:
                pass  # a read-only cache still serves
        return payload

    def prune(self, max_age_days: int = _PRUNE_AFTER_DAYS) -> None:
        """Delete entries no run has used for ``max_age_days`` (older versions of files, older tools),
        once a day: the folder of a busy repository holds thousands, and a warm run reads few."""
        marker = self.folder / _PRUNED
        now = time.time()
        try:
            if marker.stat().st_mtime > now - _PRUNE_EVERY_SECONDS:
                return
        except OSError:
            pass  # never pruned
        cutoff = now - max_age_days * 86400
        try:
            marker.touch()  # first: a folder this run cannot write is not listed on every run
            entries = list(os.scandir(self.folder))
        except OSError:
            return  # nothing could be deleted either
        for entry in entries:
            try:
                stale = _ENTRY_NAME.fullmatch(entry.name) and entry.stat().st_mtime < cutoff
                # A temporary file an hour old was left by a run that was killed while writing.
                orphan = entry.name.startswith(".tmp-") and entry.stat().st_mtime < time.time() - 3600
                if stale or orphan:
                    os.unlink(entry.path)
            except OSError:
                pass  # another run took it first, or the folder is read-only: nothing is lost

    def put(self, key: str, payload: bytes) -> None:
        if self.problem is not None:
            return
        header = _FORMAT + key.encode() + b"\n" + _checksum(payload)
        try:
            self._ensure_folder()
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(header + payload)
                os.replace(temporary, self.folder / key)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError as exc:
            self._cannot_write(exc)

    def make_folder(self) -> None:
        """Create the folder now, before worker processes write their entries to it at once."""
        if self.problem is None:
            try:
                self._ensure_folder()
            except OSError as exc:
                self._cannot_write(exc)

    def _cannot_write(self, exc: OSError) -> None:
        self.problem = f"cannot write the cache in {display_path(self.folder)}: {exc.strerror or exc}; " \
                       "running without it (--no-cache hides this)"

    def _ensure_folder(self) -> None:
        if self.folder.is_dir():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        # Like pytest's and ruff's caches: never committed, skipped by backup tools.
        (self.folder / ".gitignore").write_text("# written by itscm-check\n*\n", encoding="utf-8")
        (self.folder / "CACHEDIR.TAG").write_text(
            "Signature: 8a477f597d28d172789f06886806bc55\n# the itscm-check parse cache\n", encoding="utf-8")


@dataclass(frozen=True)
class CheckedFiles:
    """Documents that parsed, every parse and schema error, each file's content sha256, and whether
    every file was read and parsed (so no document is missing; schema errors may remain)."""

    documents: list[Document]
    errors: list[InputError]
    content_digests: dict[Path, bytes]
    complete: bool


def load_checked(paths: Iterable[Path], schema: str, parse_cache: ParseCache | None) -> CheckedFiles:
    """Parse and validate every file against ``schema``, through the cache when there is one."""
    errors: list[InputError] = []
    digests: dict[Path, bytes] = {}
    checked = check_sources(read_files(paths, errors, digests), schema, parse_cache)
    return CheckedFiles(checked.documents, errors + checked.errors, digests, checked.complete and not errors)


def read_files(paths: Iterable[Path], errors: list[InputError], digests: dict[Path, bytes]
               ) -> Iterator[tuple[str, bytes]]:
    """Each readable file's shown path and bytes, one at a time (so that the bytes of a file found
    in the cache can be dropped at once); its sha256 goes to ``digests``, and a file that cannot be
    read to ``errors``."""
    for path in paths:
        shown = display_path(path)
        try:
            content = path.read_bytes()
        except OSError as exc:
            errors.append(InputError(Location(shown, 0), f"cannot read file: {exc.strerror}"))
            continue
        digests[path] = hashlib.sha256(content).digest()
        yield shown, content


class Checked(NamedTuple):
    """What parsing and validating a file, or a part of one, gave."""

    documents: list[Document]
    errors: list[InputError]
    complete: bool  # no parse error: every document is in ``documents``, schema errors or not


def check_sources(sources: Iterable[tuple[str, bytes]], schema: str, parse_cache: ParseCache | None) -> Checked:
    """Parse and validate each (shown path, content) pair, in order, through the cache when there is one.

    The unit of work is a part of a file (file_parts): one document of a multi-document file, or
    a fragment of a large document, is parsed again when it changes, not the whole file.
    """
    checked = read_cut(sources, schema == "inventory", parse_cache,
                       lambda parts: check_parts(parts, schema, parse_cache))
    documents: list[Document] = []
    errors: list[InputError] = []
    for part in checked:
        documents += part.documents
        errors += part.errors
    return Checked(documents, errors, all(part.complete for part in checked))


class FilePart(NamedTuple):
    """What is parsed, validated and cached as one: a document of a multi-document file
    (split_documents), or a fragment of a large one (see fragments)."""

    shown: str
    offset: int  # the lines of the file before it (a continuation's: before the key line it is given)
    content: bytes
    fragment: Fragment | None = None
    document: bytes = b""  # a fragment's whole document, read whole when a fragment does not fit


class Misfit(Exception):
    """A fragment did not read as it was cut: its document must be read whole (see fragments)."""

    def __init__(self, document: bytes) -> None:
        super().__init__("a fragment did not read as it was cut")
        self.document = document

    def __reduce__(self) -> tuple[type[Misfit], tuple[bytes]]:  # a forked child sends it (model_cache)
        return Misfit, (self.document,)


T = TypeVar("T")


def read_cut(sources: Iterable[tuple[str, bytes]], cut: bool, parse_cache: ParseCache | None,
             read: Callable[[list[FilePart]], T]) -> T:
    """``read`` of the sources' parts (file_parts); again with a document whole when a fragment of
    it did not fit its cuts (Misfit). The sources' bytes are kept for that, where there is one to cut."""
    sources = list(sources) if cut else sources
    whole: set[bytes] = set()
    while True:
        try:
            return read(list(file_parts(sources, cut, whole, parse_cache)))
        except Misfit as misfit:
            whole.add(misfit.document)


def file_parts(sources: Iterable[tuple[str, bytes]], cut: bool = False, whole: Container[bytes] = (),
               parse_cache: ParseCache | None = None) -> Iterator[FilePart]:
    """Each (shown path, content) source cut into its parts. With ``cut``, a large document is cut
    into fragments (see fragments), unless it is in ``whole`` or the cache says that it does not
    fit its cuts."""
    for shown, content in sources:
        for offset, part in split_documents(content):
            fragments = plan(part) if cut else None
            # "whole and": hashing 14 MB to look in an empty set costs 0.01 s.
            if fragments is not None and ((whole and part in whole) or
                                          (parse_cache is not None and parse_cache.get(_whole_key(part)) is not None)):
                fragments = None
            if fragments is None:
                yield FilePart(shown, offset, part)
            else:
                yield from (FilePart(shown, offset + fragment.line_shift, fragment.content, fragment, part)
                            for fragment in fragments)


def _whole_key(document: bytes) -> str:
    """The name of the mark that a document did not fit its cuts: a later run reads it whole at once."""
    return hashlib.sha256(b"whole\0" + entry_key(document, "inventory").encode()).hexdigest()


def check_parts(parts: Iterable[FilePart], schema: str, parse_cache: ParseCache | None,
                then: Callable[[Checked], Any] | None = None,
                then_entry: Callable[[FilePart, str], str] | None = None,
                taken: Callable[[Any], Any] | None = None,
                entries: Sequence[tuple[str, bytes | None]] | None = None) -> list[Any]:
    """What each part of a file gives, with lines counted from the start of its file: its
    Checked, or what ``then`` makes of it where it was parsed (in a worker, which then sends that
    rather than the documents) or read from the cache. With ``then_entry``, which names what is
    made of a part where it is (from the part and its parse entry's name), what ``then`` made
    (as bytes(), or None for nothing) is kept in the part's entry beside its parse, under that name
    (kept_beside), written where it was made. Parts the cache does not have are parsed in worker
    processes when there are enough of them; with ``taken``, the list holds what it makes of each
    part's result in this process, as each is done, while the workers go on with the others.
    ``entries`` are the parts' entry names and entries (entry_key, ParseCache.get), when the caller
    has read them already: hashing every part again costs a cold run of 10k services 0.015 s.
    Raises Misfit when a fragment did not read as it was cut."""
    found: dict[int, Any] = {}
    missing: list[tuple[int, FilePart, str]] = []  # index, part, cache key
    count = 0
    for index, part in enumerate(parts):
        count += 1
        if entries is not None:
            key, entry = entries[index]
        elif parse_cache is not None:
            key = entry_key(part.content, schema, part.fragment)
            entry = parse_cache.get(key)
        else:
            key, entry = "", None
        sections = _sections(entry) if parse_cache is not None else None
        hit = _decode(sections[0], part.shown, part.fragment) if sections is not None else None
        if sections is None or hit is None:
            missing.append((index, part, key))
        else:
            placed_hit = _shifted(hit, part.offset)
            made = placed_hit if then is None else then(placed_hit)
            beside = _beside(then_entry, part, key, made) if then is not None else None
            if parse_cache is not None and beside is not None:  # made here: the entry is written again with it
                parse_cache.put(key, _entry(sections[0], _with(sections[1], beside)))
            found[index] = made if taken is None else taken(made)
    if parse_cache is not None:
        parse_cache.hits, parse_cache.misses = parse_cache.hits + len(found), parse_cache.misses + len(missing)
    jobs: list[_Job] = [(part.content, part.shown, part.offset, part.fragment, key) for _, part, key in missing]
    workers = min(len(jobs), parse_processes(sum(len(job[0]) for job in jobs)))
    if parse_cache is not None and workers > 1:
        parse_cache.make_folder()
    # This process writes the entries of what it parses at once. A forked worker keeps them until
    # it has no chunk left and has sent everything, and writes them while this process goes on
    # alone (building the inventory and its index), on a CPU that would be idle: a cold 100k run's
    # entries take 2 s of CPU to encode and write.
    here, unwritten = os.getpid(), []

    def write(entry: Callable[[], None]) -> None:
        if os.getpid() == here:
            entry()
        else:
            unwritten.append(entry)
    check = partial(_check_chunk, schema=schema, then=then, then_entry=then_entry, parse_cache=parse_cache, write=write)
    writers: list[Forked[None]] = []
    done = _in_workers(check, jobs, workers, partial(_write_all, unwritten, parse_cache), writers) if workers > 1 \
        else enumerate(check(jobs))
    try:
        for position, result in done:
            index, part, key = missing[position]
            if result is None:
                if parse_cache is not None:
                    parse_cache.put(_whole_key(part.document), b"")
                raise Misfit(part.document)
            payload, made = result
            if then is None:
                assert payload is not None  # sent whenever there is no then
                decoded = _decode(payload, part.shown, part.fragment)
                assert decoded is not None  # written by this very code a moment ago
                made = _shifted(decoded, part.offset)
            found[index] = made if taken is None else taken(made)
    finally:
        if isinstance(done, Generator):
            done.close()  # stops the forked children now: a forked child that raises leaves at once
        if parse_cache is not None:
            parse_cache.leave(writers)
    return [found[index] for index in range(count)]


def _write_all(entries: list[Callable[[], None]], parse_cache: ParseCache | None) -> str | None:
    """In a forked worker, once it has sent everything: write the entries it kept, and say why it
    could not, if it could not (its copy of the cache is its own)."""
    entries.reverse()
    while entries:
        entries.pop()()  # dropped once written: its documents are freed as the worker goes on
    return parse_cache.problem if parse_cache is not None else None


# A job for a worker: a part's bytes, its shown path, the lines of its file before it, the
# fragment it is, if it is one, and the name of its cache entry.
_Job = tuple[bytes, str, int, "Fragment | None", str]
# What a worker sends for a job: the part's parse as its entry keeps it (_encode; only without
# ``then``: it brings the Checked back), and what ``then`` made of it.
_Done = tuple["bytes | None", Any]


def _shifted(checked: Checked, offset: int) -> Checked:
    """A part's documents and errors with lines counted ``offset`` lines further on: from the start
    of its file rather than of the part (line 0 stays 0)."""
    if not offset:
        return checked
    return Checked([replace(document, line_offset=document.line_offset + offset) for document in checked.documents],
                   [replace(e, location=Location(e.location.path, e.location.line + offset),
                            first_line=e.first_line and e.first_line + offset) if e.location.line else e
                    for e in checked.errors], checked.complete)


# Below this many bytes to parse, starting workers costs more than it saves.
_PARALLEL_BYTES = 1_000_000


def parse_processes(pending_bytes: int) -> int:
    """How many processes should parse, this one and forked children: forked only, as a spawned
    one pays every import again (parallel.forked_cpus, read through its module, so that what
    patches it for a test sizes the parse too)."""
    if pending_bytes < _PARALLEL_BYTES:
        return 1
    return min(parallel.forked_cpus(), 1 + pending_bytes // _PARALLEL_BYTES)


def _in_workers(check: Callable[[list[_Job]], list[_Done | None]], jobs: list[_Job], workers: int,
                afterwards: Callable[[], object] | None = None, finishing: list[Forked[None]] | None = None
                ) -> Iterator[tuple[int, _Done | None]]:
    """What ``check`` gives for each job, with the job's place in ``jobs``, from this process and
    ``workers - 1`` forked children (parallel.shared_tasks): chunks of about equal size keep each
    busy to the end, and this process takes in its own and the children's as it goes. The children
    call ``afterwards`` once they have sent everything, in ``finishing`` meanwhile."""
    # Each job goes to the chunk its middle byte falls in, of the jobs' bytes in order cut into
    # equal shares: chunks that each take jobs until they are full would leave a last one of a
    # few bytes, and one process with a whole chunk more to do than the others.
    count = workers * 16
    total = sum(len(job[0]) for job in jobs) or 1
    shares: list[list[int]] = [[] for _ in range(count)]
    start = 0
    for position, job in enumerate(jobs):
        shares[min(count - 1, (start + len(job[0]) // 2) * count // total)].append(position)
        start += len(job[0])
    chunks = [share for share in shares if share]

    def chunk(n: int) -> list[_Done | None]:
        return check([jobs[position] for position in chunks[n]])

    with closing(shared_tasks(len(chunks), chunk, workers - 1, afterwards=afterwards, finishing=finishing)) as tasks:
        # Closed, the children stop.
        for n, done in tasks:
            yield from zip(chunks[n], done)


def _check_chunk(jobs: list[_Job], schema: str, then: Callable[[Checked], Any] | None,
                 then_entry: Callable[[FilePart, str], str] | None, parse_cache: ParseCache | None,
                 write: Callable[[Callable[[], None]], None]) -> list[_Done | None]:
    """Parse and check each job, and ``write`` its cache entry's writing, here, where it was
    parsed: what the job gives (_Done), or None for a fragment that did not read as it was cut."""
    done: list[_Done | None] = []
    for content, shown, offset, fragment, key in jobs:
        checked = _check(content, shown, schema, fragment)
        if fragment is not None and not fits(fragment, checked):
            done.append(None)
            continue
        made = then(_shifted(checked, offset)) if then is not None else None
        # Without a cache folder an entry is only needed to bring a Checked back from a worker.
        payload = _encode(checked, fragment) if then is None else None
        if parse_cache is not None:
            beside = _beside(then_entry, FilePart(shown, offset, content, fragment), key, made)
            write(partial(_write_entry, parse_cache, key, payload, checked, fragment, beside))
        done.append((payload, made))
    return done


def _write_entry(parse_cache: ParseCache, key: str, payload: bytes | None, checked: Checked,
                 fragment: Fragment | None, beside: tuple[str, bytes] | None) -> None:
    """Write a part's entry: its parse (``payload``, or else ``checked`` encoded now: the documents
    must not be read afterwards, see _encode) and what was made of it."""
    parse_cache.put(key, _entry(payload if payload is not None else _encode(checked, fragment),
                                (beside,) if beside is not None else ()))


def _beside(then_entry: Callable[[FilePart, str], str] | None, part: FilePart, key: str, made: Any
            ) -> tuple[str, bytes] | None:
    """What ``then`` made of a part, under ``then_entry``'s name for it, to keep in its entry (see check_parts)."""
    return (then_entry(part, key), bytes(made)) if then_entry is not None and made is not None else None


# A part's entry holds its parse and what was made of it where it was last read (the model cache's
# records), so that a cold run writes one file per part: creating a file costs more than what it
# holds. What was made is kept for the last _KEPT places (names) the part was read at: the working
# tree and a --baseline ref's child read the same bytes under other paths, and would otherwise
# write each other's out of the entry on every run.
_KEPT = 2
_Kept = tuple[tuple[str, bytes], ...]  # (name, what was made), the latest first


def _entry(parsed: bytes, kept: _Kept = ()) -> bytes:
    """A part's entry: its parse (_encode) and what was made of it, by name."""
    return marshal.dumps((parsed, kept), _MARSHAL_VERSION)


def _sections(entry: bytes | None) -> tuple[bytes, _Kept] | None:
    """An entry's parse and what is kept beside it, or None when there is no entry or it is not
    what this version writes."""
    if entry is None:
        return None
    try:
        parsed, kept = marshal.loads(entry)
    except (ValueError, TypeError, EOFError):
        return None
    if type(parsed) is not bytes or type(kept) is not tuple or not all(
            type(pair) is tuple and len(pair) == 2 and type(pair[0]) is str and type(pair[1]) is bytes
            for pair in kept):
        return None
    return parsed, kept


def _with(kept: _Kept, beside: tuple[str, bytes]) -> _Kept:
    """``beside`` first, then what else was kept, up to _KEPT names."""
    return (beside, *(pair for pair in kept if pair[0] != beside[0]))[:_KEPT]


def kept_beside(entry: bytes | None, name: str) -> bytes | None:
    """What a part's entry (ParseCache.get of its parse key) keeps under ``name``, or None."""
    sections = _sections(entry)
    return next((made for kept, made in sections[1] if kept == name), None) if sections is not None else None


def keep_beside(parse_cache: ParseCache, key: str, name: str, made: bytes) -> None:
    """Keep ``made`` under ``name`` in the entry ``key`` of a part, beside its parse, if it has one."""
    sections = _sections(parse_cache.get(key))
    if sections is not None:
        parse_cache.put(key, _entry(sections[0], _with(sections[1], (name, made))))


def entry_key(content: bytes, schema: str, fragment: Fragment | None = None) -> str:
    """The name of the entry of a part with these bytes, checked against ``schema`` (as the
    ``fragment`` of a document it is cut as, if it is one: what it must read as is part of its
    name, but not where it is in its file, which _decode sets)."""
    total = hashlib.sha256(tool_fingerprint())
    if fragment is not None:
        total.update(repr((fragment.keys, fragment.items)).encode() + b"\0")
    # The paths read alike, but ITSCM_CHECK_PARSER=pyyaml must not be answered from entries of the other.
    total.update(b"fast\0" if fast_yaml.enabled() else b"pyyaml\0")
    total.update(schema.encode() + b"\0")
    total.update(content)
    return total.hexdigest()


def _check(content: bytes, shown: str, schema: str, fragment: Fragment | None = None) -> Checked:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Checked([], [InputError(Location(shown, 0), "file is not UTF-8 text", "save the file as UTF-8")], False)
    documents, errors = load_text(text, shown)
    if fragment is not None:
        documents = placed(fragment, documents)
    complete = not errors
    for document in documents:
        errors += validate(document, schema)
    return Checked(documents, errors, complete)


def _encode(checked: Checked, fragment: Fragment | None) -> bytes:
    """marshal data; the shown path is left out, as the same bytes may be read under another name.
    A fragment's entry keeps where the fragment was placed (see _decode).

    marshal takes plain str only, so the documents' timestamps are made plain text, in place: the
    documents must not be read afterwards (putting them back cost a 10k inventory 0.05 s of CPU)."""
    documents, errors, complete = checked
    stored_documents = []
    for document in documents:
        data = document.data
        for where in document.timestamps:
            data = _retype(data, where, str)
        stored_documents.append((data, document.lines, document.timestamps))
    stored_errors = [(e.location.line, e.message, e.hint, e.first_line) for e in errors]
    return marshal.dumps((stored_documents, stored_errors, complete, _placement(fragment)), _MARSHAL_VERSION)


def _placement(fragment: Fragment | None) -> tuple[int, int]:
    """Where a continuation fragment is in its whole document: the index its items count from and
    its key's line (fragments.placed); (0, 0) for any other part."""
    return (fragment.index_offset, fragment.key_line) if fragment is not None else (0, 0)


def _decode(payload: bytes, shown: str, fragment: Fragment | None = None) -> Checked | None:
    """The entry's documents and errors, placed as ``fragment`` is, or None when it is not what
    this version writes.

    The same continuation fragment moves in its file when an item is added or removed before
    it: its documents are placed again, but an entry with errors is not used, as its messages
    name the lines and items of the place it was parsed at."""
    try:
        stored_documents, stored_errors, complete, placement = marshal.loads(payload)
        if type(complete) is not bool or type(placement) is not tuple:
            return None
        documents = []
        for data, lines, timestamps in stored_documents:
            if not isinstance(lines, tuple) or len(lines) != 4 or not isinstance(timestamps, tuple):
                return None
            for where in timestamps:
                data = _retype(data, where, YamlTimestamp)
            documents.append(Document(shown, data, lines, timestamps))
        errors = [InputError(Location(shown, line), message, hint, first_line)
                  for line, message, hint, first_line in stored_errors]
    except (ValueError, TypeError, EOFError, KeyError, IndexError):
        return None  # not marshal data of this shape: a foreign or damaged entry
    if fragment is None:
        return Checked(documents, errors, complete)
    if placement != _placement(fragment) and (errors or not (placement[0] and fragment.index_offset)):
        return None
    return Checked(placed(fragment, documents), errors, complete)


def _retype(data: Any, where: tuple[Any, ...], kind: type) -> Any:
    """``data`` with the value at ``where`` converted to ``kind``, in place unless it is the root."""
    if not where:
        return kind(data)
    parent = data
    for step in where[:-1]:
        parent = parent[step]
    parent[where[-1]] = kind(parent[where[-1]])
    return data
