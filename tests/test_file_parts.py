"""Multi-document files are parsed, cached and reported part by part, with the lines of the whole file."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import pytest

from itscm_check.cache import ParseCache, load_checked
from itscm_check.loader import load_text, split_documents

STREAM = b"""\
# services of the payments domain
apiVersion: itscm/v1
teams: [{id: t, name: T}]
---
services:
  - id: api
    name: API
    description: |
      Block scalar lines are indented, so this
      ---
      is text, not a document start.
    owner: t
--- # a comment after the marker
services:
  - id: db
    name: DB
    owner: t
    bia: {document: bia.pdf, completed_on: 2026-01-15}
"""


def test_a_stream_is_cut_before_each_document_start_only() -> None:
    parts = split_documents(STREAM)
    assert [offset for offset, _ in parts] == [0, 3, 12]
    assert b"".join(part for _, part in parts) == STREAM
    assert parts[1][1].startswith(b"---\nservices:") and parts[2][1].startswith(b"--- # a comment")


@pytest.mark.parametrize("content", [
    b"services: []\n",
    b"---\nservices: []\n",  # a marker on the first line cuts nothing off
    b"%YAML 1.1\n---\na: 1\n---\nb: 2\n",  # a directive belongs to the document after it
    b"a: |\n  ---\n  text\nb: '\n---x'\n",  # indented, or not followed by a blank
    b"a: 1\n----\n",
])
def test_files_that_stay_whole(content: bytes) -> None:
    assert split_documents(content) == [(0, content)]


def test_parts_give_the_documents_and_lines_of_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_bytes(STREAM)
    whole, errors = load_text(STREAM.decode(), "inv.yaml")
    assert not errors
    checked = load_checked([path], "inventory", None)
    assert [d.data for d in checked.documents] == [d.data for d in whole]
    for where in [("services", 0), ("services", 0, "owner"), ("services", 0, "bia", "completed_on"), ("teams", 0)]:
        assert [d.line(where) for d in checked.documents] == [d.line(where) for d in whole]
    assert checked.documents[2].line(("services", 0, "bia", "completed_on")) == 18


def test_errors_in_a_later_document_carry_the_file_line(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_bytes(STREAM.replace(b"    name: DB\n", b"    name: DB\n    colour: blue\n")
                     .replace(b"[{id: t, name: T}]", b"[{id: t, name: T, name: U}]"))
    errors = load_checked([path], "inventory", None).errors
    assert sorted((e.location.line, e.message, e.first_line) for e in errors) == [
        (3, "duplicate key 'name'", 3), (17, "services[0]: unknown key 'colour'", 0)]


@pytest.mark.parametrize("cached", [False, True])
def test_a_duplicate_key_in_a_later_document_names_the_file_line_of_the_first(tmp_path: Path, cached: bool) -> None:
    path = tmp_path / "inv.yaml"
    path.write_bytes(STREAM.replace(b"    owner: t\n    bia:", b"    owner: t\n    name: Db\n    bia:"))
    parse_cache = ParseCache(tmp_path / "cache") if cached else None
    if cached:
        load_checked([path], "inventory", parse_cache)  # the second load reads the entry
    [error] = load_checked([path], "inventory", parse_cache).errors
    assert str(error).startswith(f"{error.location.path}:18: duplicate key 'name' (first defined on line 16)")


def test_changing_one_document_parses_only_that_one_again(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_bytes(STREAM)
    load_checked([path], "inventory", ParseCache(tmp_path / "cache"))
    path.write_bytes(STREAM.replace(b"name: DB", b"name: Database\n    tier: 2"))
    parse_cache = ParseCache(tmp_path / "cache")
    checked = load_checked([path], "inventory", parse_cache)
    assert (parse_cache.hits, parse_cache.misses) == (2, 1)
    assert checked.documents[2].data["services"][0]["tier"] == 2
    assert checked.documents[2].line(("services", 0, "bia")) == 19


def test_the_model_keeps_file_lines_for_records_and_dates_of_later_documents(tmp_path: Path) -> None:
    from itscm_check.pipeline import load_inventory

    path = tmp_path / "inv.yaml"
    path.write_bytes(STREAM)
    inventory = load_inventory([path])
    db = next(s for s in inventory.services if s.id == "db")
    assert db.source.line == 15
    assert [(f.name, f.line) for f in db.dates] == [("bia.completed_on", 18)]


def test_streams_are_cut_before_every_marker_line_and_only_there() -> None:
    # The YAML spec's document marker as a regular expression: the oracle of the bytes.find loop.
    marker = re.compile(rb"^---(?=[ \t\r\n]|$)", re.MULTILINE)
    pieces = [b"---", b"\n", b"\r\n", b" ", b"\t", b"a", b"-", b"%", b"x: 1", b"#"]
    rng = random.Random(7)
    for _ in range(20000):
        content = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        starts = [m.start() for m in marker.finditer(content) if m.start() > 0]
        directive = re.search(rb"^%", content, re.MULTILINE)

        parts = split_documents(content)

        cuts = list(itertools.accumulate(len(part) for _, part in parts))[:-1]  # where each later part starts
        assert b"".join(part for _, part in parts) == content
        assert cuts == ([] if directive else starts)
        assert [line for line, _ in parts] == [content[:cut].count(b"\n") for cut in [0, *cuts]]


@pytest.mark.parametrize("line_break", [b"\r", b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9"])
def test_a_line_break_that_is_no_lf_counts_in_later_parts(tmp_path: Path, line_break: bytes) -> None:
    """Found by review: PyYAML counts a lone CR, NEL and the Unicode separators as line breaks, so
    the parts after one must too."""
    stream = b'teams:\n  - id: t\n    name: "a' + line_break + b'b"\n---\nservices:\n  - id: api\n    colour: blue\n'
    path = tmp_path / "inv.yaml"
    path.write_bytes(stream)
    whole, _ = load_text(stream.decode(), "inv.yaml")
    assert whole[1].line(("services", 0, "colour")) == 8  # as PyYAML numbers it
    errors = load_checked([path], "inventory", None).errors
    assert (8, "services[0]: unknown key 'colour'") in [(e.location.line, e.message) for e in errors]
