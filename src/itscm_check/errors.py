"""Input errors: what is wrong with an inventory, policy or flag, and where."""

from __future__ import annotations

from dataclasses import dataclass

from msgspec import Struct


class Location(Struct, frozen=True, order=True, array_like=True):
    """A place in an input file; line 0 means the file as a whole.

    A msgspec Struct, like the inventory's records: a run makes one for every record and date.
    """

    path: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class InputError:
    """One problem that makes the input unusable, with a hint on how to fix it."""

    location: Location
    message: str
    hint: str = ""
    # The line of the same file where the first of two duplicates is. It is kept out of the
    # message so that it moves with the location when a document of a multi-document file,
    # parsed on its own, gets the line numbers of the whole file.
    first_line: int = 0

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.first_line:
            text += f" (first defined on line {self.first_line})"
        return f"{text} ({self.hint})" if self.hint else text


class InputErrors(Exception):
    """Raised at a stage boundary when that stage collected one or more input errors."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = sorted(set(errors), key=lambda e: (e.location.path, e.location.line, e.message))
        super().__init__("\n".join(str(e) for e in self.errors))
