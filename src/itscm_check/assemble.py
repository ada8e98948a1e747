"""Assemble validated documents into one Inventory: merge by kind, check ids and references."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

from msgspec import Struct
from msgspec.structs import force_setattr, replace

from itscm_check import inventory as m
from itscm_check.errors import InputError, InputErrors, Location
from itscm_check.loader import DocPath, Document, LineTree, step_line, step_tree
from itscm_check.values import Duration, parse_date, parse_duration

_KINDS = ("teams", "sites", "vendors", "services", "waivers")


class _Record:
    """Reads one mapping of a document, parsing typed values and remembering every date.

    It keeps its own line and LineTree, so the line of a field is one step away.
    """

    def __init__(self, doc: Document, where: DocPath, data: dict[str, Any], dates: list[m.DatedField],
                 label: str = "", node: tuple[int, LineTree | None] | None = None) -> None:
        self.doc, self.where, self.data, self.dates, self.label = doc, where, data, dates, label
        self.line, self.tree = node if node is not None else doc.node(where)  # the line is the file's

    @property
    def location(self) -> Location:
        return Location(self.doc.path, self.line)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def _node(self, key: str) -> tuple[int, LineTree | None]:
        return self._step(self.tree, key, self.line)

    def _line(self, key: str) -> int:
        """The file line of ``key``, or the record's own when it has none (``_node`` without the
        LineTree, which a scalar has not: a date's line is read for every date of the inventory)."""
        found = step_line(self.tree, key) if self.tree is not None else None
        return self.line if found is None else found + self.doc.line_offset

    def _step(self, tree: LineTree | None, step: Any, line: int) -> tuple[int, LineTree | None]:
        """The file line and LineTree of ``step`` below ``tree``, or ``line`` when it has none."""
        found = step_line(tree, step) if tree is not None else None
        if found is None:
            return line, None
        return found + self.doc.line_offset, step_tree(tree, step)  # type: ignore[arg-type]

    def child(self, key: str, label: str = "") -> _Record | None:
        value = self.data.get(key)
        if value is None:
            return None
        return _Record(self.doc, self.where + (key,), value, self.dates, label, self._node(key))

    def children(self, key: str, label: Callable[[dict[str, Any], int], str] = lambda d, i: str(i)) -> list[_Record]:
        prefix = f"{self.label}." if self.label else ""
        line, tree = self._node(key)
        return [_Record(self.doc, self.where + (key, i), item, self.dates, f"{prefix}{key}[{label(item, i)}]",
                        self._step(tree, i, line))
                for i, item in enumerate(self.data.get(key) or ())]

    def date(self, key: str) -> dt.date | None:
        if self.data.get(key) is None:
            return None
        value = parse_date(self.data[key])
        if key != "next_review":  # it looks ahead: no rule reads it as a date that was written (DatedField)
            self.dates.append(m.DatedField(f"{self.label}.{key}" if self.label else key, value, self._line(key)))
        return value

    def word(self, key: str, default: str | None = None) -> Any:
        return _word(self.data.get(key, default))

    def duration(self, key: str) -> Duration | None:
        value = self.data.get(key)
        return None if value is None else parse_duration(value)

    # Required fields: schema validation has already rejected a record without them.
    def required_date(self, key: str) -> dt.date:
        value = self.date(key)
        assert value is not None, key
        return value

    def required_duration(self, key: str) -> Duration:
        return parse_duration(self.data[key])


