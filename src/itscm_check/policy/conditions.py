"""Conditions: the declarative part of a rule, compiled once into closures.

A compiled condition takes the subject's scope and the evaluation environment and returns
``None`` when it does not hold, or the list of reasons why it holds (these become the finding's
message). ``any`` evaluates every branch so that a finding lists every failed aspect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from itscm_check.policy.scope import Scope
from itscm_check.values import Duration, parse_date, parse_duration

Reasons = list[str] | None


@dataclass(frozen=True)
class Env:
    """What a condition may read besides the subject: the as-of date and resolved parameters."""

    as_of: dt.date
    params: dict[str, Any]


Condition = Callable[[Scope, Env], Reasons]
Operand = Callable[[Scope, Env], Any]


class ConditionError(Exception):
    """A malformed condition; ``where`` is the path inside the rule's ``fail_when``/``where``.

    ``problems`` lists it with any others found in the same rule, each with where it is."""

    def __init__(self, where: tuple[Any, ...], message: str,
                 others: list[tuple[tuple[Any, ...], str]] | None = None) -> None:
        super().__init__(message)
        self.where = where
        self.problems = [(where, message), *(others or ())]


_LOGIC = ("all", "any", "not", "if")
_COMPARE = {"gt": (lambda a, b: a > b, "is more than"), "ge": (lambda a, b: a >= b, "is at least"),
            "lt": (lambda a, b: a < b, "is less than"), "le": (lambda a, b: a <= b, "is at most")}
_LEAF_OPS = ("present", "equals", "in", "older_than", "within", "contains_any", "any_item", "no_item",
             "all_items", "count", *_COMPARE)


def compile_condition(spec: Any, where: tuple[Any, ...] = ()) -> Condition:
    if not isinstance(spec, dict):
        raise ConditionError(where, "a condition must be a mapping")
    message = spec.get("message")
    keys = set(spec) - {"message"}
    logic = keys & set(_LOGIC)
    if logic == {"if"}:
        if keys != {"if", "then"}:
            raise ConditionError(where, "'if' takes exactly a 'then' condition beside it")
        condition = _compile_guard(spec, where)
    elif logic:
        if len(keys) != 1:
            raise ConditionError(where, f"'{logic.pop()}' cannot be combined with other keys: {', '.join(sorted(keys))}")
        condition = _compile_logic(spec, keys.pop(), where)
    else:
        condition = _compile_leaf(spec, keys, where)
    return _with_message(condition, message) if message else condition


def _with_message(condition: Condition, template: str) -> Condition:
    def run(scope: Scope, env: Env) -> Reasons:
        return None if condition(scope, env) is None else [render(template, scope, env)]
    return run


def render(template: str, scope: Scope, env: Env) -> str:
    """Fill ``{path}`` placeholders from the scope (or parameters) and format dates and durations."""
    out, rest = [], template
    while "{" in rest:
        head, _, tail = rest.partition("{")
        name, _, rest = tail.partition("}")
        out.append(head)
        value = env.params[name] if name in env.params else scope.resolve(tuple(name.split(".")))
        out.append(show(value))
    out.append(rest)
    return "".join(out)


def show(value: Any) -> str:
    """A value as a message shows it. Only values are printed as they are: a record (a service, a
    site, a vendor) is shown by its id, and one without an id by its kind, never by a repr, which
    could hold a memory address and would make two runs differ."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ", ".join(show(v) for v in value)
    if value is True or value is False:
        return str(value).lower()
    if value is None:
        return "(none)"
    if isinstance(value, (str, int, float)):  # Duration is an int and prints as written
        return str(value)
    if isinstance(value, dict):  # labels
        return ", ".join(f"{key}: {show(item)}" for key, item in value.items())
    ident = getattr(value, "id", None)
    if isinstance(ident, str):
        return ident
    kind = type(getattr(value, "record", value)).__name__.lower()  # a view is named by its record
    return f"({kind})"


