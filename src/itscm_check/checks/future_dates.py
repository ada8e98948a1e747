"""ITSCM-036: a date later than the as-of date (except next_review and waiver expiry, which look ahead)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from itscm_check.checks import Outcome
from itscm_check.errors import Location
from itscm_check.inventory import DatedField
from itscm_check.policy.scope import Scope
from itscm_check.subjects import Subject

if TYPE_CHECKING:
    from itscm_check.policy.model import Rule
    from itscm_check.subjects import Subjects


def check(subjects: Subjects, rule: Rule, as_of: dt.date) -> Iterator[Outcome]:
    inventory = subjects.index.inventory
    for view in subjects.index.production:
        if rule.in_tier_scope(view.effective_tier):
            yield from _dates(subjects.service(view).target, view, view.dates, as_of)
    for team in inventory.teams:
        yield from _dates(f"team:{team.id}", team, team.dates, as_of)
    for vendor in inventory.vendors:
        yield from _dates(f"vendor:{vendor.id}", vendor, vendor.dates, as_of)
    if inventory.programme is not None:
        yield from _dates("programme", inventory.programme, inventory.programme.dates, as_of)
    for waiver in inventory.waivers:
        created = [] if waiver.created is None else [DatedField("created", waiver.created, waiver.source.line)]
        yield from _dates(waiver.target_label, waiver, created, as_of)


def _dates(target: str, record: object, dates: Iterable[DatedField], as_of: dt.date) -> Iterator[Outcome]:
    location: Location = record.source  # type: ignore[attr-defined]
    future = False
    for field in dates:
        if field.value <= as_of:
            continue
        future = True
        days = (field.value - as_of).days
        subject = Subject("date", Scope(record), None, target, Location(location.path, field.line),
                          f"date:{field.name}", field.name)
        yield Outcome(subject, [f"{field.value.isoformat()} is {days} days after the as-of date {as_of.isoformat()}"])
    if not future:
        yield Outcome(Subject("date", Scope(record), None, target, location, "", ""), None)
