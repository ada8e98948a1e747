"""The names a condition can read on each kind of subject, checked when a policy is loaded.

A path that no record has (`objectives.rtoo`) resolves to "missing" at evaluation, so a typo
would make a rule that never fails, or (with `present: false`) one that fails everywhere. The
names come from the model itself: the fields and properties of the records and views, with their
type hints, walked segment by segment. Where a value may be anything (free text, labels), the
names below it are not checked.

The same types say when an operator or a value cannot fit what a path reads: a record compared
with its id, a list compared with one value, the age of something that is not a date, "4hours"
against a duration. Such a condition would also never hold, silently.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import types
import typing
from collections.abc import Iterator
from typing import Any

import msgspec

from itscm_check.subjects import OF_A_SERVICE, SCOPE_TYPES
from itscm_check.values import Duration, parse_date, parse_duration

Where = tuple[Any, ...]
Params = dict[str, "str | None"]  # a rule's parameters, each with its declared type (None: not declared)

_QUANTIFIERS = ("any_item", "no_item", "all_items")
_UNCHECKED = object()  # a value of any shape: labels, free text, a value the model does not type


def problems(spec: dict[str, Any], rule_id: str, subjects: tuple[str, ...], params: Params, where: Where,
             params_hint: str = "") -> list[tuple[Where, str]]:
    """Unknown or misfitting names in a rule's conditions and messages (those no subject kind of the
    rule has: a rule over plans and exercises may read a name only exercises have), and every
    ``{param: NAME}`` the rule does not declare, ``params_hint`` saying where to declare it."""
    found: dict[Where, list[str]] | None = None
    for kind in subjects:
        chain = SCOPE_TYPES[kind]
        here: dict[Where, list[str]] = {}
        for at, why in _rule_names(spec, chain, params, where, kind):
            here.setdefault(at, []).append(why)  # one place may have several: each value of an `in`
        found = here if found is None else {at: whys for at, whys in found.items() if at in here}
    # Stable: the problems of one place (a message's placeholders) stay in the order they are written.
    located = sorted((found or {}).items(), key=lambda item: [str(step) for step in _place(item[0])])
    listed = [(_place(at), why) for at, whys in located for why in whys]
    for at, name in _param_refs(spec, where):
        if not isinstance(name, str):
            listed.append((at, f"a parameter is named by text, {{param: NAME}}, not {name!r}"))
        elif name not in params:
            listed.append((at, f"rule {rule_id} has no parameter '{name}'; it has: {', '.join(params) or 'none'}"
                               f"{params_hint}"))
    return listed


# How far a rule's outcome on a subject reads (Rule.reach), narrowest first: its service alone (its
# fields, plans, exercises, backups and sites); that and the records its dependencies name (the
# services and vendors they resolve to, not those services' own dependencies); or anything.
SERVICE, NEIGHBOURS, INVENTORY = "service", "neighbours", "inventory"
REACHES = (SERVICE, NEIGHBOURS, INVENTORY)
# Subjects that are one service or a part of it (SCOPE_TYPES: their scopes reach no further). The
# other kinds of OF_A_SERVICE (dependency, edge) are one of its dependencies, whose scopes reach
# the records the dependency names.
_ONE_SERVICE_KINDS = OF_A_SERVICE - {"dependency", "edge"}


def reach(spec: dict[str, Any], subjects: tuple[str, ...]) -> str:
    """How far a declarative rule's outcome on a subject reads (SERVICE, NEIGHBOURS or INVENTORY):
    the findings cache keeps the findings of the first two per file part.

    A path's first name is looked up in the items a condition iterates and then in the subject's
    scopes. No item has dependencies of its own (a service is never an item here), so
    ``dependencies`` there is the subject's service's; later in a path (``target.dependencies``) it
    is another service's, a further hop. ``index`` is the view's index of the whole inventory,
    which a name inside an item the model does not type (a label's list) can fall back to, and a
    name that starts with an underscore could reach anything. Where a record is written (its
    ``source``, compared whole, or its ``line``) moves when something is added above it in its
    file, which the findings cache does not key on: it keeps a part's findings wherever the part
    is, with their locations moved. (``source.path``, the file, and an edge's ``source.tier``, its
    service's, do not move.)
    """
    paths = _paths_read(spec)
    steps = {step for path in paths for step in path}
    if "index" in steps or any(step.startswith("_") for step in steps):
        return INVENTORY
    if "line" in steps or any(path[-1] == "source" for path in paths):
        return INVENTORY
    if set(subjects) <= _ONE_SERVICE_KINDS and "dependencies" not in steps:
        return SERVICE
    if set(subjects) <= OF_A_SERVICE and not any("dependencies" in path[1:] for path in paths):
        return NEIGHBOURS
    return INVENTORY


def wider(first: str, second: str) -> str:
    """The wider of two reaches."""
    return max(first, second, key=REACHES.index)


def _paths_read(spec: Any) -> list[tuple[str, ...]]:
    """Every path a condition reads and every placeholder a message reads, at any depth, as steps."""
    paths: list[tuple[str, ...]] = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "path" and isinstance(value, str):
                paths.append(tuple(value.split(".")))
            elif key == "message" and isinstance(value, str):
                paths += (tuple(name.split(".")) for name in _placeholder_names(value))
            else:
                paths += _paths_read(value)
    elif isinstance(spec, list):
        for value in spec:
            paths += _paths_read(value)
    return paths


def _param_refs(spec: Any, where: Where) -> Iterator[tuple[Where, Any]]:
    """Every ``{param: NAME}`` operand in ``spec``, with where it is."""
    if isinstance(spec, dict):
        if set(spec) == {"param"}:
            yield where, spec["param"]
            return
        for key, value in spec.items():
            yield from _param_refs(value, where + (key,))
    elif isinstance(spec, list):
        for i, value in enumerate(spec):
            yield from _param_refs(value, where + (i,))


def _rule_names(spec: dict[str, Any], chain: tuple[Any, ...], params: Params, where: Where,
                kind: str) -> Iterator[tuple[Where, str]]:
    for key in ("where", "fail_when"):
        if key in spec:
            yield from _condition(spec[key], chain, params, where + (key,), kind)
    severity = spec.get("severity")
    if isinstance(severity, dict) and "when" in severity:
        yield from _condition(severity["when"], chain, params, where + ("severity", "when"), kind)
    if isinstance(spec.get("message"), str):
        yield from _placeholders(spec["message"], chain, {**params, "reasons": None}, where + ("message",), kind)


def _condition(spec: Any, chain: tuple[Any, ...], params: Params, where: Where, kind: str) -> Iterator[tuple[Where, str]]:
    if not isinstance(spec, dict):
        return  # compile_condition reports it
    for op in ("all", "any"):
        for i, item in enumerate(spec.get(op) or ()):
            yield from _condition(item, chain, params, where + (op, i), kind)
    for op in ("not", "if", "then"):
        if op in spec:
            yield from _condition(spec[op], chain, params, where + (op,), kind)
    if isinstance(spec.get("message"), str):
        yield from _placeholders(spec["message"], chain, params, where + ("message",), kind)
    if not isinstance(spec.get("path"), str):
        return
    why, value = _resolve(spec["path"], chain, kind)
    if why:
        yield where + ("path",), why
        return
    yield from _fits(spec, value, params, where)
    item = _UNCHECKED if value is _UNCHECKED else _item(value)
    inner = (item, *chain)  # the scope of a quantifier's entries
    for op in (*_QUANTIFIERS, "count"):
        if op in spec and item is None:
            yield where + ("path",), f"'{spec['path']}' is not a list: {op} reads the entries of a list"
    for op in _QUANTIFIERS:
        if op in spec and item is not None:
            yield from _condition(spec[op], inner, params, where + (op,), kind)
    count = spec.get("count")
    if isinstance(count, dict) and "where" in count and item is not None:
        yield from _condition(count["where"], inner, params, where + ("count", "where"), kind)
    for op, operand in spec.items():
        if isinstance(operand, dict) and set(operand) == {"path"} and isinstance(operand["path"], str):
            why, _ = _resolve(operand["path"], chain, kind)
            if why:
                yield where + (op, "path"), why


_VALUE_OPS = ("equals", "in", "gt", "ge", "lt", "le")
_AGE_OPS = ("older_than", "within")
# The declared parameter types a value of each type may be compared with.
_PARAM_FITS = {Duration: ("duration",), int: ("days", "integer"), bool: ("boolean",), str: ("string",),
               dt.date: ("string",)}


def _fits(spec: dict[str, Any], hint: Any, params: Params, where: Where) -> Iterator[tuple[Where, str]]:
    """An operator or operand of a leaf condition that cannot fit the type its path reads."""
    op = next((o for o in (*_VALUE_OPS, *_AGE_OPS, "contains_any") if o in spec), None)
    plain = _plain(hint)
    if op is None or plain is _UNCHECKED:
        return
    path, at, operand = spec["path"], where + (op,), spec[op]
    if isinstance(operand, dict) and "path" in operand:
        return  # two names compared (location with sites.primary): their types are the model's business
    item = _item(hint)
    if item is not None:
        if op != "contains_any":
            yield at, f"'{path}' is a list: compare its entries with contains_any, any_item, no_item, all_items or count"
        elif item is not _UNCHECKED and _names(item):
            yield at, f"the entries of '{path}' are records ({_kind(item)}): compare their ids with " \
                      f"{{path: {path}, any_item: {{path: id, in: [...]}}}}"
        return
    if _names(plain):
        field = f"'{path}.id'" if "id" in _names(plain) else "one of its fields"
        yield at, f"'{path}' is a record ({_kind(plain)}), not a value: compare {field}"
        return
    if op == "contains_any":
        yield at, f"'{path}' is not a list: contains_any compares the entries of a list; use in"
        return
    if op in _AGE_OPS:
        if plain is not dt.date:
            yield where + ("path",), f"'{path}' is not a date: {op} reads the age of a date"
        elif (param := _param_name(operand)) is not None:
            declared = params.get(param)
            if declared not in (None, "days", "integer"):
                yield at, f"{op} counts days: parameter '{param}' is of type {declared}; declare it days"
        elif not isinstance(operand, dict) and (isinstance(operand, bool) or not isinstance(operand, int)):
            yield at, f"{op} takes a number of days, not {operand!r}"
        return
    for value in operand if op == "in" and isinstance(operand, list) else [operand]:
        name = _param_name(value)
        if name is not None:
            declared = params.get(name)
            if op != "in" and declared is not None and declared not in _PARAM_FITS.get(plain, (declared,)):
                yield at, f"'{path}' is {_kind(plain)}: parameter '{name}' of type {declared} cannot be compared with it"
        elif not isinstance(value, dict):
            why = _literal_misfit(plain, value)
            if why:
                yield at, f"'{path}' is {_kind(plain)}: {why}"


def _param_name(operand: Any) -> str | None:
    """The parameter an operand names (one not named by text is reported where parameters are checked)."""
    if isinstance(operand, dict) and set(operand) == {"param"} and isinstance(operand["param"], str):
        return operand["param"]
    return None


def _literal_misfit(plain: Any, value: Any) -> str:
    """Why the literal ``value`` can never equal or be compared with a value of type ``plain``."""
    try:
        if plain is Duration:
            parse_duration(value)
        elif plain is dt.date:
            parse_date(value)
        elif plain is bool:
            if not isinstance(value, bool):
                return f"{value!r} is not true or false"
        elif plain is int:
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{value!r} is not a whole number"
        elif plain is str and not isinstance(value, str):
            return f"{value!r} is not text (quote it)"
    except ValueError as exc:
        return str(exc)
    return ""


def _kind(plain: Any) -> str:
    """How messages name a type: "a duration", "a site" (a record or view)."""
    named = {Duration: "a duration", dt.date: "a date", bool: "true or false", int: "a whole number", str: "text"}
    return named.get(plain) or f"a {getattr(plain, '__name__', str(plain)).removesuffix('View').lower()}"


class _Placeholder(str):
    """The last step of where a message's placeholder is: a rule over two kinds of subject reports
    a placeholder only when neither kind has it, whatever the other placeholders of the message."""


def _place(where: Where) -> Where:
    """Where a problem is written: a placeholder's is its message's."""
    return where[:-1] if where and isinstance(where[-1], _Placeholder) else where


def _placeholders(template: str, chain: tuple[Any, ...], params: Params, where: Where,
                  kind: str) -> Iterator[tuple[Where, str]]:
    for name in _placeholder_names(template):
        if name not in params:
            why, _ = _resolve(name, chain, kind)
            if why:
                yield where + (_Placeholder(name),), f"placeholder {{{name}}}: {why}"


def _placeholder_names(template: str) -> Iterator[str]:
    """The ``{name}`` placeholders of a message, in order."""
    rest = template
    while "{" in rest:
        _, _, tail = rest.partition("{")
        name, _, rest = tail.partition("}")
        if name:
            yield name


def _resolve(path: str, chain: tuple[Any, ...], kind: str) -> tuple[str, Any]:
    """Why ``path`` reads nothing on a ``kind`` subject ("" when it may read something), and the
    type of what it reads."""
    first, *rest = path.split(".")
    for hint in chain:
        if hint is _UNCHECKED:
            return "", _UNCHECKED
        names = _names(hint)
        if first in names:
            value = names[first]
            break
    else:
        known = sorted({name for hint in chain for name in _names(hint)})
        return f"a {kind} has no '{first}' (it has: {', '.join(known)})", None
    walked = first
    for step in rest:
        value = _plain(value)
        if value is _UNCHECKED:
            return "", _UNCHECKED
        if _item(value) is not None:
            return f"'{walked}' is a list: read its entries with any_item, no_item, all_items or count", None
        names = _names(value)
        if step not in names:
            return f"'{walked}' has no '{step}'" + (f" (it has: {', '.join(sorted(names))})" if names else ""), None
        value = names[step]
        walked += f".{step}"
    return "", value


def _plain(hint: Any) -> Any:
    """``X | None`` as ``X``; a union of several types, ``Any`` or a mapping as unchecked."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _plain(args[0]) if len(args) == 1 else _UNCHECKED
    if hint is Any or typing.get_origin(hint) is dict or hint is dict:
        return _UNCHECKED
    return hint


def _item(hint: Any) -> Any:
    """The type of a list's entries, or None when ``hint`` is no list."""
    hint = _plain(hint)
    if typing.get_origin(hint) in (tuple, list):
        args = typing.get_args(hint)
        return _plain(args[0]) if args else _UNCHECKED
    return None


@functools.cache
def _names(hint: Any) -> dict[str, Any]:
    """Each name a record or view of type ``hint`` answers, with its type; {} for a plain value."""
    if not isinstance(hint, type) or not (dataclasses.is_dataclass(hint) or issubclass(hint, msgspec.Struct)
                                          or hint.__module__ == "itscm_check.facts"):
        return {}
    hints = typing.get_type_hints(hint)
    names: dict[str, Any] = dict(_names(hints["record"])) if "record" in hints else {}  # a view answers its record's
    names.update((name, value) for name, value in hints.items() if name != "record")
    for klass in reversed(hint.__mro__):
        for name, attr in vars(klass).items():
            function = attr.fget if isinstance(attr, property) else \
                attr.func if isinstance(attr, functools.cached_property) else None
            if function is not None and not name.startswith("_"):
                names[name] = typing.get_type_hints(function).get("return", Any)
    return names
