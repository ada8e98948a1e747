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


def _registry() -> dict[str, NamedCheck]:
    from itscm_check.checks import concentration, cycles, future_dates, rto_inversion

    return {
        "dependency-cycles": cycles.check,
        "rto-inversion": rto_inversion.check,
        "concentration": concentration.check,
        "future-dates": future_dates.check,
    }


CHECKS: dict[str, NamedCheck] = _registry()
