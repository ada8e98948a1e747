"""The auditor report: one self-contained HTML file (inline CSS, prints to PDF) rendered with jinja2."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

import jinja2

from itscm_check.controls import Control, parse
from itscm_check.findings import FAILED, WAIVED, Finding
from itscm_check.inventory import Service
from itscm_check.policy.model import TIERS, Rule
from itscm_check.report import NEVER, Report, blocking, why_not_blocking
from itscm_check.values import Duration
from itscm_check.waivers import EXPIRED, LIFETIME, META_RULES, UNUSED, MetaRule

ORG_WIDE = "organisation-wide"
DASH = "—"
CYCLES, INVERSIONS = "ITSCM-029", "ITSCM-030"
_PATH = re.compile(r"\(path: (.+)\)$")  # ITSCM-030 names the path at the end of its message
_LINK = re.compile(r"https?://", re.IGNORECASE)

# The template only displays what render() prepares: no logic, no lookups, so it can be restyled safely.
_env = jinja2.Environment(loader=jinja2.PackageLoader("itscm_check.formatters", "templates"), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                          keep_trailing_newline=True)


def render(report: Report, *, color: bool = False) -> str:
    return _env.get_template("report.html.j2").render(view(report))


def view(report: Report) -> dict[str, Any]:
    """The plain view model the template displays, every list sorted so the output is deterministic."""
    services = {s.id: s for s in report.inventory.services}
    return {
        "provenance": _provenance(report),
        "summary": _summary(report, services),
        "coverage": _coverage(report),
        "sheets": _sheets(services, report),
        "organisation": [_finding(f) for f in report.findings if f.target not in services],
        "waivers": _waivers(report),
        "warn_expiring_days": report.warn_expiring_days,
        "fixed": [_finding(f) for f in report.fixed],
        "dependencies": _dependencies(report, services),
    }


def _text(value: object, empty: str = DASH) -> str:
    return empty if value is None or value == "" else str(value)


def _by_tier(service: Service) -> tuple[int, str]:
    return service.effective_tier, service.id


def _tier(service: Service) -> str:
    return f"Tier {service.tier}" if service.tier is not None else "Tier 1 (not declared)"


def _finding(finding: Finding) -> dict[str, Any]:
    waiver = finding.waiver
    note = None if waiver is None else \
        f"waived until {waiver.expires.isoformat()} by {_text(waiver.approved_by)}: {_text(waiver.reason)}"
    return {"status": finding.status, "severity": finding.severity, "rule": finding.rule_id,
            "target": finding.target, "message": finding.message, "location": str(finding.location), "waiver": note,
            "baseline": finding.baseline}


def _provenance(report: Report) -> dict[str, Any]:
    p = report.provenance
    git = None if p.git is None else {"commit": p.git.commit, "dirty": p.git.dirty,
                                      "branch": _text(p.git.branch), "remote": _text(p.git.remote_url)}
    return {"tool_version": p.tool_version, "as_of": p.as_of.isoformat(),
            "generated_at": None if p.generated_at is None
            else p.generated_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "git": git,
            "source": p.source_text, "inventory_digest": p.inventory_digest, "policies_digest": p.policies_digest,
            "fails_on": "never (report only)" if report.fail_on == NEVER else f"{report.fail_on} and above",
            "baseline": report.baseline}


def _rate(passed: int, total: int) -> dict[str, Any]:
    percent = 100 * passed / total if total else 0.0
    return {"passed": passed, "total": total, "rate": f"{percent:.1f} %" if total else "n/a", "width": f"{percent:.1f}"}


def _summary(report: Report, services: dict[str, Service]) -> dict[str, Any]:
    blocked = blocking(report)
    if blocked:
        verdict = f"FAIL: {len(blocked)} failed finding(s) at or above {report.fail_on}"
    elif report.fail_on == NEVER:
        verdict = f"REPORT ONLY: {len(report.failed)} failed finding(s)"
    elif report.failed:
        verdict = f"PASS with {why_not_blocking(report)}"
    else:
        verdict = "PASS: no failed finding"
    # Checks on teams, vendors, waivers and the programme belong to no service tier.
    groups: dict[str, list[bool]] = {label: [] for label in (*(f"Tier {t}" for t in TIERS), ORG_WIDE)}
    for result in report.checks():
        service = services.get(result.target)
        groups[f"Tier {service.effective_tier}" if service else ORG_WIDE].append(result.passed)
    # A waiver rule has no passing checks: each of its findings counts as one failed check, as in JUnit.
    groups[ORG_WIDE] += [False] * len(_waiver_findings(report))
    checks = [passed for group in groups.values() for passed in group]
    return {"verdict": verdict, "failing": bool(blocked), "services": report.services, "rules": len(report.rules),
            "overall": _rate(sum(checks), len(checks)),
            "tiers": [{"label": label, **_rate(sum(marks), len(marks))} for label, marks in groups.items()],
            "severities": [{"name": s, "count": n} for s, n in report.by_severity().items()],
            "failed": len(report.failed), "waived": len(report.waived)}


def _natural(control: Control) -> tuple[Any, ...]:
    # "8.2.2" before "10.1": clauses compare number by number, not character by character.
    return tuple(int(p) if i % 2 else p for i, p in enumerate(re.split(r"(\d+)", control.clause)))


def _waiver_findings(report: Report) -> list[Finding]:
    meta = {rule.id for rule in META_RULES}
    return [f for f in report.findings if f.rule_id in meta]


def _coverage(report: Report) -> list[dict[str, Any]]:
    passed = Counter(r.rule_id for r in report.checks() if r.passed)
    failed = Counter(f.rule_id for f in report.findings if f.status == FAILED)
    waived = Counter(f.rule_id for f in report.findings if f.status == WAIVED)
    by_control: dict[Control, list[Rule | MetaRule]] = {}
    shown: list[Rule | MetaRule] = [*report.rules, *(meta for meta in META_RULES if failed[meta.id])]
    for rule in shown:
        for reference in rule.controls:
            by_control.setdefault(parse(reference), []).append(rule)
    frameworks: dict[str, list[dict[str, Any]]] = {}
    for control in sorted(by_control, key=lambda c: (c.framework, _natural(c), c.reference)):
        rules = [{"id": r.id, "title": r.title, "passed": passed[r.id], "failed": failed[r.id], "waived": waived[r.id]}
                 for r in sorted(by_control[control], key=lambda r: r.id)]
        frameworks.setdefault(control.framework, []).append({
            "reference": control.reference, "rules": rules, "failed": sum(r["failed"] for r in rules)})
    return [{"name": name, "controls": controls} for name, controls in sorted(frameworks.items())]


def _evidence(label: str, value: object) -> dict[str, Any]:
    text = str(value)
    return {"label": label, "text": text, "href": text if _LINK.match(text) else None}


def _sheets(services: dict[str, Service], report: Report) -> list[dict[str, Any]]:
    """Each service's sheet, most critical first; its findings in the report's order."""
    findings_of: dict[str, list[Finding]] = {}
    for finding in report.findings:
        findings_of.setdefault(finding.target, []).append(finding)
    return [_sheet(service, findings_of.get(service.id, [])) for service in sorted(services.values(), key=_by_tier)]


def _sheet(service: Service, findings: list[Finding]) -> dict[str, Any]:
    exercises = sorted(((plan.id, ex) for plan in service.plans for ex in plan.exercises),
                       key=lambda pe: (pe[1].date, pe[1].rank, pe[0], pe[1].key))
    last = exercises[-1] if exercises else None
    evidence = [_evidence(f"exercise {ex.key} ({plan})", ex.evidence) for plan, ex in exercises if ex.evidence]
    restores = []
    for backup in sorted(service.backups, key=lambda b: b.id):
        test = backup.last_restore_test
        restores.append({"backup": backup.id, "date": test.date.isoformat() if test else "never tested",
                         "result": test.result if test else None})
        if test is not None and test.evidence:
            evidence.append(_evidence(f"restore test {backup.id} ({test.date.isoformat()})", test.evidence))
    objectives, sites = service.objectives, service.sites
    return {
        "id": service.id, "name": _text(service.name), "description": _text(service.description, empty=""),
        "tier": _tier(service), "production": service.production, "lifecycle": service.lifecycle,
        "owner": _text(service.owner), "kind": service.kind, "cif": service.critical_or_important_function,
        "rto": _text(objectives.rto), "rpo": _text(objectives.rpo), "mtpd": _text(objectives.mtpd),
        "wrt": _text(objectives.wrt), "strategy": _text(sites.strategy if sites else None),
        "primary": _text(sites.primary.id if sites and sites.primary else None),
        "alternates": ", ".join(s.id for s in sites.alternates) if sites and sites.alternates else DASH,
        "last_exercise": None if last is None else {"date": last[1].date.isoformat(), "type": last[1].type,
                                                    "result": last[1].result, "plan": last[0]},
        "restores": restores, "evidence": sorted(evidence, key=lambda e: (e["label"], e["text"])),
        "findings": [_finding(f) for f in findings],
    }


def _waivers(report: Report) -> list[dict[str, Any]]:
    meta = {(f.rule_id, f.target, f.subject) for f in report.findings}
    expiring = set(report.expiring_waivers())
    covers = Counter(f.waiver for f in report.findings if f.waiver is not None)
    rows = []
    for waiver in report.inventory.waivers:
        status = [name for rule, name in ((EXPIRED, "expired"), (UNUSED, "unused"), (LIFETIME, "lifetime too long"))
                  if (rule.id, waiver.target_label, waiver.key) in meta]
        if waiver in expiring:
            status.append(f"expires within {report.warn_expiring_days} days")
        rows.append({"id": waiver.id or "", "rule": waiver.rule, "target": waiver.target,
                     "reason": _text(waiver.reason), "approver": _text(waiver.approved_by),
                     "created": waiver.created.isoformat() if waiver.created else DASH,
                     "expires": waiver.expires.isoformat(), "ticket": _text(waiver.ticket),
                     "status": ", ".join(status) if status else "active",
                     "badge": "expired" if "expired" in status else "unused" if "unused" in status else "active",
                     "covers": covers[waiver]})
    return sorted(rows, key=lambda r: (r["rule"], r["target"], r["id"], r["expires"]))


def _dependencies(report: Report, services: dict[str, Service]) -> dict[str, Any]:
    on_path: set[tuple[str, str]] = set()
    for finding in report.findings:
        match = _PATH.search(finding.message) if finding.rule_id == INVERSIONS else None
        if match:
            hops = match.group(1).split(" -> ")
            on_path.update(zip(hops, hops[1:]))
    # ITSCM-029 names a cycle's members in its subject ("cycle:a,b,c"), which is stabler than its message.
    cycles = sorted(f.subject.removeprefix("cycle:").split(",") for f in report.findings
                    if f.rule_id == CYCLES and f.subject.startswith("cycle:"))
    members = {m: i for i, group in enumerate(cycles) for m in group}
    vendors = {f"vendor:{v.id}": v for v in report.inventory.vendors}
    rows = []
    for service in sorted(services.values(), key=_by_tier):
        edges = []
        for ref in sorted({d.ref for d in service.dependencies if d.hard}):
            target: Duration | None = None
            if ref in services:
                kind, target = "service", services[ref].objectives.rto
            elif ref in vendors:
                sla = vendors[ref].sla
                kind, target = "vendor", sla.rto if sla else None
            else:
                kind = "unknown"
            source = service.objectives.rto
            slower = source is not None and target is not None and target > source
            cycle = service.id in members and members.get(ref) == members[service.id]
            path = (service.id, ref) in on_path
            edges.append({"target": ref, "kind": kind, "rto": _text(target), "slower": slower, "on_path": path,
                          "cycle": cycle, "flagged": slower or path or cycle})
        if edges:
            rows.append({"id": service.id, "tier": _tier(service), "production": service.production,
                         "rto": _text(service.objectives.rto), "edges": edges})
    return {"services": rows, "cycles": [", ".join(c) for c in cycles],
            "findings": [_finding(f) for f in report.findings if f.rule_id in (CYCLES, INVERSIONS)]}
