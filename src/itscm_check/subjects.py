"""What a rule can be about: the records it iterates, each with its target, location and key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

from itscm_check import inventory as m
from itscm_check.errors import Location
from itscm_check.facts import (DependencyView, EdgeView, Index, PlanView, ProgrammeView, ServiceView, TeamView,
                               VendorView)
from itscm_check.policy.scope import Scope


class Subject(NamedTuple):
    """One thing a rule is evaluated on."""

    kind: str
    scope: Scope
    tier: int | None  # the tier that scopes the rule and picks its severity and parameters
    target: str
    location: Location
    key: str  # what identifies the subject within its target (a plan id, a backup id), for fingerprints
    label: str  # how messages name the subject ("plan 'dr'"); empty for the target itself


# What a condition on each kind of subject reads, innermost first, as the builders below chain
# their Scopes: policy loading checks a rule's names against these.
SCOPE_TYPES: dict[str, tuple[type, ...]] = {
    "service": (ServiceView,),
    "plan": (PlanView, ServiceView),
    "exercise": (m.Exercise, PlanView, ServiceView),
    "backup": (m.Backup, ServiceView),
    "restore_test": (m.RestoreTest, m.Backup, ServiceView),
    "dependency": (DependencyView, ServiceView),
    "edge": (EdgeView, ServiceView),
    "team": (TeamView,),
    "vendor": (VendorView,),
    "programme": (ProgrammeView,),
}


# The kinds whose every subject belongs to one production service: a rule on these alone can be
# evaluated on a share of the services at a time (Subjects.share).
OF_A_SERVICE = frozenset(("service", "plan", "exercise", "backup", "restore_test", "dependency", "edge"))


class Subjects:
    """Every subject of each kind, built on first use and shared by all rules of a run; or, for a
    share, those of its services (the kinds in OF_A_SERVICE) and every other subject."""

    def __init__(self, index: Index, root: Location, views: list[ServiceView] | None = None) -> None:
        self.index = index
        self.root = root
        self.views = index.production if views is None else views  # the production services covered
        self._cache: dict[tuple[str, frozenset[str]], list[Subject]] = {}
        self._builders: dict[str, Callable[[list[ServiceView]], Iterator[Subject]]] = {
            "service": self._services, "plan": self._plans, "exercise": self._exercises,
            "backup": self._backups, "restore_test": self._restore_tests, "dependency": self._dependencies,
            "edge": self._edges, "team": self._teams, "vendor": self._vendors, "programme": self._programme,
        }

    def share(self, views: list[ServiceView]) -> Subjects:
        """The subjects of these production services, built on first use, in a cache of their own."""
        return Subjects(self.index, self.root, views)

    def of(self, kind: str, skip: frozenset[str] = frozenset()) -> list[Subject]:
        """The subjects of ``kind``, less those of the services in ``skip`` (a run passes one set)."""
        if (kind, skip) not in self._cache:
            views = [view for view in self.views if view.id not in skip] if skip else self.views
            self._cache[kind, skip] = list(self._builders[kind](views))
        return self._cache[kind, skip]

    def service(self, view: ServiceView) -> Subject:
        return Subject("service", Scope(view), view.effective_tier, view.id, view.source, "", "")

    def _services(self, views: list[ServiceView]) -> Iterator[Subject]:
        for view in views:
            yield self.service(view)

    def _plans(self, views: list[ServiceView]) -> Iterator[Subject]:
        for view in views:
            outer = Scope(view)
            for plan in view.plans:
                yield Subject("plan", Scope(plan, outer), view.effective_tier, view.id, plan.source,
                              f"plan:{plan.id}", f"plan '{plan.id}'")

    def _exercises(self, views: list[ServiceView]) -> Iterator[Subject]:
        for view in views:
            outer = Scope(view)
            for plan in view.plans:
                plan_scope = Scope(plan, outer)
                for ex in plan.exercises:
                    yield Subject("exercise", Scope(ex, plan_scope), view.effective_tier, view.id, ex.source,
                                  f"plan:{plan.id}/exercise:{ex.key}",
                                  f"exercise {ex.date.isoformat()} ({ex.type}) of plan '{plan.id}'")

    def _backups(self, views: list[ServiceView]) -> Iterator[Subject]:
        for view in views:
            outer = Scope(view)
            for backup in view.backups:
                yield Subject("backup", Scope(backup, outer), view.effective_tier, view.id, backup.source,
                              f"backup:{backup.id}", f"backup '{backup.id}'")

    def _restore_tests(self, views: list[ServiceView]) -> Iterator[Subject]:
        for view in views:
            outer = Scope(view)
            for backup in view.backups:
                test = backup.last_restore_test
                if test is not None:
                    yield Subject("restore_test", Scope(test, Scope(backup, outer)), view.effective_tier, view.id,
                                  test.source, f"backup:{backup.id}/restore-test",
                                  f"restore test of backup '{backup.id}' on {test.date.isoformat()}")

    def _dependencies(self, views: list[ServiceView]) -> Iterator[Subject]:
        for view in views:
            outer = Scope(view)
            for dep in view.dependencies:
                suffix = f"#{dep.occurrence}" if dep.occurrence else ""
                yield Subject("dependency", Scope(dep, outer), view.effective_tier, view.id, dep.source,
                              f"dependency:{dep.ref}{suffix}", f"dependency '{dep.ref}'")

    def _edges(self, views: list[ServiceView]) -> Iterator[Subject]:
        for view in views:
            outer = Scope(view)
            first = {d.ref: d for d in reversed(view.dependencies) if d.hard}
            for ref in self.index.hard_edges[view.id]:
                edge = EdgeView(view, self.index.services[ref], first[ref])
                yield Subject("edge", Scope(edge, outer), view.effective_tier, view.id, first[ref].source,
                              f"edge:{ref}", f"hard dependency on '{ref}'")

    def _teams(self, _views: list[ServiceView]) -> Iterator[Subject]:  # not about services
        for team in self.index.inventory.teams:
            view = TeamView(team, self.index.owned_tier.get(team.id))
            yield Subject("team", Scope(view), view.owned_tier, f"team:{team.id}", team.source, "", "")

    def _vendors(self, _views: list[ServiceView]) -> Iterator[Subject]:  # not about services
        for vendor in self.index.inventory.vendors:
            view = VendorView(vendor, self.index.vendor_consumers.get(vendor.id, []))
            yield Subject("vendor", Scope(view), None, f"vendor:{vendor.id}", vendor.source, "", "")

    def _programme(self, _views: list[ServiceView]) -> Iterator[Subject]:  # not about services
        programme = self.index.inventory.programme
        location = programme.source if programme is not None else self.root
        yield Subject("programme", Scope(ProgrammeView(programme)), None, "programme", location, "", "")
