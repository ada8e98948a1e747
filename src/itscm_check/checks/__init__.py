"""Named checks: rule logic in Python for what a declarative condition cannot say.

The registry is a literal dict, so ``check: NAME`` in a policy file can be grepped to its code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from itscm_check.policy.model import Rule
    from itscm_check.subjects import Subject, Subjects


class Outcome(NamedTuple):
    """A rule's verdict on one subject: ``reasons`` is None when it passes."""

    subject: Subject
    reasons: list[str] | None


NamedCheck = Callable[["Subjects", "Rule", dt.date], Iterable[Outcome]]


class CheckSpec(NamedTuple):
    """A named check and what a rule using it must declare, so that policy loading can tell."""

    run: NamedCheck
    subjects: tuple[str, ...]  # what it reports on, which a rule using it names as its subject
    params: tuple[str, ...] = ()  # parameters the rule must define


def _registry() -> dict[str, CheckSpec]:
    from itscm_check.checks import concentration, cycles, future_dates, rto_inversion

    return {
        "dependency-cycles": CheckSpec(cycles.check, ("service",)),
        "rto-inversion": CheckSpec(rto_inversion.check, ("service",)),
        "concentration": CheckSpec(concentration.check, ("service", "vendor"), ("min_consumers",)),
        "future-dates": CheckSpec(future_dates.check, ("service", "team", "vendor", "programme")),
    }


CHECKS: dict[str, CheckSpec] = _registry()
