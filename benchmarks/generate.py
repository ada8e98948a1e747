"""Generate a large, valid and realistic itscm/v1 inventory for benchmarking itscm-check.

    python benchmarks/generate.py --services 10000 --files 400 --out /tmp/inv10k [--seed 1]

Writes ``shared.yaml`` (sites, vendors, programme) and ``services/<domain>/<domain>-NNNN.yaml``
files, each with its own teams, services and a few waivers; ``--single-file`` writes the same
documents into one ``inventory.yaml``, and ``--one-document`` writes them as one document there, as
an export from a CMDB would be. Most services are compliant at ``--as-of``; some carry
deliberate gaps so the checker reports a realistic number of findings. Dependencies point mostly
"downwards" (a DAG, cheaper or equal RTO) with a few cycles. Output is deterministic per seed.
Needs only the standard library and PyYAML.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

GENERATOR_VERSION = 1
MARKER = ".benchmark-inventory.json"  # dot-named: itscm-check skips it
Doc = dict[str, Any]

try:  # libyaml makes writing 100k services take seconds rather than minutes
    _BaseDumper: type = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _BaseDumper = yaml.SafeDumper


class _Dumper(_BaseDumper):  # type: ignore[misc]
    """Safe dumper that never writes anchors: hand-written inventories have none."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


# --- reference data --------------------------------------------------------------------------

H, D, W = 60, 1440, 10080  # minutes
SITES = [  # id, provider, region, kind, failure domain
    ("aws-euw1-a", "aws", "eu-west-1", "cloud-region", "aws-eu-west-1"),
    ("aws-euw1-b", "aws", "eu-west-1", "cloud-region", "aws-eu-west-1"),
    ("aws-euc1-a", "aws", "eu-central-1", "cloud-region", "aws-eu-central-1"),
    ("aws-euc1-b", "aws", "eu-central-1", "cloud-region", "aws-eu-central-1"),
    ("gcp-euw4", "gcp", "europe-west4", "cloud-region", "gcp-europe-west4"),
    ("azure-neu", "azure", "northeurope", "cloud-region", "azure-north-europe"),
    ("dc-fra-hall1", "equinix", "frankfurt", "colo", "fra-campus"),
    ("dc-fra-hall2", "equinix", "frankfurt", "colo", "fra-campus"),
    ("dc-ams", "in-house", "amsterdam", "datacenter", "ams-dc"),
    ("dc-lon", "in-house", "london", "datacenter", "lon-dc"),
    ("office-lon", "in-house", "london", "office", "lon-office"),
    ("office-par", "in-house", "paris", "office", "par-office"),
]
FAILURE_DOMAIN = {site[0]: site[4] for site in SITES}
COMPUTE_SITES = [s[0] for s in SITES if s[3] != "office"]
OFFICES = ["office-lon", "office-par"]
DOMAINS = ["payments", "identity", "catalog", "search", "billing", "logistics", "orders", "crm",
           "analytics", "messaging", "hr", "finance", "risk", "fraud", "pricing", "warehouse",
           "shipping", "support", "marketing", "platform"]
COMPONENTS = [  # name, kind, stateful
    ("api", "service", False), ("gateway", "service", False), ("worker", "service", False),
    ("scheduler", "service", False), ("portal", "service", False), ("ingest", "service", False),
    ("ledger", "service", True), ("reporting", "service", False), ("db", "resource", True),
    ("cache", "resource", False), ("queue", "resource", True), ("bucket", "resource", True),
]
VENDOR_KINDS = ["cloud-iaas", "payments-psp", "cdn", "email-delivery", "sms-gateway", "identity-idp",
                "observability", "ticketing", "hr-saas", "crm-saas", "card-processor", "kyc",
                "maps-api", "tax-engine", "dns", "ddos-protection", "erp", "data-warehouse",
                "backup-saas", "paging"]
