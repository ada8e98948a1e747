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

    def resolve(self, path: tuple[str, ...]) -> Any:
        # The hottest code of a run: attribute reads are inlined rather than calling a helper.
        # Labels are plain dicts (an exact type test is cheaper); records and views have attributes.
        name = path[0]
        scope: Scope | None = self
        while scope is not None:
            record = scope.record
            value = record.get(name, _ABSENT) if type(record) is dict else getattr(record, name, _ABSENT)
            if value is not _ABSENT:
                break
            scope = scope.parent
        else:
            return MISSING
        for name in path[1:]:
            if value is None:
                return MISSING
            value = value.get(name, _ABSENT) if type(value) is dict else getattr(value, name, _ABSENT)
            if value is _ABSENT:
                return MISSING
        return value


_ABSENT = object()
