"""ITSCM-029: strongly connected sets of services over hard edges, each reported once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING

from itscm_check.checks import Outcome
from itscm_check.checks.graph import is_cycle, strongly_connected

if TYPE_CHECKING:
    from itscm_check.policy.model import Rule
    from itscm_check.subjects import Subjects


def check(subjects: Subjects, rule: Rule, as_of: dt.date) -> Iterator[Outcome]:
    index = subjects.index
    ids = sorted(v.id for v in index.production)
    in_cycle: set[str] = set()
    for component in strongly_connected(ids, index.hard_edges):
        if not is_cycle(component, index.hard_edges):
            continue
        members = sorted(component)
        in_cycle.update(members)
        first = index.services[members[0]]
        if not rule.in_tier_scope(first.effective_tier):
            continue
        subject = subjects.service(first)._replace(key="cycle:" + ",".join(members))
        what = f"hard dependency cycle among {', '.join(members)}" if len(members) > 1 \
            else f"{members[0]} has a hard dependency on itself"
        yield Outcome(subject, [what])
    for view in index.production:
        if view.id not in in_cycle and rule.in_tier_scope(view.effective_tier):
            yield Outcome(subjects.service(view), None)
