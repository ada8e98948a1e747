"""ITSCM-033: many tier-1 services hard-depend on one vendor, or on one service without a real alternate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING

from itscm_check.checks import Outcome
from itscm_check.policy.scope import Scope
from itscm_check.subjects import Subject

if TYPE_CHECKING:
    from itscm_check.facts import ServiceView
    from itscm_check.policy.model import Rule
    from itscm_check.subjects import Subjects


def check(subjects: Subjects, rule: Rule, as_of: dt.date) -> Iterator[Outcome]:
    index = subjects.index
    for vendor in index.inventory.vendors:
        consumers = _tier_one(index.vendor_consumers.get(vendor.id, ()))
        subject = Subject("vendor", Scope(vendor), None, f"vendor:{vendor.id}", vendor.source, "", "")
        yield Outcome(subject, _verdict(consumers, rule.params_for(None)["min_consumers"], "vendor"))
    for view in index.production:
        if not rule.in_tier_scope(view.effective_tier) or _has_separate_alternate(view):
            continue
        consumers = _tier_one(index.service_consumers.get(view.id, ()))
        minimum = rule.params_for(view.effective_tier)["min_consumers"]
        yield Outcome(subjects.service(view), _verdict(consumers, minimum, "service without an alternate site "
                                                                          "in another failure domain"))


def _tier_one(consumers: object) -> list[str]:
    return sorted(c.id for c in consumers if c.effective_tier == 1)  # type: ignore[attr-defined]


def _verdict(consumers: list[str], minimum: int, what: str) -> list[str] | None:
    if len(consumers) < minimum:
        return None
    return [f"{len(consumers)} tier-1 services hard-depend on this {what} ({minimum} or more is a concentration): "
            f"{', '.join(consumers)}"]


def _has_separate_alternate(view: ServiceView) -> bool:
    sites = view.sites
    if sites is None:
        return False
    primary = sites.primary.failure_domain if sites.primary is not None else None
    return any(alt.failure_domain != primary for alt in sites.alternates)
