"""Loading policy files: the built-in pack first, then user files that add rules or override them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from itscm_check.cache import ParseCache, check_parts, file_parts, read_files
from itscm_check.checks import CHECKS
from itscm_check.errors import InputError, InputErrors
from itscm_check.loader import DocPath, Document, display_path, find_all_yaml_files, find_yaml_files, load_files
from itscm_check.policy import names
from itscm_check.policy.codegen import compile_test
from itscm_check.policy.conditions import ConditionError, compile_condition, show
from itscm_check.policy.model import SEVERITIES, TIERS, Rule, SeverityOf
from itscm_check.schema import dotted, invalid_items, validate
from itscm_check.values import YamlTimestamp, parse_duration


def builtin_pack_dir() -> Path:
    """The default pack: shipped in the wheel, or the repository's ``policies/`` in a source checkout."""
    shipped = Path(str(resources.files("itscm_check"))) / "policies"
    return shipped if shipped.is_dir() else Path(__file__).resolve().parents[3] / "policies"


def builtin_digests() -> set[str]:
    """Content digests of the built-in pack's files: a copy of them elsewhere is not loaded twice."""
    return {file_digest(f) for f in find_yaml_files(builtin_pack_dir())[0]}


def extra_policy_files(extra: Iterable[Path] = ()) -> tuple[list[Path], list[InputError]]:
    """The policy files under ``extra``, less copies of the built-in pack's files."""
    skip = builtin_digests()
    found, errors = find_all_yaml_files(extra, "--policies")
    # ./policies of a source checkout is the built-in pack itself: load it once.
    return [f for f in found if _digest_or_none(f) not in skip], errors


def _digest_or_none(path: Path) -> str | None:
    """The file's digest, or None when it cannot be read (reading it for its rules says why)."""
    try:
        return file_digest(path)
    except OSError:
        return None


def load_rules(extra: Iterable[Path] = (), parse_cache: ParseCache | None = None,
               digests: dict[Path, bytes] | None = None) -> list[Rule]:
    """The built-in rules with every extra policy file applied, or InputErrors listing every problem.

    With ``parse_cache``, policy files are parsed and validated once per content, as inventory files
    are. ``digests`` gets the sha256 of each file read, in the order the files are applied.
    """
    files, errors = extra_policy_files(extra)
    pack = find_yaml_files(builtin_pack_dir())[0]
    parts = list(file_parts(read_files([*pack, *files], errors, {} if digests is None else digests)))
    documents: list[Document] = []
    unparsed: set[str] = set()  # files with a document that did not parse: the rest of each is left out
    for part, checked in zip(parts, check_parts(parts, "policy", parse_cache)):
        errors += checked.errors
        if part.shown not in unparsed:
            documents += checked.documents
        if not checked.complete:
            unparsed.add(part.shown)
    in_pack = {display_path(path) for path in pack}
    # The documents of a file with no error are valid: only the others are validated again, to
    # know which of their rules to leave out (their errors are listed once).
    failing = {error.location.path for error in errors}
    return _rules([doc for doc in documents if doc.path in in_pack], [doc for doc in documents if doc.path not in in_pack],
                  errors, lambda doc: validate(doc, "policy") if doc.path in failing else [])


def rules_from_documents(documents: list[Document]) -> list[Rule]:
    """The built-in rules with the given policy documents applied in order."""
    builtin, errors = load_files(find_yaml_files(builtin_pack_dir())[0])
    return _rules(builtin, documents, errors, lambda doc: validate(doc, "policy"))


