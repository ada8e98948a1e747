"""The findings cache: the findings of rules that read little of the inventory, kept per part of a file.

A rule's reach (Rule.reach, names.reach) says what its outcome on a subject reads:
- SERVICE: the subject's service alone (its fields, plans, exercises, backups and sites). Its
  findings on the services of a part of a file are what they were last time, whatever changed in
  other files, when the part, the policies, the sites, the as-of date and the tool are the same.
  Where the part is in its file is not in the key: a fragment after an added item keeps its
  findings, their lines moved with it (model_cache.PartKeys).
- NEIGHBOURS: that, and the services and vendors its dependencies name. Its findings are also
  keyed on each dependency's ref and the part that defines what the ref names (or on nothing,
  for a ref that resolves to nothing): a change to a named service or vendor, or a service or
  vendor that appears under a dangling ref, misses.

Those findings, before waivers, are read back; only the rules that read more (the dependency
graph, teams, vendors, the programme) and the services of parts that missed are evaluated again.
Each part has a section, named by its SERVICE key, with both reaches' findings and the NEIGHBOURS
key the second were made under: a part whose named records changed keeps its own findings. The
sections of the parts of one run are one entry in the parse cache's folder, named by what the run
checks (its inventory paths, the policies, the sites, the as-of date, the tool; the baseline's
child has its own), which the next such run reads and writes again when a part missed, keeping
the sections of parts it does not have (a file before a change) up to as many as its own: a cold
run writes one file, not one per part, as creating a file costs more than what it holds. A run that
shows passing checks (HTML, JUnit) keeps every check of those rules too, in an entry of its own.
Entries are msgspec MessagePack decoded into Findings and CheckResults only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from itscm_check.cache import ParseCache, package_fingerprint
from itscm_check.errors import Location
from itscm_check.findings import CheckResult, Finding
from itscm_check.inventory import Inventory, Service, vendor_id
from itscm_check.model_cache import PartKeys, decode_records, encode_records
from itscm_check.policy.names import NEIGHBOURS, SERVICE

if TYPE_CHECKING:
    from itscm_check.engine import Evaluation

_FINDINGS = msgspec.msgpack.Decoder(list[Finding])
_CHECKS = msgspec.msgpack.Decoder(tuple[list[Finding], list[CheckResult]])
# A part's section: the SERVICE rules' findings, the NEIGHBOURS key, the NEIGHBOURS rules' findings,
# each encoded on its own, so that what is read back is written again as it was, and the lines of
# the file before the part when they were found. An entry holds them by the parts' SERVICE keys.
_Section = tuple[bytes, str, bytes, int]
_ENTRY = msgspec.msgpack.Decoder(dict[str, _Section])
_REACHES = (SERVICE, NEIGHBOURS)


class _Part(NamedTuple):
    """A part of a file as the findings cache keeps it."""

    entry: str  # its section's name, from its SERVICE key
    neighbours: str  # its NEIGHBOURS key
    services: tuple[str, ...]  # the ids of its services
    line_offset: int  # the lines of its file before it


@dataclass(frozen=True)
class Reuse:
    """Where the findings of rules of a kept reach are, in one run."""

    parse_cache: ParseCache
    name: str  # the entry of the run's parts
    parts: tuple[_Part, ...]
    stored: dict[str, _Section]  # the sections the entry held when the run began
    # Whether the run collects passing checks (HTML, JUnit): its entry then holds every check
    # (CheckResult) of their rules on their services too. Its name says so.
    passing: bool = False

    def read(self) -> tuple[list[Finding], list[CheckResult], dict[str, frozenset[str]]]:
        """The stored findings and checks, and per reach the ids of the services they are about."""
        findings: list[Finding] = []
        results: list[CheckResult] = []
        covered: dict[str, set[str]] = {reach: set() for reach in _REACHES}
        for part in self.parts:
            for reach, stored in zip(_REACHES, self._sections(part)):
                if stored is not None:
                    if self.passing:
                        findings += stored[0]
                        results += stored[1]
                    else:
                        findings += stored
                    covered[reach].update(part.services)
        return findings, results, {reach: frozenset(ids) for reach, ids in covered.items()}

    def _sections(self, part: _Part) -> tuple[Any, Any]:
        """What the part's entry holds for each reach, decoded; None for a section it lacks. The
        NEIGHBOURS section counts only under the part's current NEIGHBOURS key. The findings are
        at the part's lines now: a part that moved in its file (a fragment after an added item)
        keeps its section, and every line of its findings moves by as many lines as it did."""
        entry = self.stored.get(part.entry)
        if entry is None:
            return None, None
        decoder = _CHECKS if self.passing else _FINDINGS
        own = self._moved(decode_records(decoder, entry[0]), part.line_offset - entry[3])
        if own is None or entry[1] != part.neighbours:
            return own, None
        return own, self._moved(decode_records(decoder, entry[2]), part.line_offset - entry[3])

    def _moved(self, section: Any, lines: int) -> Any:
        """A decoded section with its findings ``lines`` further down their file."""
        if section is None or not lines:
            return section
        findings = section[0] if self.passing else section
        moved = [replace(finding, location=Location(finding.location.path, finding.location.line + lines))
                 if finding.location.line else finding for finding in findings]
        return (moved, section[1]) if self.passing else moved

    def write(self, evaluation: Evaluation, reach_of: dict[str, str], covered: dict[str, frozenset[str]]) -> None:
        """Store what ``evaluation`` found (and checked, with ``passing``) with rules of a kept reach
        (``reach_of`` gives each rule id's) on the services of every part that read() did not find
        in full (``covered`` is what it gave), with the sections of the others as they were."""
        missed: dict[tuple[str, str], tuple[list[Finding], list[CheckResult]]] = {}  # (part's entry, reach)
        section_of: dict[tuple[str, str], tuple[str, str]] = {}  # (reach, service id): (part's entry, reach)
        for part in self.parts:
            for reach in _REACHES:
                if not covered.get(reach, frozenset()).intersection(part.services):
                    missed[part.entry, reach] = ([], [])
                    section_of.update(((reach, service), (part.entry, reach)) for service in part.services)
        for finding in evaluation.findings:
            section = section_of.get((reach_of.get(finding.rule_id, ""), finding.target))
            if section is not None:
                missed[section][0].append(finding)
        for result in evaluation.results or ():
            section = section_of.get((reach_of.get(result.rule_id, ""), result.target))
            if section is not None:
                missed[section][1].append(result)
        if not missed:
            return  # every part read back whole: the entry holds them
        sections: dict[str, _Section] = {}
        for part in self.parts:
            stored = self.stored.get(part.entry)
            if (part.entry, NEIGHBOURS) not in missed:
                if stored is not None:  # read back whole
                    sections[part.entry] = stored
                continue
            own = self._encoded(missed.get((part.entry, SERVICE)))
            if own is None and stored is not None:  # read back: the part's named records changed, not the part
                lines = part.line_offset - stored[3]
                own = self._at_lines(stored[0], lines) if lines else stored[0]
            near = self._encoded(missed[part.entry, NEIGHBOURS])
            if own is not None and near is not None:
                sections[part.entry] = (own, part.neighbours, near, part.line_offset)
        # The sections of parts this run does not have (a file as it was before a change, which a
        # change back reads again; another branch's) are kept too, the latest first, up to as many
        # as the run's own.
        others = [(entry, section) for entry, section in self.stored.items() if entry not in sections]
        sections.update(others[:len(self.parts)])
        payload = encode_records(sections)
        if payload is not None:
            self.parse_cache.put(self.name, payload)

    def _at_lines(self, section: bytes, lines: int) -> bytes | None:
        """An encoded section with its findings ``lines`` further down their file."""
        stored = self._moved(decode_records(_CHECKS if self.passing else _FINDINGS, section), lines)
        return self._encoded(stored if self.passing else (stored, [])) if stored is not None else None

    def _encoded(self, section: tuple[list[Finding], list[CheckResult]] | None) -> bytes | None:
        if section is None:
            return None
        return encode_records(section if self.passing else section[0])


def reuse(parse_cache: ParseCache | None, parts: PartKeys | None, policy_digests: Iterable[bytes],
          inventory: Inventory, as_of: dt.date, passing: bool = False, scope: str = "") -> Reuse | None:
    """The findings cache of one run, or None when there is no cache folder or no part to key on.
    ``parts`` names the part that defines each service and vendor; ``passing``
    says whether the run collects passing checks; ``scope`` names what the run checks (its
    inventory paths): runs of another scope keep their findings in an entry of their own.
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
    kept = []
    for part, services in by_part.items():
        # Each ref with the part that defines what it names: the same refs naming the same parts'
        # records give the same findings.
        named = "".join(f"\0{dep.ref}\0{_defining(parts, dep.ref)}" for service in services for dep in service.dependencies)
        own, near = (hashlib.sha256(f"findings\0{reach}\0{'checks' if passing else ''}\0".encode() + context.digest()
                                    + key.encode()).hexdigest()
                     for reach, key in ((SERVICE, part), (NEIGHBOURS, part + named)))
        kept.append(_Part(own, near, tuple(service.id for service in services), parts.line_offsets.get(part, 0)))
    name = hashlib.sha256(f"findings\0{'checks' if passing else ''}\0{scope}\0".encode() + context.digest()).hexdigest()
    return Reuse(parse_cache, name, tuple(kept), decode_records(_ENTRY, parse_cache.get(name)) or {}, passing)


def _defining(parts: PartKeys, ref: str) -> str:
    """The entry of the part that defines what a dependency's ref names, as Index resolves it, or ""."""
    vendor = vendor_id(ref)
    return parts.services.get(ref, "") if vendor is None else parts.vendors.get(vendor, "")
