"""Findings: the plain, immutable result of one rule failing on one subject."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, NamedTuple

from itscm_check.errors import Location
from itscm_check.policy.model import SEVERITY_RANK

FAILED = "failed"
WAIVED = "waived"
NEW = "new"  # baseline classes: not failing (at this severity or worse) in the baseline
EXISTING = "existing"


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    severity: str
    target: str
    message: str
    location: Location
    controls: tuple[str, ...]
    fingerprint: str
    subject: str = ""  # the part of the target at fault (plan, backup, date field); empty for the target itself
    status: str = FAILED
    waiver: Any = None  # the Waiver that covers it, when status is waived
    baseline: str = ""  # NEW or EXISTING when compared with a baseline

    @property
    def sort_key(self) -> tuple[int, str, str, str]:
        return SEVERITY_RANK[self.severity], self.rule_id, self.target, self.message


def fingerprint(rule_id: str, target: str, subject: str) -> str:
    """Stable across runs, line moves, file moves and message wording."""
    return hashlib.sha256(f"{rule_id}\0{target}\0{subject}".encode()).hexdigest()[:32]


class CheckResult(NamedTuple):
    """A rule evaluated on one subject; passing ones are what auditors count as compliant.

    A named tuple, like Subject and Outcome: a run makes one per rule and subject (over 200,000
    for 10,000 services), and a frozen dataclass takes twice as long to build.
    """

    rule_id: str
    target: str
    subject: str
    passed: bool