def _rules(builtin: list[Document], documents: list[Document], errors: list[InputError],
           schema_errors: Callable[[Document], list[InputError]]) -> list[Rule]:
    found = list(errors)
    rules: dict[str, Rule] = {}
    # A rule or override that breaks the schema is left out, and the others still go through every
    # check, so that one run lists the problems of all of them.
    readable: list[tuple[Document, set[DocPath]]] = []
    for doc in [*builtin, *documents]:
        errs = schema_errors(doc)
        found += errs
        if isinstance(doc.data, dict):
            readable.append((doc, invalid_items(doc, "policy", ("rules", "overrides")) if errs else set()))
    # The ids of rules left out (None: one without a readable id): an override of one of them is
    # not "of an unknown rule".
    left_out = {_rule_id(doc, where) for doc, broken in readable for where in broken if where[0] == "rules"}
    # Every rule first, then every override: an override may change a rule of any file, whatever
    # the order the files are found in.
    for doc, broken in readable:
        found += _add_rules(doc, rules, any(doc is b for b in builtin), broken)
    for doc, broken in readable:
        found += _apply_overrides(doc, rules, broken, left_out)
    if found:
        raise InputErrors(found)
    return sorted(rules.values(), key=lambda r: r.id)


def _entries(doc: Document, key: str, broken: set[DocPath]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The entries of the list ``key`` that fit the schema, with their positions."""
    items = doc.data.get(key)
    for i, spec in enumerate(items if isinstance(items, list) else ()):
        if (key, i) not in broken:
            yield i, spec


def _rule_id(doc: Document, where: DocPath) -> str | None:
    item = doc.data[where[0]][where[1]]
    ident = item.get("id") if isinstance(item, dict) else None
    return ident if isinstance(ident, str) else None


def policy_name(path: Path) -> str:
    """How provenance names a policy file: the built-in pack's files by their name in the pack, so
    that its digest is the same wherever the tool is installed and run from."""
    try:
        return f"(built-in)/{path.resolve().relative_to(builtin_pack_dir().resolve()).as_posix()}"
    except ValueError:
        return display_path(path)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _add_rules(doc: Document, rules: dict[str, Rule], builtin: bool, broken: set[DocPath]) -> list[InputError]:
    errors: list[InputError] = []
    metadata = doc.data.get("metadata")
    pack = metadata.get("name", doc.path) if isinstance(metadata, dict) else doc.path
    by_folded_id = {rule_id.casefold(): rule for rule_id, rule in rules.items()}
    for i, spec in _entries(doc, "rules", broken):
        try:
            rule = _rule(spec, doc, ("rules", i), pack)
        except ConditionError as exc:
            errors += _located(doc, exc)
            continue
        same = by_folded_id.get(rule.id.casefold())
        if rule.id in rules:
            errors.append(InputError(rule.source, f"rule {rule.id} is already defined at {rules[rule.id].source}",
                                     "use overrides: to change an existing rule"))
        elif same is not None:  # ids are matched as written: ACME-001 and acme-001 would read as one
            errors.append(InputError(rule.source, f"rule {rule.id} differs only in case from rule {same.id} "
                                     f"at {same.source}", "give it an id of its own"))
        elif not builtin and rule.id.casefold().startswith("itscm-"):
            errors.append(InputError(rule.source, f"rule id {rule.id}: ITSCM- ids belong to the default pack "
                                     "and its waiver rules", "use a prefix of your own, such as ACME-001"))
        else:
            rules[rule.id] = rule
            by_folded_id[rule.id.casefold()] = rule
    return errors


def _apply_overrides(doc: Document, rules: dict[str, Rule], broken: set[DocPath], left_out: set[str | None]
                     ) -> list[InputError]:
    errors: list[InputError] = []
    for i, spec in _entries(doc, "overrides", broken):
        where = ("overrides", i)
        if spec["rule"] in left_out or (spec["rule"] not in rules and None in left_out):
            continue  # its rule is left out for a schema error (or has no readable id): said already
        if spec["rule"] not in rules:
            errors.append(InputError(doc.location(where + ("rule",)), f"override of unknown rule {spec['rule']}",
                                     "check the rule id with `itscm-check rules`"))
            continue
        try:
            rules[spec["rule"]] = _override(rules[spec["rule"]], spec, doc, where)
        except ConditionError as exc:
            errors += _located(doc, exc)
    return errors


def _rule(spec: dict[str, Any], doc: Document, where: tuple[Any, ...], pack: str) -> Rule:
    if ("fail_when" in spec) == ("check" in spec):
        raise ConditionError(where, f"rule {spec['id']}: give exactly one of fail_when (a condition) or check (a named check)")
    if "check" in spec and spec["check"] not in CHECKS:
        raise ConditionError(where + ("check",), f"unknown check '{spec['check']}'; known checks: {', '.join(sorted(CHECKS))}")
    subjects = spec["subject"] if isinstance(spec["subject"], list) else [spec["subject"]]
    if "check" not in spec:  # a named check decides itself what tiers mean to it
        _tiers_fit(spec, subjects, where)
    severity_of, severity_text, severities = _severity(spec["severity"], where + ("severity",),
                                                       spec.get("tiers") or TIERS)
    params = {name: _param(value, where + ("params", name)) for name, value in (spec.get("params") or {}).items()}
    if "check" in spec:
        _fits_check(spec, subjects, params, where)
    declared = {name: value.get("type") if isinstance(value, dict) else None
                for name, value in (spec.get("params") or {}).items()}
    logic: dict[str, Any] = {key: spec[key] for key in ("where", "fail_when", "severity", "message") if key in spec}
    _raise_all(names.problems(logic, spec["id"], tuple(subjects), declared, where, " (define it under params:)"))
    where_condition = compile_condition(spec["where"], where + ("where",)) if "where" in spec else None
    fail_condition = compile_condition(spec["fail_when"], where + ("fail_when",)) if "fail_when" in spec else None
    return Rule(
        id=spec["id"], title=spec["title"], description=spec["description"].strip(),
        remediation=spec["remediation"].strip(), severity_of=severity_of, severity_text=severity_text,
        severities=severities,
        controls=tuple(spec.get("controls") or ()), subjects=tuple(subjects),
        tiers=frozenset(int(tier) for tier in spec["tiers"]) if "tiers" in spec else None,  # `2.0` is tier 2
        params=_by_tier(params), param_text={name: text for name, (_, text) in params.items()},
        param_types={name: value["type"] for name, value in (spec.get("params") or {}).items()
                     if isinstance(value, dict)},
        where=where_condition, condition=fail_condition,
        where_test=compile_test(spec["where"], f"{spec['id']} where", where_condition) if where_condition else None,
        test=compile_test(spec["fail_when"], spec["id"], fail_condition) if fail_condition else None,
        check=spec.get("check"), message=spec.get("message"), help_uri=spec.get("help_uri"),
        logic={k: spec[k] for k in ("where", "fail_when", "check") if k in spec},
        enabled=spec.get("enabled", True), pack=pack, source=doc.location(where),
        reach=names.INVENTORY if "check" in spec else names.reach(logic, tuple(subjects)),
    )


class _LogicDumper(yaml.SafeDumper):
    """Writes a rule's logic back out for `explain`, an unquoted date of the policy included."""


_LogicDumper.add_representer(YamlTimestamp, yaml.representer.SafeRepresenter.represent_str)


def logic_text(rule: Rule) -> str:
    """A rule's where/fail_when/check as YAML, as `explain` prints it (written only when asked for:
    dumping every rule's took a tenth of loading the rules)."""
    return yaml.dump(rule.logic, Dumper=_LogicDumper, sort_keys=False)  # type: ignore[no-any-return]


# Subjects that have no tier: a tiers: list leaves them out, and a by_tier table gives its default.
_TIERLESS = ("vendor", "programme")


def _tiers_fit(spec: dict[str, Any], subjects: Iterable[str], where: tuple[Any, ...]) -> None:
    """Refuse what tiers cannot mean on the rule's subjects, which would make it silently never fail
    (``tiers:`` on vendors) or always take its default (``by_tier`` on nothing but vendors)."""
    tierless = [kind for kind in subjects if kind in _TIERLESS]
    if not tierless:
        return
    if "tiers" in spec:
        raise ConditionError(where + ("tiers",), f"a {tierless[0]} has no tier: tiers: would leave every "
                                                 f"{tierless[0]} out; remove tiers: or use where:")
    if len(tierless) < len(list(subjects)):
        return  # by_tier picks the value of the subjects that have a tier; the others get its default
    tables: list[tuple[str, ...]] = [("severity",)] if isinstance(spec.get("severity"), dict) and "by_tier" in spec["severity"] else []
    tables += [("params", name) for name, value in (spec.get("params") or {}).items()
               if isinstance(value, dict) and "by_tier" in value]
    if tables:
        raise ConditionError(where + tables[0], f"a {tierless[0]} has no tier: by_tier would always give its "
                                                "default; give one value (a severity may depend on the "
                                                "record with when:)")


def _override(rule: Rule, spec: dict[str, Any], doc: Document, where: tuple[Any, ...]) -> Rule:
    if rule.check is None:
        _tiers_fit(spec, rule.subjects, where)
    changes: dict[str, Any] = {"overridden_at": (*rule.overridden_at, doc.location(where))}
    if "enabled" in spec:
        changes["enabled"] = spec["enabled"]
    if "severity" in spec:
        # A `when:` is checked as a rule's is: its names on the rule's subjects, its parameters.
        declared = {name: rule.param_types.get(name) for name in rule.param_text}
        _raise_all(names.problems({"severity": spec["severity"]}, rule.id, rule.subjects, declared, where))
        changes["severity_of"], changes["severity_text"], changes["severities"] = _severity(
            spec["severity"], where + ("severity",), sorted(rule.tiers or TIERS))
        changes["reach"] = names.wider(rule.reach, names.reach({"severity": spec["severity"]}, rule.subjects))
    if "params" in spec:
        params = dict(rule.params)
        text = dict(rule.param_text)
        for name, value in spec["params"].items():
            if name not in rule.param_text:
                raise ConditionError(where + ("params", name), f"rule {rule.id} has no parameter '{name}'; "
                                     f"it has: {', '.join(rule.param_text) or 'none'}")
            declared_type = rule.param_types.get(name)
            if isinstance(value, dict) and declared_type is not None and value["type"] != declared_type:
                raise ConditionError(where + ("params", name, "type"),
                                     f"parameter '{name}' of rule {rule.id} is of type {declared_type}, not {value['type']}")
            if not isinstance(value, dict) and declared_type is not None:
                value = {"type": declared_type, "value": value}  # a plain value is read as the declared type
            per_tier, _ = _param(value, where + ("params", name))
            for tier, resolved in per_tier.items():
                params[tier] = {**params.get(tier, params[None]), name: resolved}
            # What `explain` shows: the tiers the override left alone as well as those it set.
            text[name] = _merged_text({tier: params[tier].get(name) for tier in (*TIERS, None)})
        changes["params"], changes["param_text"] = params, text
    return replace(rule, **changes)


def _fits_check(spec: dict[str, Any], subjects: list[str], params: dict[str, Any], where: tuple[Any, ...]) -> None:
    check = CHECKS[spec["check"]]
    if set(subjects) != set(check.subjects):  # the check decides what it reports on
        wanted = check.subjects[0] if len(check.subjects) == 1 else f"[{', '.join(check.subjects)}]"
        raise ConditionError(where + ("subject",), f"check {spec['check']} reports on {', '.join(check.subjects)}; "
                                                   f"write subject: {wanted}")
    missing = [name for name in check.params if name not in params]
    if missing:
        raise ConditionError(where, f"check {spec['check']} needs the parameter {', '.join(missing)} under params:")


def _raise_all(problems: list[tuple[tuple[Any, ...], str]]) -> None:
    if problems:
        (where, message), *others = problems
        raise ConditionError(where, message, others)


def _located(doc: Document, exc: ConditionError) -> list[InputError]:
    return [InputError(doc.location(at), f"{dotted(at)}: {why}") for at, why in exc.problems]


def _merged_text(values: dict[int | None, Any]) -> str:
    tiers = {tier: value for tier, value in values.items() if tier is not None and value is not None}
    if len(set(map(show, values.values()))) == 1:
        return show(values[None])
    text = ", ".join(f"T{tier}: {show(value)}" for tier, value in tiers.items())
    return text if values[None] is None else f"{text}, default: {show(values[None])}"


def _by_tier(params: dict[str, tuple[dict[int | None, Any], str]]) -> dict[int | None, dict[str, Any]]:
    return {tier: {name: values.get(tier) for name, (values, _) in params.items()} for tier in (*TIERS, None)}


_TYPES = {
    "days": lambda v: _whole(v), "integer": lambda v: _whole(v), "duration": parse_duration,
    "list": lambda v: tuple(v) if isinstance(v, list) else _bad(v, "a list"),
    "string": lambda v: v if isinstance(v, str) else _bad(v, "text"),
    "boolean": lambda v: v if isinstance(v, bool) else _bad(v, "true or false"),
}


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _bad(value, "a whole number")
    return value


def _bad(value: Any, kind: str) -> Any:
    raise ValueError(f"{value!r} is not {kind}")


def _param(spec: Any, where: tuple[Any, ...]) -> tuple[dict[int | None, Any], str]:
    """The tiers one parameter sets (key None: subjects without a tier), with their values, and its text."""
    if not isinstance(spec, dict):
        value = tuple(spec) if isinstance(spec, list) else spec
        return {tier: value for tier in (*TIERS, None)}, str(spec)
    convert = _TYPES[spec["type"]]
    try:
        if "by_tier" in spec:
            raw = {int(k) if k != "default" else None: v for k, v in spec["by_tier"].items()}
            given = [tier for tier in (*TIERS, None) if tier in raw or None in raw]
            values = {tier: _convert(convert, raw.get(tier, raw.get(None))) for tier in given}
            text = ", ".join(f"T{k}: {v}" if k is not None else f"default: {v}" for k, v in raw.items())
            return values, text
        value = convert(spec["value"])
    except (ValueError, KeyError) as exc:
        raise ConditionError(where, f"parameter: {exc}") from None
    return {tier: value for tier in (*TIERS, None)}, str(spec["value"])


def _convert(convert: Any, value: Any) -> Any:
    return None if value is None else convert(value)


def _severity(spec: Any, where: tuple[Any, ...], tiers: Iterable[int]) -> tuple[SeverityOf, str, tuple[str, ...]]:
    """How a severity is picked, its text and every severity it can give; ``tiers`` are those the
    rule is scoped to, which a by_tier table must cover."""
    if isinstance(spec, str):
        return (lambda scope, env, tier: spec), spec, (spec,)
    if "by_tier" in spec:
        table = {int(k) if k != "default" else None: v for k, v in spec["by_tier"].items()}
        fallback = table.get(None)
        missing = [tier for tier in tiers if tier not in table]
        if fallback is None and missing:
            raise ConditionError(where, f"severity by_tier has no value for tier {', '.join(map(str, missing))}; "
                                        "add it or a default")
        text = ", ".join(f"{v} (T{k})" if k is not None else f"{v} (otherwise)" for k, v in table.items())
        strictest = min(table.values(), key=SEVERITIES.index)
        return (lambda scope, env, tier: table.get(tier, fallback) or strictest), text, tuple(table.values())
    when = compile_condition(spec["when"], where + ("when",))
    then, other = spec["then"], spec["else"]
    return ((lambda scope, env, tier: then if when(scope, env) is not None else other), f"{then} or {other}",
            (then, other))

