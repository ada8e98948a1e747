"""The inventory model: frozen records built from validated documents.

Records are msgspec Structs, immutable like frozen dataclasses: a large inventory makes hundreds of
thousands of them, and a Struct is built about ten times faster than a frozen dataclass. They are
``array_like``: the model cache stores each as an array of its fields rather than a map from their
names, a third smaller and a little faster to read back.

A field the schema limits to a few words (an ``enum``) is a Literal of them: read back from the
model cache, each of its values is then the one string of the Literal rather than a copy per record
(over half a million copies in a 100k-service inventory), and assembling a document takes it from
WORDS. test_model checks them against the schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, get_args

from msgspec import Struct, field

from itscm_check.errors import Location
from itscm_check.values import Duration

# The words of the schema's enums (see above).
Result = Literal["pass", "partial", "fail"]
ContactRole = Literal["primary", "alternate", "escalation"]
SiteKind = Literal["cloud-region", "datacenter", "colo", "office"]
VendorCriticality = Literal["critical", "important", "standard"]
EvidenceType = Literal["soc2-type2", "iso22301-cert", "bcp-test-report", "questionnaire"]
ExerciseType = Literal["walkthrough", "tabletop", "functional", "simulation", "parallel", "full-failover"]
PlanType = Literal["disaster-recovery", "business-continuity", "iscp", "runbook", "crisis-communication"]
DependencyType = Literal["hard", "soft"]
ServiceKind = Literal["service", "resource"]
Lifecycle = Literal["production", "experimental", "deprecated", "retired"]
Strategy = Literal["active-active", "hot-standby", "warm-standby", "pilot-light", "cold", "backup-restore", "none"]
# Each of those words, as the one string a record built from a document holds too.
WORDS = {word: word for literal in (Result, ContactRole, SiteKind, VendorCriticality, EvidenceType, ExerciseType,
                                    PlanType, DependencyType, ServiceKind, Lifecycle, Strategy)
         for word in get_args(literal)}

EXERCISE_RANK = {"walkthrough": 1, "tabletop": 2, "functional": 3, "simulation": 3, "parallel": 4, "full-failover": 5}


class DatedField(Struct, frozen=True, array_like=True):
    """A date written in a record, kept for rules about dates themselves (ITSCM-036), in the file of
    the record (its ``source``). Dates that look ahead (``next_review``) are not kept.

    A line rather than a Location, and no look-ahead dates: a 100k-service inventory keeps over half
    a million of them, and a Location each and the look-ahead ones took a seventh of its model's memory."""

    name: str  # e.g. "plans[dr].exercises[2026-03-01/tabletop].date" (an exercise is named by its key)
    value: dt.date
    line: int


class Contact(Struct, frozen=True, array_like=True):
    name: Any
    role: ContactRole
    email: Any = None
    phone: Any = None
    out_of_hours: Any = None


class Team(Struct, frozen=True, array_like=True):
    id: str
    name: Any
    source: Location  # where the record is written
    contacts: tuple[Contact, ...] = ()
    call_tree_verified_on: dt.date | None = None
    continuity_training_on: dt.date | None = None
    dates: tuple[DatedField, ...] = ()


class Site(Struct, frozen=True, array_like=True):
    id: str
    failure_domain: str
    source: Location  # where the record is written
    provider: Any = None
    region: Any = None
    kind: SiteKind | None = None


class Sla(Struct, frozen=True, array_like=True):
    availability: Any = None
    rto: Duration | None = None
    rpo: Duration | None = None
    document: Any = None


class ContinuityEvidence(Struct, frozen=True, array_like=True):
    type: EvidenceType
    reference: Any
    date: dt.date


class Vendor(Struct, frozen=True, array_like=True):
    id: str
    name: Any
    source: Location  # where the record is written
    criticality: VendorCriticality | None = None
    sla: Sla | None = None
    continuity_evidence: ContinuityEvidence | None = None
    exit_plan: Any = None
    register_of_information_id: Any = None
    dates: tuple[DatedField, ...] = ()


class Bia(Struct, frozen=True, array_like=True):
    id: str | None = None
    document: Any = None
    completed_on: dt.date | None = None
    approved_by: Any = None
    next_review: dt.date | None = None


class Objectives(Struct, frozen=True, array_like=True):
    """Recovery objectives, each a Duration in seconds."""

    rto: Duration | None = None
    rpo: Duration | None = None
    mtpd: Duration | None = None
    wrt: Duration | None = None

    @property
    def rto_plus_wrt(self) -> Duration | None:
        """Time to full service: recovery plus work recovery (None without a wrt)."""
        return None if self.rto is None or self.wrt is None else Duration(self.rto + self.wrt)


class ServiceSites(Struct, frozen=True, array_like=True):
    primary: Site | None = None
    alternates: tuple[Site, ...] = ()
    strategy: Strategy | None = None