def _compile_guard(spec: dict[str, Any], where: tuple[Any, ...]) -> Condition:
    """``if``/``then``: holds when both hold, with only the reasons of ``then`` (the guard is context)."""
    guard = compile_condition(spec["if"], where + ("if",))
    then = compile_condition(spec["then"], where + ("then",))
    return lambda scope, env: then(scope, env) if guard(scope, env) is not None else None


def _compile_logic(spec: dict[str, Any], op: str, where: tuple[Any, ...]) -> Condition:
    if op == "not":
        inner = compile_condition(spec["not"], where + ("not",))
        return lambda scope, env: ["condition not met"] if inner(scope, env) is None else None
    items = spec[op]
    if not isinstance(items, list) or not items:
        raise ConditionError(where + (op,), f"'{op}' takes a non-empty list of conditions")
    parts = [compile_condition(item, where + (op, i)) for i, item in enumerate(items)]
    if op == "all":
        def run_all(scope: Scope, env: Env) -> Reasons:
            reasons: list[str] = []
            for part in parts:
                got = part(scope, env)
                if got is None:
                    return None
                reasons.extend(got)
            return reasons
        return run_all

    def run_any(scope: Scope, env: Env) -> Reasons:
        reasons: list[str] | None = None
        for part in parts:
            got = part(scope, env)
            if got is not None:
                reasons = (reasons or []) + got
        return reasons
    return run_any


def _path(value: Any, where: tuple[Any, ...]) -> tuple[str, ...]:
    if not isinstance(value, str) or not value or any(not p or p.startswith("_") for p in value.split(".")):
        raise ConditionError(where, f"'path' must be a dotted name such as bia.completed_on, not {value!r}")
    return tuple(value.split("."))


def _operand(value: Any, where: tuple[Any, ...]) -> Operand:
    if isinstance(value, dict):
        if set(value) == {"param"}:
            name = value["param"]
            return lambda scope, env: env.params.get(name)
        if set(value) == {"path"}:
            path = _path(value["path"], where + ("path",))
            return lambda scope, env: scope.resolve(path)
        raise ConditionError(where, "an operand is a value, {param: NAME} or {path: NAME}")
    return lambda scope, env: value


def coerce(left: Any, right: Any) -> Any:
    """Read a literal written in the policy as the same kind of value as the inventory's.

    Raises ValueError when it cannot be: a bare number against a duration has no unit, as it has
    none in the inventory.
    """
    if isinstance(left, (list, tuple)) and not isinstance(right, (list, tuple)):
        raise TypeError(f"{show(left)} is a list, compared with one value; use contains_any or any_item")
    if isinstance(left, Duration) and not isinstance(right, Duration):
        return parse_duration(right)
    if isinstance(left, dt.date) and isinstance(right, str):
        return parse_date(right)
    return right


def among(left: Any, values: Any) -> bool:
    """``left in values``, each value read as ``coerce`` reads it (``in: [1h, 4h]`` on a duration)."""
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"'in' takes a list, not {show(values)}")
    if isinstance(left, (list, tuple)):
        raise TypeError(f"{show(left)} is a list: 'in' compares one value; use contains_any")
    if isinstance(left, (Duration, dt.date)):
        return any(left == coerce(left, value) for value in values)
    return left in values


def overlaps(left: Any, values: Any) -> bool:
    """Whether the list ``left`` shares an entry with ``values`` (never the letters of a text)."""
    if not isinstance(left, (list, tuple)):
        raise TypeError(f"{show(left)} is not a list: contains_any compares the entries of a list; use in")
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"contains_any takes a list, not {show(values)}")
    return bool(set(left) & set(values))


