"""Rules as loaded from policy files: metadata, scope, parameters, severity and logic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from itscm_check.errors import Location
from itscm_check.policy.codegen import Test
from itscm_check.policy.conditions import Condition, Env
from itscm_check.policy.names import INVENTORY
from itscm_check.policy.scope import Scope

SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
TIERS = (1, 2, 3, 4)

SeverityOf = Callable[[Scope, Env, "int | None"], str]


@dataclass(frozen=True)
class Rule:
    """One continuity rule. Either ``condition`` (declarative) or ``check`` (a named Python check) is set."""

    id: str
    title: str
    description: str
    remediation: str
    severity_of: SeverityOf = field(repr=False)
    severity_text: str  # how the severity reads in `rules` and `explain` ("critical (T1), high (T2) ...")
    severities: tuple[str, ...]  # every severity the rule can report
    controls: tuple[str, ...]
    subjects: tuple[str, ...]
    tiers: frozenset[int] | None
    params: dict[int | None, dict[str, Any]] = field(repr=False)  # resolved per scope tier (None: no tier)
    param_text: dict[str, str]
    where: Condition | None = field(repr=False, default=None)
    condition: Condition | None = field(repr=False, default=None)
    # The same two conditions compiled to Python (policy.codegen): yes or no, fast, for every subject.
    where_test: Test | None = field(repr=False, default=None)
    test: Test | None = field(repr=False, default=None)
    check: str | None = None
    message: str | None = None
    help_uri: str | None = None
    # The rule's where/fail_when/check as written, which `explain` prints (loading.logic_text).
    logic: dict[str, Any] = field(repr=False, default_factory=dict)
    enabled: bool = True
    pack: str = ""
    source: Location = Location("", 0)  # where the rule is defined
    overridden_at: tuple[Location, ...] = ()  # the overrides applied to it, in order
    param_types: dict[str, str] = field(repr=False, default_factory=dict)  # declared types: overrides are read as them
    # How far its outcome on a subject reads (names.reach): the findings cache keeps the findings
    # of rules that read their service alone, or it and what its dependencies name, per file part.
    reach: str = INVENTORY

    @property
    def strictest(self) -> str:
        return min(self.severities, key=SEVERITY_RANK.__getitem__)

    def params_for(self, tier: int | None) -> dict[str, Any]:
        return self.params.get(tier, self.params[None])

    def in_tier_scope(self, tier: int | None) -> bool:
        return self.tiers is None or tier in self.tiers