VENDOR_REF = "vendor:"  # what starts a dependency's ref to a vendor; any other ref is a service's id


def vendor_id(ref: str) -> str | None:
    """The id of the vendor a dependency's ref names (``vendor:<id>``), or None for a service's id."""
    return ref[len(VENDOR_REF):] if ref.startswith(VENDOR_REF) else None


class Dependency(Struct, frozen=True, array_like=True):
    ref: str
    source: Location  # where the record is written
    type: DependencyType = "hard"
    mitigation: Any = None

    @property
    def hard(self) -> bool:
        """A hard edge: type hard with no (or an empty) mitigation."""
        return self.type == "hard" and self.mitigation in (None, "")


class Exercise(Struct, frozen=True, array_like=True):
    date: dt.date
    type: ExerciseType
    result: Result
    source: Location  # where the record is written
    # What identifies it within its plan, for fingerprints and messages: its id, else its date and
    # type, with "#n" on the n-th repeat; never its position, which a reordered list changes.
    key: str
    id: str | None = None
    scenarios: tuple[Any, ...] = ()
    achieved_rto: Duration | None = None
    achieved_rpo: Duration | None = None
    evidence: Any = None
    corrective_action: Any = None

    @property
    def rank(self) -> int:
        return EXERCISE_RANK[self.type]


class InvocationAuthority(Struct, frozen=True, array_like=True):
    primary: Any = None
    alternate: Any = None


class Plan(Struct, frozen=True, array_like=True):
    id: str
    type: PlanType
    source: Location  # where the record is written
    document: Any = None
    version: Any = None
    last_updated: dt.date | None = None
    last_reviewed: dt.date | None = None
    next_review: dt.date | None = None
    activation_criteria: Any = None
    invocation_authority: InvocationAuthority | None = None
    stored_copies: tuple[Site, ...] = ()
    exercises: tuple[Exercise, ...] = ()


class RestoreTest(Struct, frozen=True, array_like=True):
    date: dt.date
    result: Result
    source: Location  # where the record is written
    duration: Duration | None = None
    evidence: Any = None


class Backup(Struct, frozen=True, array_like=True):
    id: str
    frequency: Duration
    retention: Duration
    source: Location  # where the record is written
    method: Any = None
    offsite: bool | None = None
    location: Site | None = None  # the site where the copy is kept
    immutable: bool | None = None
    encrypted: bool | None = None
    last_restore_test: RestoreTest | None = None


class Service(Struct, frozen=True, array_like=True):
    id: str
    name: Any
    source: Location  # where the record is written
    description: Any = None
    kind: ServiceKind = "service"
    tier: int | None = None
    critical_or_important_function: bool = False
    lifecycle: Lifecycle = "production"
    owner: str | None = None
    stateful: bool = False
    bia: Bia | None = None
    objectives: Objectives = Objectives()
    sites: ServiceSites | None = None
    dependencies: tuple[Dependency, ...] = ()
    plans: tuple[Plan, ...] = ()
    backups: tuple[Backup, ...] = ()
    labels: dict[str, Any] = field(default_factory=dict)
    dates: tuple[DatedField, ...] = ()

    @property
    def effective_tier(self) -> int:
        """Unknown criticality is handled as critical (SPEC section 1)."""
        return self.tier if self.tier is not None else 1

    @property
    def production(self) -> bool:
        return self.lifecycle == "production"


class BcPolicy(Struct, frozen=True, array_like=True):
    document: Any
    approved_by: Any
    approved_on: dt.date | None = None


class Programme(Struct, frozen=True, array_like=True):
    source: Location  # where the record is written
    bc_policy: BcPolicy | None = None
    last_management_review: dt.date | None = None
    last_internal_audit: dt.date | None = None
    dates: tuple[DatedField, ...] = ()


class Waiver(Struct, frozen=True, array_like=True):
    rule: str
    target: str
    reason: Any
    approved_by: Any
    expires: dt.date
    source: Location  # where the record is written
    # What names it in the subject of its ITSCM-900/901/902 findings: its id, else its expiry date,
    # with "#n" on the n-th alike waiver; never its position, so moving it keeps their fingerprints.
    key: str
    id: str | None = None
    created: dt.date | None = None
    ticket: Any = None

    @property
    def target_label(self) -> str:
        return f"waiver:{self.rule}/{self.target}"


class Inventory(Struct, frozen=True, array_like=True):
    """The whole inventory, merged from every file, in file order."""

    services: tuple[Service, ...] = ()
    teams: tuple[Team, ...] = ()
    sites: tuple[Site, ...] = ()
    vendors: tuple[Vendor, ...] = ()
    waivers: tuple[Waiver, ...] = ()
    programme: Programme | None = None