class Part(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """The records of one part of a file (see cache.file_parts): what the model cache keeps.

    What a part takes from other files is set when the inventory is linked (assemble_parts): its
    services' sites and its waivers' keys, which are numbered across the whole inventory. No field
    has a default and none other is allowed, so that nothing but a Part decodes as one.
    """

    services: tuple[m.Service, ...]
    teams: tuple[m.Team, ...]
    sites: tuple[m.Site, ...]
    vendors: tuple[m.Vendor, ...]
    waivers: tuple[m.Waiver, ...]
    programme: m.Programme | None


def assemble(documents: list[Document]) -> m.Inventory:
    """Build the Inventory from valid documents, or raise InputErrors listing every duplicate and
    dangling reference."""
    records, programme, errors = _records(documents)
    if errors:
        raise InputErrors(errors)
    sites: dict[str, m.Site] = {}
    for r in records["sites"]:
        sites.setdefault(r.get("id"), _site(r))
    return _link([_part(records, programme, tuple(sites.values()), sites)])


def part_of(documents: list[Document]) -> Part | None:
    """The Part of one part of a file, from its valid documents alone; None when they define an id
    twice or two programmes, which assemble() reports. Its services point at stand-ins for their
    sites, which assemble_parts replaces with the inventory's own."""
    records, programme, errors = _records(documents, dangling=False)
    if errors:
        return None
    return _part(records, programme, tuple(_site(r) for r in records["sites"]), _StandIns())


class _StandIns(dict[str, m.Site]):
    """A stand-in Site for every id: a part built alone does not know the sites of other files."""

    def __missing__(self, ident: str) -> m.Site:
        return m.Site(id=ident, failure_domain="", source=Location("", 0))

    def get(self, ident: Any, default: Any = None) -> Any:  # type: ignore[override]
        return default if ident is None else self[ident]


def assemble_parts(parts: Sequence[Part]) -> m.Inventory | None:
    """The Inventory of the parts of every file in order (see part_of), their services pointed at
    the inventory's sites; None when an id is defined twice or a reference dangles: assemble()
    then says where, from every part's documents."""
    sites: dict[str, m.Site] = {}
    for part in parts:
        for site in part.sites:
            sites.setdefault(site.id, site)  # a second one is a duplicate: _clash() tells
    team_ids = {team.id for part in parts for team in part.teams}
    if _clash(parts) or not all(_relinked(part, sites, team_ids) for part in parts):
        return None
    return _link(parts)


def _part(records: dict[str, list[_Record]], programme: _Record | None, own_sites: tuple[m.Site, ...],
          sites: dict[str, m.Site]) -> Part:
    """The Part of valid records; ``sites`` gives the Site of an id (the inventory's, or stand-ins),
    ``own_sites`` are the records' own."""
    return Part(services=tuple(_service(r, sites) for r in records["services"]),
                teams=tuple(_team(r) for r in records["teams"]), sites=own_sites,
                vendors=tuple(_vendor(r) for r in records["vendors"]),
                waivers=tuple(_waiver(r) for r in records["waivers"]),
                programme=_programme(programme) if programme is not None else None)


def _relinked(part: Part, sites: dict[str, m.Site], team_ids: set[str]) -> bool:
    """Point the services of a Part at this inventory's Site records, in place of the stand-ins
    it was built with (or, from the model cache, of sites that may have changed since); False
    when an owner or a site is not defined. Nothing else holds the records yet: setting their
    fields still builds them, as a __post_init__ would."""
    try:
        for service in part.services:
            if service.owner is not None and service.owner not in team_ids:
                return False
            block = service.sites
            if block is not None:
                if block.primary is not None:
                    force_setattr(block, "primary", sites[block.primary.id])
                if block.alternates:
                    force_setattr(block, "alternates", tuple(sites[s.id] for s in block.alternates))
            for plan in service.plans:
                if plan.stored_copies:
                    force_setattr(plan, "stored_copies", tuple(sites[s.id] for s in plan.stored_copies))
            for backup in service.backups:
                if backup.location is not None:
                    force_setattr(backup, "location", sites[backup.location.id])
    except KeyError:
        return False
    return True


def _clash(parts: Sequence[Part]) -> bool:
    """Whether two parts define the same id of a kind, or a programme each."""
    for kind in _KINDS:
        ids = [record.id for part in parts for record in getattr(part, kind) if record.id is not None]
        if len(set(ids)) != len(ids):
            return True
    return sum(part.programme is not None for part in parts) > 1


def _link(parts: Sequence[Part]) -> m.Inventory:
    """One Inventory of the parts in order; alike waivers are numbered across all of them."""
    waivers = [waiver for part in parts for waiver in part.waivers]
    # Alike waivers are those of the same rule and target: their findings share a target.
    keys = _numbered([((w.rule, w.target), w.id or f"expires:{w.expires.isoformat()}") for w in waivers])
    return m.Inventory(
        services=tuple(chain.from_iterable(part.services for part in parts)),
        teams=tuple(chain.from_iterable(part.teams for part in parts)),
        sites=tuple(chain.from_iterable(part.sites for part in parts)),
        vendors=tuple(chain.from_iterable(part.vendors for part in parts)),
        waivers=tuple(replace(waiver, key=key) for waiver, key in zip(waivers, keys)),
        programme=next((part.programme for part in parts if part.programme is not None), None),
    )


def reference_errors(documents: list[Document], dangling: bool = True) -> list[InputError]:
    """Duplicate ids, a second programme and, with ``dangling``, references to teams and sites that
    are not defined, in documents that may have failed schema validation: listed beside the schema
    errors, so that one run shows every problem. What is not shaped like a record is left to the
    schema errors. Pass ``dangling=False`` when a file could not be parsed: its definitions are
    missing, and references to them would be reported wrongly."""
    return _records(documents, dangling)[2]


def _records(documents: list[Document], dangling: bool = True
             ) -> tuple[dict[str, list[_Record]], _Record | None, list[InputError]]:
    """Each kind's records, the programme, and every duplicate and dangling reference."""
    errors: list[InputError] = []
    records: dict[str, list[_Record]] = {kind: [] for kind in _KINDS}
    misshapen: set[str] = set()  # kinds with a definition that may be missed: their ids are not all known
    programme: _Record | None = None
    for doc in documents:
        if not isinstance(doc.data, dict):
            continue
        for kind in _KINDS:
            items = doc.data.get(kind)
            if items is not None and not isinstance(items, list):
                misshapen.add(kind)
            for i, item in enumerate(items if isinstance(items, list) else ()):
                if isinstance(item, dict):
                    records[kind].append(_Record(doc, (kind, i), item, []))
                if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                    misshapen.add(kind)
        if doc.data.get("programme") is not None:
            if programme is not None:
                errors.append(InputError(doc.location(("programme",)),
                                         f"programme is defined a second time (first at {programme.location})",
                                         "keep one programme block for the whole inventory"))
            else:
                programme = _Record(doc, ("programme",), doc.data["programme"], [])
    for kind in _KINDS:
        errors.extend(_duplicate_ids(kind, records[kind]))
    if dangling:
        # No reference to a kind with a misshapen definition is called dangling: it may point there.
        site_ids = None if "sites" in misshapen else {r.get("id") for r in records["sites"]}
        team_ids = None if "teams" in misshapen else {r.get("id") for r in records["teams"]}
        for r in records["services"]:
            errors.extend(_dangling(r, team_ids, site_ids))
    return records, programme, errors


def _duplicate_ids(kind: str, records: list[_Record]) -> list[InputError]:
    first: dict[str, Location] = {}
    errors = []
    for record in records:
        ident = record.get("id")
        if not isinstance(ident, str):  # absent, or not an identifier: a schema error
            continue
        if ident in first:
            errors.append(InputError(record.location, f"duplicate {kind[:-1]} id '{ident}' (first defined at {first[ident]})",
                                     f"{kind[:-1]} ids must be unique across the whole inventory"))
        else:
            first[ident] = record.location
    return errors


def _dangling(service: _Record, team_ids: set[str] | None, site_ids: set[str] | None) -> list[InputError]:
    """References to teams and sites that are not defined; None: those ids are not all known."""
    errors = []
    owner = service.get("owner")
    if team_ids is not None and isinstance(owner, str) and owner not in team_ids:
        errors.append(InputError(service.doc.location(service.where + ("owner",)), f"owner '{owner}' is not a team id",
                                 "define the team under teams: or fix the spelling"))
    if site_ids is None:
        return errors
    refs: list[tuple[DocPath, Any]] = []
    site_block = _mapping(service.get("sites"))
    refs.append((("sites", "primary"), site_block.get("primary")))
    refs += [(("sites", "alternates", i), s) for i, s in enumerate(_list(site_block.get("alternates")))]
    for p, plan in enumerate(_list(service.get("plans"))):
        refs += [(("plans", p, "stored_copies", i), s) for i, s in enumerate(_list(_mapping(plan).get("stored_copies")))]
    for b, backup in enumerate(_list(service.get("backups"))):
        refs.append((("backups", b, "location"), _mapping(backup).get("location")))
    for where, site in refs:
        if isinstance(site, str) and site not in site_ids:  # None: not given; not text: a schema error
            errors.append(InputError(service.doc.location(service.where + where), f"site '{site}' is not defined",
                                     "define it under sites: or fix the spelling"))
    return errors


def _word(value: Any) -> Any:
    """The value of a field the schema limits to a few words, as the model's one string for it
    (inventory.WORDS)."""
    return m.WORDS.get(value, value)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _site(r: _Record) -> m.Site:
    return m.Site(id=r.get("id"), failure_domain=r.get("failure_domain"), source=r.location,
                  provider=r.get("provider"), region=r.get("region"), kind=r.word("kind"))


def _team(r: _Record) -> m.Team:
    contacts = tuple(m.Contact(name=c.get("name"), role=_word(c.get("role")), email=c.get("email"), phone=c.get("phone"),
                               out_of_hours=c.get("out_of_hours")) for c in r.get("contacts") or ())
    return m.Team(id=r.get("id"), name=r.get("name"), source=r.location, contacts=contacts,
                  call_tree_verified_on=r.date("call_tree_verified_on"),
                  continuity_training_on=r.date("continuity_training_on"), dates=tuple(r.dates))


def _vendor(r: _Record) -> m.Vendor:
    sla = r.child("sla")
    evidence = r.child("continuity_evidence", label="continuity_evidence")
    return m.Vendor(
        id=r.get("id"), name=r.get("name"), source=r.location, criticality=r.word("criticality"),
        sla=m.Sla(availability=sla.get("availability"), rto=sla.duration("rto"), rpo=sla.duration("rpo"),
                  document=sla.get("document")) if sla else None,
        continuity_evidence=m.ContinuityEvidence(type=evidence.word("type"), reference=evidence.get("reference"),
                                                 date=evidence.required_date("date")) if evidence else None,
        exit_plan=r.get("exit_plan"), register_of_information_id=r.get("register_of_information_id"),
        dates=tuple(r.dates))


def _service(r: _Record, sites: dict[str, m.Site]) -> m.Service:
    bia = r.child("bia", label="bia")
    objectives = r.child("objectives")
    site_block = r.child("sites")
    return m.Service(
        id=r.get("id"), name=r.get("name"), source=r.location, description=r.get("description"),
        # `tier: 1.0` is an integer to the schema; as a float it would read "tier 1.0" in every report.
        kind=r.word("kind", "service"), tier=int(r.get("tier")) if r.get("tier") is not None else None,
        critical_or_important_function=r.get("critical_or_important_function", False),
        lifecycle=r.word("lifecycle", "production"), owner=r.get("owner"), stateful=r.get("stateful", False),
        bia=m.Bia(id=bia.get("id"), document=bia.get("document"), completed_on=bia.date("completed_on"),
                  approved_by=bia.get("approved_by"), next_review=bia.date("next_review")) if bia else None,
        objectives=m.Objectives(rto=objectives.duration("rto"), rpo=objectives.duration("rpo"),
                                mtpd=objectives.duration("mtpd"), wrt=objectives.duration("wrt"))
        if objectives else m.Objectives(),
        sites=m.ServiceSites(primary=sites.get(site_block.get("primary")),
                             alternates=tuple(sites[s] for s in site_block.get("alternates") or ()),
                             strategy=site_block.word("strategy")) if site_block else None,
        dependencies=tuple(m.Dependency(ref=d.get("ref"), type=d.word("type", "hard"), mitigation=d.get("mitigation"),
                                        source=d.location) for d in r.children("dependencies")),
        plans=tuple(_plan(p, sites) for p in r.children("plans", lambda d, i: str(d.get("id", i)))),
        backups=tuple(_backup(b, sites) for b in r.children("backups", lambda d, i: str(d.get("id", i)))),
        labels=dict(r.get("labels") or {}),
        dates=tuple(r.dates),
    )


def _plan(r: _Record, sites: dict[str, m.Site]) -> m.Plan:
    authority = r.child("invocation_authority")
    keys = _exercise_keys(r.get("exercises") or [])
    exercises = [_exercise(e, keys[i]) for i, e in enumerate(r.children("exercises", lambda d, i: keys[i]))]
    return m.Plan(
        id=r.get("id"), type=r.word("type"), source=r.location, document=r.get("document"), version=r.get("version"),
        last_updated=r.date("last_updated"), last_reviewed=r.date("last_reviewed"), next_review=r.date("next_review"),
        activation_criteria=r.get("activation_criteria"),
        invocation_authority=m.InvocationAuthority(primary=authority.get("primary"), alternate=authority.get("alternate"))
        if authority else None,
        stored_copies=tuple(sites[s] for s in r.get("stored_copies") or ()),
        exercises=tuple(exercises),
    )


def _exercise_keys(exercises: list[dict[str, Any]]) -> list[str]:
    """Each exercise's key (see Exercise.key): findings on it, and on its date, keep their
    fingerprints when the list is reordered, and two alike exercises still get two."""
    return _numbered([((), data.get("id") or f"{parse_date(data['date']).isoformat()}/{data['type']}")
                      for data in exercises])


def _numbered(keys: list[tuple[Any, str]]) -> list[str]:
    """Each (group, key)'s key, with "#n" on the n-th repeat of the same group and key."""
    seen: dict[tuple[Any, str], int] = {}
    numbered = []
    for group_key in keys:
        seen[group_key] = seen.get(group_key, -1) + 1
        numbered.append(f"{group_key[1]}#{seen[group_key]}" if seen[group_key] else group_key[1])
    return numbered


def _exercise(r: _Record, key: str) -> m.Exercise:
    return m.Exercise(
        date=r.required_date("date"), type=r.word("type"), result=r.word("result"), source=r.location, key=key,
        id=r.get("id"), scenarios=tuple(r.get("scenarios") or ()), achieved_rto=r.duration("achieved_rto"),
        achieved_rpo=r.duration("achieved_rpo"), evidence=r.get("evidence"),
        corrective_action=r.get("corrective_action"))


def _backup(r: _Record, sites: dict[str, m.Site]) -> m.Backup:
    test = r.child("last_restore_test", label=f"{r.label}.last_restore_test")
    return m.Backup(
        id=r.get("id"), frequency=r.required_duration("frequency"), retention=r.required_duration("retention"), source=r.location,
        method=r.get("method"), offsite=r.get("offsite"), location=sites.get(r.get("location")),
        immutable=r.get("immutable"), encrypted=r.get("encrypted"),
        last_restore_test=m.RestoreTest(date=test.required_date("date"), result=test.word("result"), source=test.location,
                                        duration=test.duration("duration"), evidence=test.get("evidence"))
        if test else None)


def _waiver(r: _Record) -> m.Waiver:
    """A waiver without its key, which _link() numbers across the inventory."""
    return m.Waiver(rule=r.get("rule"), target=r.get("target"), reason=r.get("reason"), key="",
                    approved_by=r.get("approved_by"), expires=parse_date(r.get("expires")), source=r.location,
                    id=r.get("id"), created=parse_date(r.get("created")) if r.get("created") is not None else None,
                    ticket=r.get("ticket"))


def _programme(r: _Record) -> m.Programme:
    policy = r.child("bc_policy", label="bc_policy")
    return m.Programme(
        source=r.location,
        bc_policy=m.BcPolicy(document=policy.get("document"), approved_by=policy.get("approved_by"),
                             approved_on=policy.date("approved_on")) if policy else None,
        last_management_review=r.date("last_management_review"),
        last_internal_audit=r.date("last_internal_audit"), dates=tuple(r.dates))
