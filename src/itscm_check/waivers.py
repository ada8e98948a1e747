"""Waivers (risk acceptances): mark matched findings waived, report expired and unused waivers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from itscm_check.findings import FAILED, WAIVED, Finding, fingerprint
from itscm_check.inventory import Waiver


@dataclass(frozen=True)
class MetaRule:
    """A rule about waivers themselves; it is not evaluated on the inventory and cannot be waived."""

    id: str
    title: str
    severity: str
    description: str
    remediation: str
    controls: tuple[str, ...] = ("ISO22301:6.1",)


EXPIRED = MetaRule("ITSCM-900", "Waiver expired", "high",
                   "A waiver whose expiry date has passed no longer covers its finding, which fails again.",
                   "Fix the finding, or renew the waiver with a new approval and expiry date.")
UNUSED = MetaRule("ITSCM-901", "Waiver unused", "low",
                  "A waiver that matches no failed finding: the problem is fixed, or the waiver is mistyped.",
                  "Remove the waiver, or correct its rule and target.")
LIFETIME = MetaRule("ITSCM-902", "Waiver lifetime too long", "medium",
                    "A waiver expires further after its creation (or, without a created date, after the as-of "
                    "date) than the maximum waiver lifetime (365 days unless configured): risk acceptances "
                    "are meant to be revisited.",
                    "Shorten the waiver, or renew it when it expires with a fresh approval.")
META_RULES = (EXPIRED, UNUSED, LIFETIME)


def apply_waivers(findings: list[Finding], waivers: tuple[Waiver, ...], as_of: dt.date,
                  max_days: int = 365) -> list[Finding]:
    """The findings with waived ones marked, plus ITSCM-900/901/902 for expired, unused and too long waivers."""
    failed: dict[tuple[str, str], list[int]] = {}
    for i, finding in enumerate(findings):
        failed.setdefault((finding.rule_id, finding.target), []).append(i)
    result = list(findings)
    # Valid waivers first: an expired waiver's message says which of its findings fail again, and
    # another, valid waiver may still cover them (SPEC 8).
    for waiver in waivers:
        if waiver.expires >= as_of:
            for i in failed.get((waiver.rule, waiver.target), ()):
                if result[i].status == FAILED:
                    result[i] = replace(result[i], status=WAIVED, waiver=waiver)
    meta: list[Finding] = []
    for waiver in waivers:
        matched = failed.get((waiver.rule, waiver.target), [])
        if waiver.expires < as_of:
            meta.append(_meta(EXPIRED, waiver, _expired_message(waiver, [result[i] for i in matched])))
        if not matched:
            meta.append(_meta(UNUSED, waiver, f"matches no failed finding of {waiver.rule} on {waiver.target}"))
        start = waiver.created or as_of
        if (waiver.expires - start).days > max_days:
            since = "its creation" if waiver.created else "the as-of date"
            meta.append(_meta(LIFETIME, waiver, f"expires {(waiver.expires - start).days} days after {since}, "
                                                f"more than the {max_days}-day maximum"))
    return result + meta


def _expired_message(waiver: Waiver, covered: list[Finding]) -> str:
    again = sum(1 for finding in covered if finding.status == FAILED)
    message = f"expired on {waiver.expires.isoformat()}; {again} finding(s) it covered fail again"
    if again < len(covered):
        message += f", {len(covered) - again} stay waived by another waiver"
    return message


def _meta(rule: MetaRule, waiver: Waiver, message: str) -> Finding:
    target, subject = waiver.target_label, waiver.key
    return Finding(rule_id=rule.id, severity=rule.severity, target=target, message=message, location=waiver.source,
                   controls=rule.controls, fingerprint=fingerprint(rule.id, target, subject), subject=subject)
