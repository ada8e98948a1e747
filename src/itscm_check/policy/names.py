"""The names a condition can read on each kind of subject, checked when a policy is loaded.

A path that no record has (`objectives.rtoo`) resolves to "missing" at evaluation, so a typo
would make a rule that never fails, or (with `present: false`) one that fails everywhere. The
names come from the model itself: the fields and properties of the records and views, with their
type hints, walked segment by segment. Where a value may be anything (free text, labels), the
names below it are not checked.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterator
from typing import Any

from itscm_check.subjects import SCOPE_TYPES

Where = tuple[Any, ...]

_QUANTIFIERS = ("any_item", "no_item", "all_items")
_UNCHECKED = object()  # a value of any shape: labels, free text, a value the model does not type


def problems(spec: dict[str, Any], subjects: tuple[str, ...], params: set[str], where: Where) -> list[tuple[Where, str]]:
    """Unknown names in a rule's conditions and messages: those no subject kind of the rule has
    (a rule over plans and exercises may read a name only exercises have)."""
    found: dict[Where, str] | None = None
    for kind in subjects:
        chain = SCOPE_TYPES[kind]
        here = dict(_rule_names(spec, chain, params, where, kind))
        found = here if found is None else {at: why for at, why in found.items() if at in here}
    return sorted((found or {}).items(), key=lambda item: [str(step) for step in item[0]])


def _rule_names(spec: dict[str, Any], chain: tuple[Any, ...], params: set[str], where: Where,
                kind: str) -> Iterator[tuple[Where, str]]:
    for key in ("where", "fail_when"):
        if key in spec:
            yield from _condition(spec[key], chain, params, where + (key,), kind)
    severity = spec.get("severity")
    if isinstance(severity, dict) and "when" in severity:
        yield from _condition(severity["when"], chain, params, where + ("severity", "when"), kind)
    if isinstance(spec.get("message"), str):
        yield from _placeholders(spec["message"], chain, params | {"reasons"}, where + ("message",), kind)


def _condition(spec: Any, chain: tuple[Any, ...], params: set[str], where: Where, kind: str) -> Iterator[tuple[Where, str]]:
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


def _placeholders(template: str, chain: tuple[Any, ...], params: set[str], where: Where,
                  kind: str) -> Iterator[tuple[Where, str]]:
    rest = template
    while "{" in rest:
        _, _, tail = rest.partition("{")
        name, _, rest = tail.partition("}")
        if name and name not in params:
            why, _ = _resolve(name, chain, kind)
            if why:
                yield where, f"placeholder {{{name}}}: {why}"


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
    if not isinstance(hint, type) or not (dataclasses.is_dataclass(hint) or hint.__module__ == "itscm_check.facts"):
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
