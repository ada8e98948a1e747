"""The findings cache: the findings of rules that read little of the inventory, kept per part of a file.

A rule's reach (Rule.reach, names.reach) says what its outcome on a subject reads:
- SERVICE: the subject's service alone (its fields, plans, exercises, backups and sites). Its
  findings on the services of a part of a file are what they were last time, whatever changed in
  other files, when the part, the policies, the sites, the as-of date and the tool are the same.
- NEIGHBOURS: that, and the services and vendors its dependencies name. Its findings are also
  keyed on each dependency's ref and the part that defines what the ref names (or on nothing,
  for a ref that resolves to nothing): a change to a named service or vendor, or a service or
  vendor that appears under a dangling ref, misses.

Those findings, before waivers, are read back from entries named by all of these; only the rules
that read more (the dependency graph, teams, vendors, the programme) and the services of parts
that missed are evaluated again. A run that shows passing checks (HTML, JUnit) keeps every check
of those rules too, in entries of its own. Entries live in the parse cache's folder beside the
model cache's, and are msgspec MessagePack decoded into Findings and CheckResults only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from itscm_check.cache import ParseCache, package_fingerprint
from itscm_check.findings import CheckResult, Finding
from itscm_check.inventory import Inventory, Service, vendor_id
from itscm_check.model_cache import PartKeys, decode_records, encode_records
from itscm_check.policy.names import NEIGHBOURS, SERVICE

if TYPE_CHECKING:
    from itscm_check.engine import Evaluation

_FINDINGS = msgspec.msgpack.Decoder(list[Finding])
_CHECKS = msgspec.msgpack.Decoder(tuple[list[Finding], list[CheckResult]])


@dataclass(frozen=True)
class Reuse:
    """Where the findings of rules of a kept reach are, in one run."""

    parse_cache: ParseCache
    # Per reach (SERVICE, NEIGHBOURS): each entry's name and the ids of the services it keeps.
    entries: dict[str, dict[str, tuple[str, ...]]]
    # Whether the run collects passing checks (HTML, JUnit): its entries then hold every check
    # (CheckResult) of their rules on their services too. Their names say so.
    passing: bool = False

    def read(self) -> tuple[list[Finding], list[CheckResult], dict[str, frozenset[str]]]:
        """The stored findings and checks, and per reach the ids of the services they are about."""
        findings: list[Finding] = []
        results: list[CheckResult] = []
        covered: dict[str, frozenset[str]] = {}
        decoder = _CHECKS if self.passing else _FINDINGS
        for reach, entries in self.entries.items():
            found: set[str] = set()
            for name, services in entries.items():
                stored = decode_records(decoder, self.parse_cache.get(name))
                if stored is not None:
                    if self.passing:
                        findings += stored[0]
                        results += stored[1]
                    else:
                        findings += stored
                    found.update(services)
            covered[reach] = frozenset(found)
        return findings, results, covered

    def write(self, evaluation: Evaluation, reach_of: dict[str, str], covered: dict[str, frozenset[str]]) -> None:
        """Store what ``evaluation`` found (and checked, with ``passing``) with rules of a kept reach
        (``reach_of`` gives each rule id's) on the services of every entry that read() did not find
        (``covered`` is what it gave)."""
        by_entry: dict[str, tuple[list[Finding], list[CheckResult]]] = {}
        entry_of: dict[tuple[str, str], str] = {}  # (reach, service id): entry name
        for reach, entries in self.entries.items():
            found = covered.get(reach, frozenset())
            for name, services in entries.items():
                if not found.intersection(services):
                    by_entry[name] = ([], [])
                    entry_of.update(((reach, service), name) for service in services)
        for finding in evaluation.findings:
            entry = entry_of.get((reach_of.get(finding.rule_id, ""), finding.target))
            if entry is not None:
                by_entry[entry][0].append(finding)
        for result in evaluation.results or ():
            entry = entry_of.get((reach_of.get(result.rule_id, ""), result.target))
            if entry is not None:
                by_entry[entry][1].append(result)
        for name, (entry_findings, entry_results) in by_entry.items():
            payload = encode_records((entry_findings, entry_results) if self.passing else entry_findings)
            if payload is not None:
                self.parse_cache.put(name, payload)


def reuse(parse_cache: ParseCache | None, parts: PartKeys | None, policy_digests: Iterable[bytes],
          inventory: Inventory, as_of: dt.date, passing: bool = False) -> Reuse | None:
    """The findings cache of one run, or None when there is no cache folder or no part to key on.
    ``parts`` gives the model entry of the part that defines each service and vendor; ``passing``
    says whether the run collects passing checks.
    ``policy_digests`` are the sha256 of the policy files the rules were loaded from, in the order
    they were loaded: a later file's override wins."""
    if parse_cache is None or parts is None:
        return None
    stored_sites = encode_records(inventory.sites)  # a service's sites are records of another file
    if stored_sites is None:
        return None
    context = hashlib.sha256(package_fingerprint())
    for policy in policy_digests:
        context.update(policy)
    context.update(f"{as_of.isoformat()}\0".encode() + stored_sites)
    by_part: dict[str, list[Service]] = {}
    for service in inventory.services:
        part = parts.services.get(service.id)
        if part is not None:  # else not kept: evaluated every run
            by_part.setdefault(part, []).append(service)
    entries: dict[str, dict[str, tuple[str, ...]]] = {SERVICE: {}, NEIGHBOURS: {}}
    for part, services in by_part.items():
        ids = tuple(service.id for service in services)
        # Each ref with the part that defines what it names: the same refs naming the same parts'
        # records give the same findings.
        named = "".join(f"\0{dep.ref}\0{_defining(parts, dep.ref)}" for service in services for dep in service.dependencies)
        for reach, key in ((SERVICE, part), (NEIGHBOURS, part + named)):
            name = hashlib.sha256(f"findings\0{reach}\0{'checks' if passing else ''}\0".encode() + context.digest()
                                  + key.encode())
            entries[reach][name.hexdigest()] = ids
    return Reuse(parse_cache, entries, passing)


def _defining(parts: PartKeys, ref: str) -> str:
    """The entry of the part that defines what a dependency's ref names, as Index resolves it, or ""."""
    vendor = vendor_id(ref)
    return parts.services.get(ref, "") if vendor is None else parts.vendors.get(vendor, "")