FIRST = ["Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira",
         "Liam", "Maya", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Ugo", "Vera"]
LAST = ["Adams", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Horvat", "Ivanova",
        "Jansen", "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petit", "Rossi", "Silva"]
STRONG_TYPES = {1: ["full-failover"], 2: ["functional", "simulation", "parallel"],
                3: ["tabletop", "functional"], 4: ["walkthrough", "tabletop"]}
WEAK_TYPES = ["walkthrough", "tabletop"]
PLAN_SLUG = {"disaster-recovery": "dr", "business-continuity": "bc", "iscp": "iscp", "runbook": "runbook"}
OLDER_TYPES = ["walkthrough", "tabletop", "functional", "simulation", "parallel"]
SCENARIOS = ["region-outage", "data-corruption", "ransomware", "cyber-attack", "third-party-failure",
             "key-staff-unavailable", "network-partition"]


@dataclass(frozen=True)
class TierRules:
    """Section 3 thresholds, and the objective values a compliant service of the tier picks."""

    exercise_age: int  # max age in days
    plan_review: int
    bia_age: int
    restore_age: int
    rto: tuple[int, ...]  # minutes, all within the tier's ceiling
    rpo: tuple[int, ...]
    strategies: tuple[str, ...]


TIERS = {
    1: TierRules(183, 183, 365, 90, (15, 30, H, 2 * H, 4 * H), (5, 15, 30, H), ("active-active", "hot-standby")),
    2: TierRules(365, 365, 365, 180, (4 * H, 8 * H, 12 * H, D), (H, 4 * H, 12 * H, D),
                 ("hot-standby", "warm-standby", "pilot-light")),
    3: TierRules(730, 365, 730, 365, (D, 2 * D, 3 * D), (4 * H, 12 * H, D),
                 ("warm-standby", "pilot-light", "cold", "backup-restore")),
    4: TierRules(730, 365, 730, 365, (3 * D, 5 * D, W, 2 * W), (D, W), ("backup-restore", "none")),
}


# --- small helpers ---------------------------------------------------------------------------

def duration(minutes: int, rng: random.Random) -> str:
    """Render minutes as a duration, mostly shorthand and sometimes ISO 8601, as people write."""
    if minutes == 0:
        return "0m"
    if rng.random() < 0.7:
        parts = [(minutes // D, "d"), (minutes % D // H, "h"), (minutes % H, "m")]
        return "".join(f"{n}{unit}" for n, unit in parts if n)
    if minutes % W == 0:
        return f"P{minutes // W}W"
    days, rest = divmod(minutes, D)
    clock = "".join(f"{n}{u}" for n, u in ((rest // H, "H"), (rest % H, "M")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{clock}" if clock else "")


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def phone(rng: random.Random) -> str:
    return f"+44 20 7{rng.randint(100, 999)} {rng.randint(1000, 9999)}"


@dataclass
class Context:
    """Everything the per-service builders share: the clock, the randomness and the id pools."""

    rng: random.Random
    as_of: dt.date
    vendors: list[str]
    vendor_weights: list[float]

    def ago(self, low: int, high: int) -> dt.date:
        """A date between ``low`` and ``high`` days before the as-of date."""
        return self.as_of - dt.timedelta(days=self.rng.randint(low, max(low, high)))


# --- shared file: sites, vendors, programme -------------------------------------------------

def site_docs() -> list[Doc]:
    return [{"id": sid, "provider": provider, "region": region, "kind": kind, "failure_domain": fd}
            for sid, provider, region, kind, fd in SITES]


def vendor_ids(count: int) -> list[str]:
    return [f"{VENDOR_KINDS[i % len(VENDOR_KINDS)]}-{i // len(VENDOR_KINDS) + 1}" for i in range(count)]


def vendor_doc(vid: str, ctx: Context) -> Doc:
    rng = ctx.rng
    doc: Doc = {"id": vid, "name": vid.replace("-", " ").title() + " Ltd",
                "criticality": rng.choices(["critical", "important", "standard"], [2, 5, 3])[0],
                "sla": {"availability": rng.choice(["99.9%", "99.95%", "99.99%"]),
                        "rto": duration(rng.choice([H, 2 * H, 4 * H, 8 * H]), rng),
                        "rpo": duration(rng.choice([15, H, 4 * H]), rng),
                        "document": f"https://contracts.example.com/{vid}/sla.pdf"},
                "continuity_evidence": {"type": rng.choice(["soc2-type2", "iso22301-cert", "bcp-test-report"]),
                                        "reference": f"DMS-{rng.randint(10000, 99999)}",
                                        "date": ctx.ago(20, 300)},
                "exit_plan": f"https://wiki.example.com/vendors/{vid}/exit-plan",
                "register_of_information_id": f"ROI-{rng.randint(1000, 9999)}"}
    if rng.random() < 0.15:  # a realistic share of vendors without current assurance
        del doc[rng.choice(["exit_plan", "continuity_evidence"])]
    return doc


def shared_doc(ctx: Context) -> Doc:
    programme = {"bc_policy": {"document": "https://wiki.example.com/itscm/bc-policy",
                               "approved_by": "Chief Operating Officer", "approved_on": ctx.ago(60, 200)},
                 "last_management_review": ctx.ago(30, 150), "last_internal_audit": ctx.ago(60, 250)}
    return {"apiVersion": "itscm/v1",
            "metadata": {"name": "shared", "description": "Sites, vendors and the BC programme"},
            "programme": programme, "sites": site_docs(),
            "vendors": [vendor_doc(vid, ctx) for vid in ctx.vendors]}


# --- skeletons: the facts dependency choices need, decided before anything is rendered -------

@dataclass
class Skeleton:
    """One service's identity and the attributes that other services' dependencies look at."""

    index: int
    file: int
    sid: str
    domain: str
    component: str
    kind: str
    stateful: bool
    tier: int
    production: bool
    rto: int
    rpo: int
    cif: bool
    deps: list[Doc] = field(default_factory=list)


def skeleton(index: int, file: int, width: int, rng: random.Random) -> Skeleton:
    domain = DOMAINS[file % len(DOMAINS)]
    component, kind, stateful = rng.choice(COMPONENTS)
    tier = rng.choices([1, 2, 3, 4], [10, 35, 40, 15])[0]
    return Skeleton(index=index, file=file, sid=f"{domain}-{component}-{index:0{width}d}", domain=domain,
                    component=component, kind=kind, stateful=stateful or rng.random() < 0.1, tier=tier,
                    production=rng.random() < 0.92, rto=rng.choice(TIERS[tier].rto),
                    rpo=rng.choice(TIERS[tier].rpo), cif=tier <= 2 and rng.random() < 0.3)


def make_skeletons(services: int, files: int, rng: random.Random) -> list[list[Skeleton]]:
    """Services split as evenly as possible over files; each file belongs to one domain."""
    width = len(str(services - 1))
    per_file, extra = divmod(services, files)
    result: list[list[Skeleton]] = []
    index = 0
    for f in range(files):
        count = per_file + (f < extra)
        result.append([skeleton(i, f, width, rng) for i in range(index, index + count)])
        index += count
    return result


def service_edge(source: Skeleton, target: Skeleton, rng: random.Random) -> Doc:
    """An edge that keeps RTO and tier monotone when hard; violations are mostly mitigated."""
    safe = target.rto <= source.rto and target.tier <= source.tier + 1
    edge: Doc = {"ref": target.sid}
    if safe and rng.random() < 0.8:
        return edge
    if safe or rng.random() < 0.5:
        edge["type"] = "soft"
    elif rng.random() < 0.95:  # a real hard edge, made acceptable by a workaround
        edge["mitigation"] = "Serves cached data; writes are queued"
    return edge  # else: an unmitigated inversion, which ITSCM-030/031 report


def pick_target(source: Skeleton, flat: list[Skeleton], file_start: int, rng: random.Random) -> Skeleton | None:
    """Mostly a service of the same file, else one of an earlier file: edges point backwards."""
    if source.index > file_start and (file_start == 0 or rng.random() < 0.65):
        return flat[rng.randrange(file_start, source.index)]
    if file_start > 0:
        return flat[rng.randrange(0, file_start)]
    return None


def add_dependencies(groups: list[list[Skeleton]], ctx: Context) -> None:
    rng = ctx.rng
    flat = [s for group in groups for s in group]
    for group in groups:
        start = group[0].index
        for svc in group:
            seen: set[str] = set()
            for _ in range(rng.choices([0, 1, 2, 3, 4], [15, 30, 30, 15, 10])[0]):
                target = pick_target(svc, flat, start, rng)
                if target is not None and target.sid not in seen:
                    seen.add(target.sid)
                    svc.deps.append(service_edge(svc, target, rng))
            if rng.random() < 0.3:
                vendor = rng.choices(ctx.vendors, ctx.vendor_weights)[0]
                edge: Doc = {"ref": f"vendor:{vendor}"}
                if rng.random() < 0.3:
                    edge["type"] = "soft"
                svc.deps.append(edge)
    add_cycles(flat, rng)


def add_cycles(flat: list[Skeleton], rng: random.Random) -> None:
    """Close a few hard edges into cycles (ITSCM-029), as real graphs have."""
    wanted = max(1, round(len(flat) / 2000))
    by_id = {s.sid: s for s in flat}
    order = list(range(len(flat)))
    rng.shuffle(order)
    for i in order:
        if wanted == 0:
            return
        svc = flat[i]
        for edge in svc.deps:
            target = by_id.get(edge["ref"])
            if target is None or len(edge) > 1 or not (svc.production and target.production):
                continue
            if target.rto == svc.rto:  # equal RTOs: the cycle adds no RTO inversion of its own
                target.deps.append({"ref": svc.sid})
                wanted -= 1
                break


# --- one service ----------------------------------------------------------------------------

def bia(svc: Skeleton, ctx: Context) -> Doc:
    completed = ctx.ago(10, int(TIERS[svc.tier].bia_age * 0.8))
    doc: Doc = {"id": f"BIA-{svc.index}"} if svc.tier <= 2 else {}
    doc.update({"document": f"https://wiki.example.com/bia/{svc.sid}", "completed_on": completed})
    if svc.tier <= 2:  # the optional fields, filled in where auditors look hardest
        doc.update({"approved_by": person(ctx.rng),
                    "next_review": completed + dt.timedelta(days=TIERS[svc.tier].bia_age)})
    return doc


def objectives(svc: Skeleton, ctx: Context) -> Doc:
    rng = ctx.rng
    doc = {"rto": duration(svc.rto, rng), "rpo": duration(svc.rpo, rng),
           "mtpd": duration(svc.rto * rng.choice([2, 3, 4]), rng)}
    if rng.random() < 0.3:
        doc["wrt"] = duration(max(15, svc.rto // 2), rng)
    return doc


def sites(svc: Skeleton, ctx: Context) -> Doc:
    rng = ctx.rng
    primary = rng.choice(COMPUTE_SITES)
    others = [s for s in COMPUTE_SITES if FAILURE_DOMAIN[s] != FAILURE_DOMAIN[primary]]
    doc: Doc = {"primary": primary, "alternates": [rng.choice(others)],
                "strategy": rng.choice(TIERS[svc.tier].strategies)}
    if svc.tier == 4 and doc["strategy"] == "none":
        del doc["alternates"]
    return doc


def exercise(svc: Skeleton, number: int, age: int, kind: str, result: str, ctx: Context,
             scenarios: list[str] | None = None) -> Doc:
    rng = ctx.rng
    doc: Doc = {"id": f"EX-{svc.index}"} if number == 1 and rng.random() < 0.4 else {}
    doc.update({"date": ctx.as_of - dt.timedelta(days=age), "type": kind})
    if scenarios or rng.random() < 0.3:
        doc["scenarios"] = scenarios or [rng.choice(SCENARIOS)]
    doc["result"] = result
    if number == 1:  # teams measure the achieved objectives on their main exercise
        doc["achieved_rto"] = duration(max(5, svc.rto * rng.randint(40, 95) // 100), rng)
        doc["achieved_rpo"] = duration(max(1, svc.rpo * rng.randint(10, 90) // 100), rng)
    if age <= 365 or rng.random() < 0.5:  # older records are less complete; only 365 days count
        doc["evidence"] = f"https://grc.example.com/ev/{svc.index}-{number}"
    if result != "pass":
        doc["corrective_action"] = f"CHG-{rng.randint(10000, 99999)}"
    return doc


def exercises(svc: Skeleton, strong: bool, ctx: Context) -> list[Doc]:
    """1-4 exercises, newest first, the newest recent and passed (so no retest is pending)."""
    rng = ctx.rng
    oldest = int(TIERS[svc.tier].exercise_age * 0.8)
    # The strong exercise must fall within 365 days to count for ITSCM-015.
    age = rng.randint(5, min(oldest, 300) if strong else oldest)
    kind = rng.choice(STRONG_TYPES[svc.tier] if strong else WEAK_TYPES)
    # ITSCM-021 wants tier 1 and CIF services to rehearse a cyber attack and a vendor failure.
    coverage = ["ransomware", "third-party-failure"] if strong and (svc.tier == 1 or svc.cif) else None
    result = [exercise(svc, 1, age, kind, "pass", ctx, coverage)]
    for number in range(2, 2 + rng.choices([0, 1, 2, 3], [60, 25, 10, 5])[0]):
        age += rng.randint(60, 200)
        outcome = rng.choices(["pass", "partial", "fail"], [80, 15, 5])[0]
        result.append(exercise(svc, number, age, rng.choice(OLDER_TYPES), outcome, ctx))
    return result


def plan(svc: Skeleton, kind: str, strong: bool, ctx: Context) -> Doc:
    rng = ctx.rng
    rules = TIERS[svc.tier]
    history = exercises(svc, strong, ctx)
    reviewed = ctx.ago(5, int(rules.plan_review * 0.8))
    doc: Doc = {"id": f"{svc.sid}-{PLAN_SLUG[kind]}", "type": kind,
                "document": f"https://wiki.example.com/{PLAN_SLUG[kind]}/{svc.sid}",
                "version": f"{rng.randint(1, 6)}.{rng.randint(0, 9)}",
                "last_updated": history[0]["date"] - dt.timedelta(days=rng.randint(3, 90)),
                "last_reviewed": reviewed}
    if rng.random() < 0.5:
        doc["next_review"] = reviewed + dt.timedelta(days=rules.plan_review)
    if kind in ("disaster-recovery", "business-continuity", "iscp"):
        doc["activation_criteria"] = "Outage over RTO/2 or data loss"
        doc["invocation_authority"] = {"primary": person(rng)}
        if svc.tier == 1:  # ITSCM-011 asks tier 1 for a deputy
            doc["invocation_authority"]["alternate"] = person(rng)
        doc["stored_copies"] = [rng.choice(OFFICES)]
    doc["exercises"] = history
    return doc


def plans(svc: Skeleton, ctx: Context) -> list[Doc]:
    rng = ctx.rng
    if svc.tier == 4:
        return [plan(svc, "runbook", True, ctx)] if rng.random() < 0.4 else []
    result = [plan(svc, rng.choice(["disaster-recovery", "disaster-recovery", "iscp"]), True, ctx)]
    if svc.tier == 1 and rng.random() < 0.3:
        result.append(plan(svc, "business-continuity", False, ctx))
    if rng.random() < 0.1:
        result.append(plan(svc, "runbook", False, ctx))
    return result


def backup(svc: Skeleton, primary: str, frequency: int, retention: int, offsite: bool, ctx: Context) -> Doc:
    rng = ctx.rng
    doc: Doc = {"id": f"{svc.sid}-{'offsite' if offsite else 'local'}"}
    if rng.random() < 0.5:
        doc["method"] = rng.choice(["snapshot", "wal-archive", "object-versioning", "dump"])
    doc.update({"frequency": duration(frequency, rng), "retention": duration(retention, rng)})
    if offsite:  # another failure domain than the primary site, else ITSCM-025 would not count it
        others = [s for s in COMPUTE_SITES if FAILURE_DOMAIN[s] != FAILURE_DOMAIN[primary]]
        doc.update({"offsite": True, "location": rng.choice(others), "immutable": True, "encrypted": True})
    restore: Doc = {"date": ctx.ago(3, int(TIERS[svc.tier].restore_age * 0.8)), "result": "pass"}
    if rng.random() < 0.4:
        restore["duration"] = duration(rng.choice([20, 45, 90, 180]), rng)
    restore["evidence"] = f"https://grc.example.com/ev/{svc.index}-r"
    doc["last_restore_test"] = restore
    return doc


def backups(svc: Skeleton, primary: str, ctx: Context) -> list[Doc]:
    if not svc.stateful:
        return []
    # The most frequent copy must be at least as frequent as the RPO (ITSCM-023).
    frequency = max(f for f in (5, 15, H, 4 * H, D) if f <= max(svc.rpo, 5))
    result = [backup(svc, primary, frequency, 35 * D, False, ctx)]
    if svc.tier <= 3:
        result.append(backup(svc, primary, D, 90 * D, True, ctx))
    return result


def service(svc: Skeleton, owner: str, ctx: Context) -> Doc:
    rng = ctx.rng
    doc: Doc = {"id": svc.sid, "name": f"{svc.domain.title()} {svc.component} {svc.index}"}
    if rng.random() < 0.2:
        doc["description"] = f"{svc.component.title()} of the {svc.domain} domain"
    if svc.kind != "service":
        doc["kind"] = svc.kind
    doc["tier"] = svc.tier
    if svc.cif:
        doc["critical_or_important_function"] = True
    if not svc.production:
        doc["lifecycle"] = rng.choice(["experimental", "deprecated", "retired"])
    doc["owner"] = owner
    if svc.stateful:
        doc["stateful"] = True
    placement = sites(svc, ctx)
    doc.update({"bia": bia(svc, ctx), "objectives": objectives(svc, ctx), "sites": placement})
    optional = {"dependencies": [dict(d) for d in svc.deps], "plans": plans(svc, ctx),
                "backups": backups(svc, placement["primary"], ctx)}
    doc.update({k: v for k, v in optional.items() if v})
    doc["labels"] = {"domain": svc.domain, "cost-center": f"cc-{svc.file % 97:03d}"}
    return doc


# --- deliberate gaps --------------------------------------------------------------------------

Gap = Callable[[Doc, Context], str | None]  # returns the rule id the gap should trigger


def _first_plan(doc: Doc) -> Doc | None:
    return doc["plans"][0] if doc.get("plans") else None


def gap_owner(doc: Doc, ctx: Context) -> str | None:
    del doc["owner"]
    return "ITSCM-001"


def gap_tier(doc: Doc, ctx: Context) -> str | None:
    del doc["tier"]
    return "ITSCM-002"


def gap_bia(doc: Doc, ctx: Context) -> str | None:
    if ctx.rng.random() < 0.4:
        del doc["bia"]
        return "ITSCM-003"
    doc["bia"]["completed_on"] = ctx.ago(800, 1100)
    doc["bia"]["next_review"] = ctx.ago(30, 300)
    return "ITSCM-004"


def gap_objectives(doc: Doc, ctx: Context) -> str | None:
    objectives = doc["objectives"]
    if ctx.rng.random() < 0.5:
        del objectives["mtpd"]
        return "ITSCM-005"
    objectives["mtpd"] = objectives["rto"]
    objectives["wrt"] = "2h"
    return "ITSCM-006"


def gap_plan_review(doc: Doc, ctx: Context) -> str | None:
    plan = _first_plan(doc)
    if plan is None:
        return None
    plan["last_reviewed"] = ctx.ago(400, 700)
    plan["next_review"] = ctx.ago(10, 60)
    return "ITSCM-012"


def gap_plan_actionable(doc: Doc, ctx: Context) -> str | None:
    plan = _first_plan(doc)
    if plan is None or "activation_criteria" not in plan:
        return None
    del plan["activation_criteria"]
    return "ITSCM-011"


def gap_plan_copy(doc: Doc, ctx: Context) -> str | None:
    plan = _first_plan(doc)
    if plan is None or "stored_copies" not in plan or "primary" not in doc["sites"]:
        return None
    primary = doc["sites"]["primary"]
    plan["stored_copies"] = [s for s in COMPUTE_SITES if FAILURE_DOMAIN[s] == FAILURE_DOMAIN[primary]][:1]
    return "ITSCM-013"


def gap_stale_exercises(doc: Doc, ctx: Context) -> str | None:
    if not doc.get("plans"):
        return None
    for plan in doc["plans"]:
        for ex in plan["exercises"]:
            ex["date"] -= dt.timedelta(days=800)
        plan["last_updated"] -= dt.timedelta(days=800)
    return "ITSCM-014"


def gap_failed_exercise(doc: Doc, ctx: Context) -> str | None:
    plan = _first_plan(doc)
    if plan is None:
        return None
    latest = plan["exercises"][0]
    latest["result"] = "fail"
    latest["date"] = ctx.ago(190, 260)  # past every retest window, within T2-T3 exercise max age
    latest.pop("corrective_action", None)
    # Drop newer exercises: a later pass of the same plan would count as the retest.
    plan["exercises"] = [latest] + [ex for ex in plan["exercises"][1:] if ex["date"] < latest["date"]]
    plan["last_updated"] = latest["date"] - dt.timedelta(days=5)
    return "ITSCM-016"


def gap_evidence(doc: Doc, ctx: Context) -> str | None:
    plan = _first_plan(doc)
    if plan is None:
        return None
    plan["exercises"][0].pop("evidence", None)
    return "ITSCM-018"


def gap_objectives_missed(doc: Doc, ctx: Context) -> str | None:
    plan = _first_plan(doc)
    if plan is None:
        return None
    plan["exercises"][0]["achieved_rto"] = "3w"
    return "ITSCM-019"


def gap_plan_changed(doc: Doc, ctx: Context) -> str | None:
    plan = _first_plan(doc)
    if plan is None:
        return None
    plan["last_updated"] = ctx.ago(0, 3)
    return "ITSCM-020"


def gap_restore_test(doc: Doc, ctx: Context) -> str | None:
    if not doc.get("backups"):
        return None
    test = doc["backups"][0]["last_restore_test"]
    if ctx.rng.random() < 0.5:
        test["result"] = "partial"
    else:
        test["date"] = ctx.ago(400, 600)
    return "ITSCM-024"


def gap_offsite(doc: Doc, ctx: Context) -> str | None:
    if len(doc.get("backups", [])) < 2:
        return None
    doc["backups"].pop()  # the offsite copy carried both the offsite and immutable flags
    return "ITSCM-025"


def gap_backup_frequency(doc: Doc, ctx: Context) -> str | None:
    if not doc.get("backups"):
        return None
    for item in doc["backups"]:
        item["frequency"] = "1w"
    return "ITSCM-023"


def gap_alternate_site(doc: Doc, ctx: Context) -> str | None:
    doc["sites"].pop("alternates", None)
    doc["sites"]["strategy"] = "backup-restore"
    return "ITSCM-027"


def gap_dangling_ref(doc: Doc, ctx: Context) -> str | None:
    doc.setdefault("dependencies", []).append({"ref": f"legacy-mainframe-{ctx.rng.randint(1, 9)}"})
    return "ITSCM-028"


def gap_future_date(doc: Doc, ctx: Context) -> str | None:
    doc["bia"] = doc.get("bia") or {"document": f"https://wiki.example.com/bia/{doc['id']}"}
    doc["bia"]["completed_on"] = ctx.as_of + dt.timedelta(days=ctx.rng.randint(1, 30))
    return "ITSCM-036"


GAPS: list[tuple[Gap, int]] = [  # gap, relative frequency
    (gap_owner, 1), (gap_tier, 2), (gap_bia, 6), (gap_objectives, 3), (gap_plan_review, 8),
    (gap_plan_actionable, 4), (gap_plan_copy, 3), (gap_stale_exercises, 6), (gap_failed_exercise, 4),
    (gap_evidence, 5), (gap_objectives_missed, 2), (gap_plan_changed, 4), (gap_restore_test, 6),
    (gap_offsite, 3), (gap_backup_frequency, 2), (gap_alternate_site, 3), (gap_dangling_ref, 1),
    (gap_future_date, 1),
]


def add_gaps(doc: Doc, ctx: Context) -> list[str]:
    """Most services stay clean; some get one or two gaps, a few many."""
    count = ctx.rng.choices([0, 1, 2, 4], [70, 18, 8, 4])[0]
    gaps = ctx.rng.choices([g for g, _ in GAPS], [w for _, w in GAPS], k=count)
    rules: list[str] = []
    for gap in dict.fromkeys(gaps):  # each gap at most once, in a deterministic order
        rule = gap(doc, ctx)
        if rule is not None:
            rules.append(rule)
    return rules


def waiver(service_id: str, rule: str, ctx: Context) -> Doc:
    expired = ctx.rng.random() < 0.1
    expires = ctx.ago(5, 60) if expired else ctx.as_of + dt.timedelta(days=ctx.rng.randint(30, 180))
    return {"id": f"WV-{service_id}-{rule[-3:]}", "rule": rule, "target": service_id,
            "reason": "Accepted while the remediation project is under way", "approved_by": person(ctx.rng),
            "expires": expires, "created": ctx.ago(30, 120), "ticket": f"RISK-{ctx.rng.randint(100, 9999)}"}


# --- teams and files ---------------------------------------------------------------------------

def team(tid: str, name: str, ctx: Context) -> Doc:
    rng = ctx.rng
    contacts: list[Doc] = [
        {"name": person(rng), "role": "primary", "email": f"{tid}-oncall@example.com", "phone": phone(rng)},
        {"name": person(rng), "role": "alternate", "email": f"{tid}-lead@example.com", "phone": phone(rng),
         "out_of_hours": "PagerDuty rota"},
    ]
    if rng.random() < 0.08:  # an incomplete contact list (ITSCM-008)
        contacts.pop()
    if rng.random() < 0.3:
        contacts.append({"name": person(rng), "role": "escalation", "email": f"{tid}-head@example.com"})
    # Within 75 days passes the strictest call tree limit (tier 1, 90 days); some teams lag.
    return {"id": tid, "name": name, "contacts": contacts,
            "call_tree_verified_on": ctx.ago(5, 75 if rng.random() < 0.9 else 400),
            "continuity_training_on": ctx.ago(20, 300 if rng.random() < 0.92 else 500)}


def file_doc(group: list[Skeleton], ctx: Context) -> Doc:
    first = group[0]
    name = f"{first.domain}-{first.file:04d}"
    team_ids = [f"{name}-team-{chr(ord('a') + k)}" for k in range(ctx.rng.randint(1, 3))]
    teams = [team(tid, f"{first.domain.title()} team {first.file}{tid[-1]}", ctx) for tid in team_ids]
    services: list[Doc] = []
    waivers: list[Doc] = []
    for svc in group:
        doc = service(svc, ctx.rng.choice(team_ids), ctx)
        for rule in add_gaps(doc, ctx):
            # Risk owners waive gaps of the services the rules apply to (tier 4 and non-production
            # are exempt); a few still go unused (ITSCM-901) when a gap does not fire.
            if svc.production and svc.tier <= 3 and ctx.rng.random() < 0.15:
                waivers.append(waiver(svc.sid, rule, ctx))
        services.append(doc)
    result: Doc = {"apiVersion": "itscm/v1",
                   "metadata": {"name": name, "description": f"{first.domain.title()} services, part {first.file}"},
                   "x-source": "cmdb-export", "teams": teams, "services": services}
    if waivers:
        result["waivers"] = waivers
    return result


def file_path(group: list[Skeleton]) -> Path:
    first = group[0]
    return Path("services") / first.domain / f"{first.domain}-{first.file:04d}.yaml"


# --- output ------------------------------------------------------------------------------------

def documents(services: int, files: int, seed: int, as_of: dt.date) -> Iterator[tuple[Path, Doc]]:
    """(relative path, document) pairs, the shared file first; built lazily to bound memory."""
    rng = random.Random(seed)
    vendors = vendor_ids(max(12, services // 250))
    ctx = Context(rng, as_of, vendors, [1 / (rank + 1) for rank in range(len(vendors))])
    groups = make_skeletons(services, files, rng)
    add_dependencies(groups, ctx)
    yield Path("shared.yaml"), shared_doc(ctx)
    for group in groups:
        yield file_path(group), file_doc(group, ctx)


def dump(doc: Doc, stream: Any) -> None:
    yaml.dump(doc, stream, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
              allow_unicode=True, width=110)


def one_document(docs: Iterator[tuple[Path, Doc]]) -> Doc:
    """The documents as one: the shared file's keys, then every file's teams, services and waivers
    in order (each file's metadata and x-source are left out: a document has one of each)."""
    merged: Doc = {}
    for _, doc in docs:
        for key, value in doc.items():
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            elif key not in merged and key != "x-source":
                merged[key] = {"name": "inventory", "description": "Every service in one document"} \
                    if key == "metadata" else value
    return merged


def write(out: Path, docs: Iterator[tuple[Path, Doc]], single_file: bool, one: bool = False) -> int:
    """Write the documents and return the total size in bytes."""
    if one:
        with (out / "inventory.yaml").open("w", encoding="utf-8") as stream:
            dump(one_document(docs), stream)
        return (out / "inventory.yaml").stat().st_size
    if single_file:
        with (out / "inventory.yaml").open("w", encoding="utf-8") as stream:
            for k, (_, doc) in enumerate(docs):
                stream.write("---\n" if k else "")
                dump(doc, stream)
        return (out / "inventory.yaml").stat().st_size
    total = 0
    for rel, doc in docs:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as stream:
            dump(doc, stream)
        total += path.stat().st_size
    return total


def prepare(out: Path, force: bool) -> None:
    """Refuse to write over a directory this script did not create."""
    if out.exists() and any(out.iterdir()):
        if not (force and (out / MARKER).is_file()):
            sys.exit(f"{out} is not empty; use --force to replace an inventory generated by this script")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, required=True)
    parser.add_argument("--files", type=int, default=0, help="default: one file per 25 services")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2026, 6, 30),
                        help="date the inventory is mostly compliant at (default 2026-06-30)")
    parser.add_argument("--single-file", action="store_true", help="write one inventory.yaml")
    parser.add_argument("--one-document", action="store_true", help="write one inventory.yaml of one document")
    parser.add_argument("--force", action="store_true", help="replace a previously generated inventory")
    args = parser.parse_args(argv)
    if args.services < 1:
        parser.error("--services must be at least 1")
    args.files = min(args.services, args.files or max(1, args.services // 25))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prepare(args.out, args.force)
    start = time.perf_counter()
    size = write(args.out, documents(args.services, args.files, args.seed, args.as_of), args.single_file,
                 args.one_document)
    seconds = time.perf_counter() - start
    marker = {"generator_version": GENERATOR_VERSION, "services": args.services, "files": args.files,
              "seed": args.seed, "as_of": args.as_of.isoformat(), "single_file": args.single_file,
              "one_document": args.one_document, "bytes": size}
    (args.out / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    layout = "1 document" if args.one_document else "1 file" if args.single_file else f"{args.files} files + shared.yaml"
    print(f"{args.services} services, {layout}, {size / 1e6:.1f} MB in {seconds:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
