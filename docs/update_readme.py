"""Regenerate the README's generated sections (the rule table and the example run).

Run from the repository root: ``python docs/update_readme.py``. tests/test_readme.py fails when
the README is out of date.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

from itscm_check.cli import main

EXAMPLE_AS_OF = "2026-11-24"


def _output(*args: str) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        main(list(args))
    return buffer.getvalue()


def _replace(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def main_readme() -> None:
    os.environ["NO_COLOR"] = "1"
    readme = Path("README.md")
    text = readme.read_text(encoding="utf-8")
    text = _replace(text, "rules", _output("rules", "--format", "markdown"))
    text = _replace(text, "example", "```\n" + _output("check", "--as-of", EXAMPLE_AS_OF) + "```\n")
    readme.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main_readme()
