"""Output formats, chosen by name; a format's module is imported only when it is asked for."""

from __future__ import annotations

import importlib
from typing import Protocol

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


class Formatter(Protocol):
    def render(self, report: Report, *, color: bool = False) -> str: ...


def render(name: str, report: Report, *, color: bool = False) -> str:
    module: Formatter = importlib.import_module(FORMATS[name])  # type: ignore[assignment]
    return module.render(report, color=color)
