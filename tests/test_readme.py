"""The README's generated parts match what the tool prints today."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from itscm_check.cli import main

ROOT = Path(__file__).parents[1]


def _section(name: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.S)
    assert match, f"README.md has no {name} section"
    return match.group(1)


def _output(*args: str) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        main(list(args))
    return buffer.getvalue()


def test_rule_table_is_generated_from_the_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert _section("rules") == _output("rules", "--format", "markdown"), \
        "regenerate with: python docs/update_readme.py"


def test_example_output_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    expected = "```\n" + _output("check", "--as-of", "2026-11-24") + "```\n"
    assert _section("example") == expected, "regenerate with: python docs/update_readme.py"


def test_rules_page_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.chdir(ROOT)
    spec = importlib.util.spec_from_file_location("update_readme", ROOT / "docs" / "update_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "rules.md").read_text(encoding="utf-8") == module.rules_page(), \
        "regenerate with: python docs/update_readme.py"
