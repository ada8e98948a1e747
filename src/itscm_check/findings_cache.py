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

import msgspec

from itscm_check.cache import ParseCache, package_fingerprint
from itscm_check.findings import Finding
from itscm_check.inventory import Site
from itscm_check.model_cache import decode_records, encode_records

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


def reuse(parse_cache: ParseCache | None, parts: dict[str, str], policy_digests: Iterable[bytes],
          sites: tuple[Site, ...], as_of: dt.date) -> Reuse | None:
    """The findings cache of one run, or None when there is no cache folder or no part to key on.
    ``policy_digests`` are the sha256 of the policy files the rules were loaded from, in the order
    they were loaded: a later file's override wins."""
    if parse_cache is None or not parts:
        return None
    stored_sites = encode_records(sites)  # a one-service rule may read its service's sites
    if stored_sites is None:
        return None
    context = hashlib.sha256(package_fingerprint())
    for policy in policy_digests:
        context.update(policy)
    context.update(f"{as_of.isoformat()}\0".encode() + stored_sites)
    return Reuse(parse_cache, parts, context.digest())


def _services_by_part(parts: dict[str, str]) -> dict[str, list[str]]:
    by_part: dict[str, list[str]] = {}
    for service, part in parts.items():
        by_part.setdefault(part, []).append(service)
    return by_part


def _decode(payload: bytes | None) -> list[Finding] | None:
    return decode_records(_DECODER, payload)  # type: ignore[no-any-return]