def _compile_leaf(spec: dict[str, Any], keys: set[str], where: tuple[Any, ...]) -> Condition:
    if "path" not in keys:
        raise ConditionError(where, f"a condition needs 'path' or one of {', '.join(_LOGIC)}")
    ops = keys - {"path"}
    if len(ops) != 1 or not ops <= set(_LEAF_OPS):
        raise ConditionError(where, f"a condition takes 'path' and exactly one of: {', '.join(_LEAF_OPS)}")
    op = ops.pop()
    name = spec["path"]
    path = _path(name, where + ("path",))
    arg = spec[op]
    at = where + (op,)
    if op in ("any_item", "no_item", "all_items"):
        return _quantifier(op, name, path, compile_condition(arg, at))
    if op == "count":
        return _count(name, path, arg, at)
    if op == "present":
        if not isinstance(arg, bool):
            raise ConditionError(at, "'present' takes true or false")
        return lambda scope, env: _presence(scope.resolve(path), arg, name)
    if op in ("older_than", "within"):
        return _age(op, name, path, _operand(arg, at))
    if op in ("in", "contains_any") and not isinstance(arg, (list, dict)):
        raise ConditionError(at, f"'{op}' takes a list of values, {{param: NAME}} or {{path: NAME}}")
    return _comparison(op, name, path, _operand(arg, at))


def is_present(value: Any) -> bool:
    return value not in (None, "", (), []) and value != {}


def _presence(value: Any, wanted: bool, name: str) -> Reasons:
    if is_present(value) == wanted:
        return [f"{name} is set" if wanted else f"no {name}"]
    return None


def _comparison(op: str, name: str, path: tuple[str, ...], operand: Operand) -> Condition:
    def run(scope: Scope, env: Env) -> Reasons:
        left = scope.resolve(path)
        right = operand(scope, env)
        if left is None or right is None:
            return None
        if op == "equals":
            return [f"{name} is {show(left)}"] if left == coerce(left, right) else None
        if op == "in":
            return [f"{name} is {show(left)}"] if among(left, right) else None
        if op == "contains_any":
            return [f"{name} includes {show(left)}"] if overlaps(left, right) else None
        test, words = _COMPARE[op]
        right = coerce(left, right)
        return [f"{name} {show(left)} {words} {show(right)}"] if test(left, right) else None
    return run


def _age(op: str, name: str, path: tuple[str, ...], operand: Operand) -> Condition:
    def run(scope: Scope, env: Env) -> Reasons:
        when = scope.resolve(path)
        limit = operand(scope, env)
        if when is None or limit is None:
            return None
        age = (env.as_of - when).days
        if op == "older_than":
            return [f"{name} {show(when)} is {age} days old, {age - limit} over the {limit}-day limit"] \
                if age > limit else None
        return [f"{name} {show(when)} is within {limit} days"] if age <= limit else None
    return run


def _quantifier(op: str, name: str, path: tuple[str, ...], inner: Condition) -> Condition:
    def run(scope: Scope, env: Env) -> Reasons:
        items = scope.resolve(path) or ()
        matches = (inner(Scope(item, scope), env) for item in items)
        if op == "any_item":
            return next((got for got in matches if got is not None), None)
        if op == "no_item":
            return None if any(got is not None for got in matches) else [f"no matching entry in {name}"]
        failing = next((i for i, got in enumerate(matches) if got is None), None)
        return [f"{name} are all as required"] if failing is None else None
    return run


def _count(name: str, path: tuple[str, ...], spec: Any, where: tuple[Any, ...]) -> Condition:
    if not isinstance(spec, dict) or len(set(spec) & set(_COMPARE)) != 1 or set(spec) - set(_COMPARE) - {"where"}:
        raise ConditionError(where, "'count' takes an optional 'where' condition and one of gt, ge, lt, le")
    inner = compile_condition(spec["where"], where + ("where",)) if "where" in spec else None
    op = (set(spec) & set(_COMPARE)).pop()
    limit = _operand(spec[op], where + (op,))
    test, words = _COMPARE[op]

    def run(scope: Scope, env: Env) -> Reasons:
        items = scope.resolve(path) or ()
        count = sum(1 for item in items if inner is None or inner(Scope(item, scope), env) is not None)
        bound = limit(scope, env)
        return [f"{count} matching entries in {name} {words} {bound}"] if bound is not None and test(count, bound) else None
    return run
