"""Name resolution for conditions: a chain of records, innermost first."""

from __future__ import annotations

from typing import Any

MISSING: Any = None  # an absent key, an explicit null and an unresolvable path all read as None


class Scope:
    """A record seen by a condition, falling back to the enclosing records for names it lacks.

    Inside ``any_item`` over a plan's exercises, ``date`` is the exercise's and ``objectives.rto``
    is the service's: the lookup walks outwards like a template engine's context stack.
    """

    __slots__ = ("record", "parent")

    def __init__(self, record: Any, parent: Scope | None = None) -> None:
        self.record = record
        self.parent = parent

    def lookup(self, name: str) -> Any:
        scope: Scope | None = self
        while scope is not None:
            value = _attribute(scope.record, name)
            if value is not _ABSENT:
                return value
            scope = scope.parent
        return MISSING

    def resolve(self, path: tuple[str, ...]) -> Any:
        value = self.lookup(path[0])
        for name in path[1:]:
            if value is None:
                return MISSING
            value = _attribute(value, name)
            if value is _ABSENT:
                return MISSING
        return value


_ABSENT = object()


def _attribute(record: Any, name: str) -> Any:
    if type(record) is dict:  # labels; an exact test is cheaper and the loader makes plain dicts
        return record.get(name, _ABSENT)
    return getattr(record, name, _ABSENT)
