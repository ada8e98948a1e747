"""Output formats, chosen by name; a format's module is imported only when it is asked for."""

from __future__ import annotations

import importlib
import re
from typing import Any, Protocol

from itscm_check.report import Report

FORMATS = {
    "table": "itscm_check.formatters.table",
    "json": "itscm_check.formatters.json_report",
    "sarif": "itscm_check.formatters.sarif",
    "junit": "itscm_check.formatters.junit",
    "markdown": "itscm_check.formatters.markdown",
    "html": "itscm_check.formatters.html",
    "csv": "itscm_check.formatters.csv_report",
}

# The formats that show passing checks: a run collects them only when one of these is asked for.
PASSING_CHECKS = frozenset(("html", "junit"))


class Formatter(Protocol):
    def render(self, report: Report, *, color: bool = False) -> str: ...


# Control characters of inventory text (an ESC that starts a terminal sequence, a carriage return
# that rewrites the line) are shown as U+FFFD, never handed to a terminal or a page.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """``text`` with every control character but tab and newline replaced by U+FFFD."""
    return _CONTROL.sub("\ufffd", str(text))


def json_text(document: Any, *, sort_keys: bool = False) -> str:
    """``document`` as JSON indented by two spaces, as ``json.dumps(indent=2, ensure_ascii=False)``
    writes it, from msgspec's encoder in C: Python's own encoder with an indent is a Python loop,
    a tenth of the whole run of a warm check of 10,000 services. Floats (only a waiver's free text
    can hold one) differ: the shortest form without a ``+`` in the exponent (``1e20``), and NaN or
    infinity as null, where json.dumps writes ``NaN``, which is not JSON."""
    import msgspec

    encoded = msgspec.json.encode(document, enc_hook=_plain, order="sorted" if sort_keys else None)
    return msgspec.json.format(encoded, indent=2).decode() + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, str):  # a YamlTimestamp in a free-text field
        return str(value)
    raise TypeError(f"no JSON for {type(value).__name__}")


def render(name: str, report: Report, *, color: bool = False) -> str:
    module: Formatter = importlib.import_module(FORMATS[name])  # type: ignore[assignment]
    return module.render(report, color=color)
