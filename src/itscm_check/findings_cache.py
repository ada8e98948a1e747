"""The findings cache: the findings of rules that read one service alone, kept per part of a file.

A rule whose subjects are a service or its plans, exercises, backups and restore tests, and whose
conditions and messages read no dependency (Rule.one_service), finds on the services of a part
of a file what it found last time, whatever changed in other files, when the part, the policies,
the sites, the as-of date and the tool are the same. Those findings, before waivers, are read back
from an entry named by all of these; only the rules that read more of the inventory (dependencies,
the graph, teams, vendors, the programme) and the services of changed parts are evaluated again.
Entries live in the parse cache's folder beside the model cache's, and are msgspec MessagePack
decoded into Findings only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import msgspec

from itscm_check.cache import ParseCache
from itscm_check.findings import Finding
from itscm_check.inventory import Site
from itscm_check.model_cache import encode_records

_DECODER = msgspec.msgpack.Decoder(list[Finding])


@dataclass(frozen=True)
class Reuse:
    """Where the findings of one-service rules are kept, and what names their entries."""

    parse_cache: ParseCache
    parts: dict[str, str]  # each service's id: the model cache's name of the entry of its part
    context: bytes  # the policies, the sites, the as-of date and the tool, digested

    def entry(self, part: str) -> str:
        return hashlib.sha256(b"findings\0" + self.context + part.encode()).hexdigest()

    def read(self) -> tuple[list[Finding], frozenset[str]]:
        """The stored findings, and the ids of the services whose parts they cover."""
        findings: list[Finding] = []
        covered: set[str] = set()
        for part, services in _services_by_part(self.parts).items():
            stored = _decode(self.parse_cache.get(self.entry(part)))
            if stored is not None:
                findings += stored
                covered.update(services)
        return findings, frozenset(covered)

    def write(self, findings: Iterable[Finding], covered: frozenset[str]) -> None:
        """Store the one-service rules' ``findings`` on every service outside ``covered``, per part."""
        by_part: dict[str, list[Finding]] = {part: [] for part, services in _services_by_part(self.parts).items()
                                             if not covered.intersection(services)}
        for finding in findings:
            part = self.parts.get(finding.target)
            if part in by_part:
                by_part[part].append(finding)
        for part, part_findings in by_part.items():
            payload = encode_records(part_findings)
            if payload is not None:
                self.parse_cache.put(self.entry(part), payload)


def reuse(parse_cache: ParseCache | None, parts: dict[str, str], policy_files: list[Path], sites: tuple[Site, ...],
          as_of: dt.date) -> Reuse | None:
    """The findings cache of one run, or None when there is no cache folder or no part to key on.
    ``policy_files`` are in the order they are loaded: a later file's override wins."""
    # A one-service rule may read its service's sites, which are defined in another file.
    stored_sites = encode_records(sites)
    if parse_cache is None or not parts or stored_sites is None:
        return None
    context = hashlib.sha256(_code_fingerprint())
    for path in policy_files:
        context.update(hashlib.sha256(path.read_bytes()).digest())
    context.update(f"{as_of.isoformat()}\0".encode() + stored_sites)
    return Reuse(parse_cache, parts, context.digest())


def _services_by_part(parts: dict[str, str]) -> dict[str, list[str]]:
    by_part: dict[str, list[str]] = {}
    for service, part in parts.items():
        by_part.setdefault(part, []).append(service)
    return by_part


@cache
def _code_fingerprint() -> bytes:
    """Every module, schema and built-in policy of the package: any of them may change a finding."""
    total = hashlib.sha256(f"msgspec {msgspec.__version__}\0".encode())

    def walk(folder: Traversable) -> None:
        for item in sorted(folder.iterdir(), key=lambda item: item.name):
            if item.is_dir():
                if not item.name.startswith((".", "__")):
                    walk(item)
            elif item.name.endswith((".py", ".json", ".yaml")):
                total.update(item.name.encode() + b"\0" + item.read_bytes())

    walk(resources.files("itscm_check"))
    return total.digest()


def _decode(payload: bytes | None) -> list[Finding] | None:
    if payload is None:
        return None
    try:
        return _DECODER.decode(payload)
    except (msgspec.DecodeError, TypeError, ValueError):
        return None
