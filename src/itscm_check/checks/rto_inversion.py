"""ITSCM-030: a service hard-depends, directly or transitively, on one that recovers more slowly."""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from itscm_check.checks import Outcome
from itscm_check.checks.graph import strongly_connected

if TYPE_CHECKING:
    from itscm_check.facts import Index
    from itscm_check.policy.model import Rule
    from itscm_check.subjects import Subjects

_NONE = 1 << 62  # rank of "nothing with an rto is reachable"


def check(subjects: Subjects, rule: Rule, as_of: dt.date) -> Iterator[Outcome]:
    index = subjects.index
    # Rank 0 is the slowest service (longest rto, then smallest id): the worst one to depend on.
    slowest = sorted((v for v in index.production if v.objectives.rto is not None),
                     key=lambda v: (-v.objectives.rto, v.id))
    rank = {v.id: i for i, v in enumerate(slowest)}
    reach = _worst_reachable(index, rank)
    for view in index.production:
        rto = view.objectives.rto
        if rto is None or not rule.in_tier_scope(view.effective_tier):
            continue
        worst = reach[view.id]
        if worst == _NONE or slowest[worst].objectives.rto <= rto:
            yield Outcome(subjects.service(view), None)
            continue
        target = slowest[worst]
        path = _path(index, view.id, target.id, reach, worst)
        yield Outcome(subjects.service(view), [
            f"rto {rto} but it hard-depends on '{target.id}' with rto {target.objectives.rto} "
            f"(path: {' -> '.join(path)})"])


def _worst_reachable(index: Index, rank: dict[str, int]) -> dict[str, int]:
    """For each service, the best (lowest) rank among itself and everything it reaches over hard edges."""
    edges = index.hard_edges
    reach: dict[str, int] = {}
    for component in strongly_connected(sorted(edges), edges):
        members = set(component)
        best = min((rank.get(node, _NONE) for node in component), default=_NONE)
        for node in component:
            for nxt in edges.get(node, ()):
                if nxt not in members:
                    best = min(best, reach[nxt])
        for node in component:
            reach[node] = best
    return reach


def _path(index: Index, start: str, goal: str, reach: dict[str, int], worst: int) -> list[str]:
    """A shortest path to ``goal``; every service on a path to it from ``start`` has the same reach."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while goal not in previous:
        node = queue.popleft()
        for nxt in index.hard_edges.get(node, ()):
            if nxt not in previous and nxt != start and reach[nxt] == worst:
                previous[nxt] = node
                queue.append(nxt)
    path = [goal]
    while path[-1] != start:
        path.append(previous[path[-1]])
    return path[::-1]
