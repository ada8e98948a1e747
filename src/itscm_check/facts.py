"""Derived facts over the inventory, indexed once so that every rule runs in linear time.

Views wrap the frozen records: a view answers the record's own fields and adds facts that
conditions need (the latest exercise, a dependency's resolved target, a vendor's consumers).
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Callable
from typing import Any

from msgspec import Struct

from itscm_check import inventory as m
from itscm_check.values import Duration


class cached_property(functools.cached_property):  # lower case: it is used as the functools one is
    """``functools.cached_property`` without the lock that Python 3.11 takes on every first read
    (3.12 dropped it): views are built and read by one thread, and a large inventory reads a
    hundred thousand facts once each."""

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.attrname] = self.func(instance)
        return value


class _View:
    """Answers the wrapped record's fields; subclasses add facts as cached properties."""

    def __init__(self, record: Any) -> None:
        self.record = record
        # Conditions read fields millions of times: an instance attribute is found without a
        # Python-level __getattr__ call. Names the view defines itself (its facts) are not copied.
        names, read = _COPIED.get((type(self), type(record))) or _copied(type(self), type(record))
        self.__dict__.update(zip(names, read(record)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.record, name)  # properties of the record (Service.effective_tier, ...)


# Per view and record type: the fields a view copies, and one C call that reads them all.
_COPIED: dict[tuple[type, type], tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def _copied(view: type, record: type[Struct]) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    own = set(dir(view))
    names = tuple(name for name in record.__struct_fields__ if name not in own)
    read: Callable[[Any], tuple[Any, ...]]
    if len(names) > 1:
        read = operator.attrgetter(*names)
    else:  # attrgetter of one name gives the value, not a tuple of one
        read = lambda value: tuple(getattr(value, name) for name in names)  # noqa: E731
    _COPIED[view, record] = names, read
    return names, read


class Index:
    """Lookups and the dependency graph, built once per evaluation."""

    def __init__(self, inventory: m.Inventory) -> None:
        self.inventory = inventory
        self.services: dict[str, ServiceView] = {}
        for service in inventory.services:
            self.services[service.id] = ServiceView(service, self)
        self.vendors = {v.id: v for v in inventory.vendors}
        self.teams = {t.id: t for t in inventory.teams}
        self.production = [v for v in self.services.values() if v.production]
        # Hard edges between production services, each target once per source, in written order.
        self.hard_edges: dict[str, list[str]] = {}
        self.vendor_consumers: dict[str, list[ServiceView]] = {}
        self.service_consumers: dict[str, list[ServiceView]] = {}
        # From the records: the views of every dependency would cost half the index, and only the
        # rules that read them need them.
        for view in self.production:
            targets: list[str] = []
            for dep in view.record.dependencies:
                if not dep.hard:
                    continue
                vendor = self.vendor_of(dep.ref)
                if vendor is not None:
                    consumers = self.vendor_consumers.setdefault(vendor.id, [])
                    if not consumers or consumers[-1] is not view:
                        consumers.append(view)
                    continue
                target = self.service_of(dep.ref)
                if target is not None and target.production and dep.ref not in targets:
                    targets.append(dep.ref)
                    self.service_consumers.setdefault(dep.ref, []).append(view)
            self.hard_edges[view.id] = targets
        self.owned_tier: dict[str, int] = {}
        for view in self.production:
            if view.owner is not None:
                current = self.owned_tier.get(view.owner)
                self.owned_tier[view.owner] = view.effective_tier if current is None else min(current, view.effective_tier)

    def vendor_of(self, ref: str) -> m.Vendor | None:
        """The vendor a dependency's ref names (``vendor:<id>``), if the inventory has it."""
        vendor = m.vendor_id(ref)
        return None if vendor is None else self.vendors.get(vendor)

    def service_of(self, ref: str) -> ServiceView | None:
        """The service a dependency's ref names, if the inventory has it."""
        return None if ref.startswith(m.VENDOR_REF) else self.services.get(ref)


class ServiceView(_View):
    record: m.Service

    def __init__(self, service: m.Service, index: Index) -> None:
        super().__init__(service)
        self.index = index

    @cached_property  # read by most rules on every subject: once per view, then an attribute
    def effective_tier(self) -> int:
        return self.record.effective_tier

    @cached_property
    def dependencies(self) -> tuple[DependencyView, ...]:
        seen: dict[str, int] = {}
        views = []
        for dep in self.record.dependencies:
            seen[dep.ref] = seen.get(dep.ref, -1) + 1
            views.append(DependencyView(dep, self, seen[dep.ref]))
        return tuple(views)

    @cached_property
    def plans(self) -> tuple[PlanView, ...]:
        return tuple(PlanView(plan) for plan in self.record.plans)

    @cached_property
    def exercises(self) -> tuple[m.Exercise, ...]:
        """Every exercise of every plan."""
        return tuple(e for plan in self.record.plans for e in plan.exercises)

    @cached_property
    def latest_exercise_date(self) -> dt.date | None:
        return max((e.date for e in self.exercises), default=None)

    @cached_property
    def latest_exercises(self) -> tuple[m.Exercise, ...]:
        """The exercises held on the latest exercise date."""
        return tuple(e for e in self.exercises if e.date == self.latest_exercise_date)

    @cached_property
    def shortest_backup_frequency(self) -> Duration | None:
        return min((b.frequency for b in self.record.backups), default=None)


class DependencyView(_View):
    record: m.Dependency
    service: ServiceView
    occurrence: int

    def __init__(self, dependency: m.Dependency, service: ServiceView, occurrence: int) -> None:
        super().__init__(dependency)
        self.service = service
        self.occurrence = occurrence  # how many earlier entries of this service have the same ref

    @property
    def hard(self) -> bool:
        return self.record.hard

    @cached_property
    def vendor(self) -> m.Vendor | None:
        return self.service.index.vendor_of(self.record.ref)

    @cached_property
    def target(self) -> ServiceView | None:
        return self.service.index.service_of(self.record.ref)

    @property
    def resolved(self) -> bool:
        return self.vendor is not None or self.target is not None


class EdgeView:
    """A hard edge from a production service to another production service, counted once per ref."""

    source: ServiceView
    target: ServiceView
    dependency: DependencyView
    ref: str

    def __init__(self, source: ServiceView, target: ServiceView, dependency: DependencyView) -> None:
        self.source = source
        self.target = target
        self.dependency = dependency
        self.ref = target.id

    @property
    def tier_gap(self) -> int | None:
        """How many tiers less critical the target is declared than the source (None if either is undeclared)."""
        if self.source.tier is None or self.target.tier is None:
            return None
        return self.target.tier - self.source.tier


class PlanView(_View):
    record: m.Plan

    @cached_property
    def latest_exercise_date(self) -> dt.date | None:
        return max((e.date for e in self.record.exercises), default=None)

    @cached_property
    def latest_failed_exercise(self) -> m.Exercise | None:
        """The latest exercise whose result is fail or partial."""
        failed = [e for e in self.record.exercises if e.result in ("fail", "partial")]
        return max(failed, key=lambda e: e.date, default=None)

    @cached_property
    def latest_pass_date(self) -> dt.date | None:
        return max((e.date for e in self.record.exercises if e.result == "pass"), default=None)


class TeamView(_View):
    record: m.Team
    owned_tier: int | None

    def __init__(self, team: m.Team, owned_tier: int | None) -> None:
        super().__init__(team)
        self.owned_tier = owned_tier


class VendorView(_View):
    record: m.Vendor
    consumers: tuple[ServiceView, ...]

    def __init__(self, vendor: m.Vendor, consumers: list[ServiceView]) -> None:
        super().__init__(vendor)
        self.consumers = tuple(consumers)

    @cached_property
    def min_consumer_rto(self) -> Duration | None:
        return min((c.objectives.rto for c in self.consumers if c.objectives.rto is not None), default=None)

    @cached_property
    def critical_consumer(self) -> bool:
        """A consumer is tier 1 (declared or unknown) or supports a critical or important function."""
        return any(c.effective_tier == 1 or c.critical_or_important_function for c in self.consumers)


class ProgrammeView:
    programme: m.Programme | None

    def __init__(self, programme: m.Programme | None) -> None:
        self.programme = programme
