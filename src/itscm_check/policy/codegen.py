"""Conditions compiled to Python source: the yes-or-no test that runs on every subject.

The closures of ``conditions`` define what a condition means and give the reasons of a finding;
they cost a call per node of the condition and per operand. Evaluated on every rule and every
subject, that was most of a run, so each condition is also written out as one Python expression
(the way fastjsonschema compiles a schema) and the closures run only for the few subjects whose
test holds. The test suite checks that both agree on every rule case.

Nothing from a policy file is pasted into the source: paths, parameter names and literals are
passed in a constants tuple and referenced by index; operators come from fixed tables.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from itscm_check.policy.conditions import Condition, Env, among, coerce, is_present, overlaps
from itscm_check.policy.scope import Scope

Test = Callable[[Scope, Env], bool]

_COMPARE = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
# Each name after the first nests the written-out path two parentheses deeper, and Python parses
# 200 at most: a longer path is read with Scope.resolve, which gives the same value.
_INLINED_NAMES = 8


def compile_test(spec: dict[str, Any], name: str, condition: Condition) -> Test:
    """The test of a condition that ``conditions.compile_condition`` has already accepted as
    ``condition``, which decides alone should the expression still nest deeper than Python's parser
    takes. The closures evaluate every branch of an `any` where the test stops at the first that
    holds, so they can meet a value that does not fit where the test would not: a last resort."""
    writer = _Writer()
    try:
        expression = writer.condition(spec, "scope")
        source = f"def test(scope, env):\n    return bool({expression})\n"
        code = compile(source, f"<condition of {name}>", "exec")
    except (SyntaxError, RecursionError, MemoryError):
        return lambda scope, env: condition(scope, env) is not None
    namespace: dict[str, Any] = {"c": tuple(writer.constants), "Scope": Scope, "coerce": coerce, "among": among,
                                 "is_present": is_present, "overlaps": overlaps, "ABSENT": object()}
    exec(code, namespace)  # noqa: S102 - source built above
    return namespace["test"]


class _Writer:
    def __init__(self) -> None:
        self.constants: list[Any] = []
        self.names = itertools.count()

    def constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"c[{len(self.constants) - 1}]"

    def fresh(self, stem: str) -> str:
        return f"{stem}{next(self.names)}"

    def condition(self, spec: dict[str, Any], scope: str) -> str:
        if "if" in spec:
            return f"({self.condition(spec['if'], scope)} and {self.condition(spec['then'], scope)})"
        if "not" in spec:
            return f"(not {self.condition(spec['not'], scope)})"
        if "all" in spec or "any" in spec:
            op = "all" if "all" in spec else "any"
            joined = f" {'and' if op == 'all' else 'or'} ".join(self.condition(item, scope) for item in spec[op])
            return f"({joined})"
        return self.leaf(spec, scope)

    def path(self, dotted: str, scope: str) -> str:
        """``Scope.resolve`` written out: the first name through the scope chain, then attributes
        (or keys of a dict such as labels), None as soon as one is missing."""
        first, *rest = dotted.split(".")
        if len(rest) > _INLINED_NAMES:
            return f"{scope}.resolve({self.constant(tuple(dotted.split('.')))})"
        record, found = self.fresh("r"), self.fresh("f")
        # Most names are on the innermost record: read it there, and walk the chain only if not
        # (or if the record is a dict, which resolve() reads by key).
        expression = (f"({found} if type({record} := {scope}.record) is not dict and "
                      f"({found} := getattr({record}, {self.constant(first)}, ABSENT)) is not ABSENT "
                      f"else {scope}.resolve({self.constant((first,))}))")
        for name in rest:
            value, key = self.fresh("v"), self.constant(name)
            expression = (f"(None if ({value} := {expression}) is None else {value}.get({key}) "
                          f"if type({value}) is dict else getattr({value}, {key}, None))")
        return expression

    def operand(self, value: Any, scope: str) -> str:
        if isinstance(value, dict) and set(value) == {"param"}:
            return f"env.params.get({self.constant(value['param'])})"
        if isinstance(value, dict):
            return self.path(value["path"], scope)
        return self.constant(value)

    def items(self, dotted: str, scope: str) -> tuple[str, str]:
        """A fresh scope name and the generator of scopes of the items at ``dotted``."""
        inner = self.fresh("s")
        # Python forbids := in a comprehension's iterable, so the items are read with resolve().
        items = f"{scope}.resolve({self.constant(tuple(dotted.split('.')))})"
        return inner, f"for {inner} in (Scope(item, {scope}) for item in ({items} or ()))"

    def leaf(self, spec: dict[str, Any], scope: str) -> str:
        op = next(key for key in spec if key not in ("path", "message"))
        arg = spec[op]
        if op in ("any_item", "no_item", "all_items"):
            inner, loop = self.items(spec["path"], scope)
            test = self.condition(arg, inner)
            quantified = f"{'all' if op == 'all_items' else 'any'}({test} {loop})"
            return f"(not {quantified})" if op == "no_item" else quantified
        if op == "count":
            inner, loop = self.items(spec["path"], scope)
            where = f" if {self.condition(arg['where'], inner)}" if "where" in arg else ""
            compare = next(key for key in arg if key in _COMPARE)
            bound = self.fresh("b")
            return (f"(({bound} := {self.operand(arg[compare], scope)}) is not None and "
                    f"sum(1 {loop}{where}) {_COMPARE[compare]} {bound})")
        left = self.fresh("l")
        value = f"({left} := {self.path(spec['path'], scope)})"
        if op == "present":
            return f"(is_present({value}) is {bool(arg)})"
        right = self.fresh("r")
        both = f"{value} is not None and ({right} := {self.operand(arg, scope)}) is not None"
        if op == "older_than":
            return f"({both} and (env.as_of - {left}).days > {right})"
        if op == "within":
            return f"({both} and (env.as_of - {left}).days <= {right})"
        if op == "equals":
            return f"({both} and {left} == coerce({left}, {right}))"
        if op == "in":
            return f"({both} and among({left}, {right}))"
        if op == "contains_any":
            return f"({both} and overlaps({left}, {right}))"
        return f"({both} and {left} {_COMPARE[op]} coerce({left}, {right}))"
