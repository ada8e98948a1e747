"""The fast parse path (yaml_rs and our line scanner) against the PyYAML path: the same data, with
the same types, the same line of every key and item, and the same timestamps, or a refusal that
hands the file to PyYAML."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest

from itscm_check import cli, fast_yaml, loader, yaml_lines

ROOT = Path(__file__).resolve().parent.parent
needs_yaml_rs = pytest.mark.skipif(fast_yaml.yaml_rs is None, reason="yaml_rs has no wheel for this platform")


@pytest.fixture(autouse=True)
def parse_path() -> None:
    """These tests choose the parse path themselves: they run once, not once per path (conftest)."""


def typed(value: Any) -> Any:
    """``value`` with the type of every part spelt out: True and 1, a date and its text differ."""
    if type(value) is dict:
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    if type(value) is list:
        return ("list", [typed(v) for v in value])
    return (type(value).__name__, repr(value))


def pyyaml_read(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[str]]:
    with monkeypatch.context() as patch:
        patch.setenv(fast_yaml.PARSER_VARIABLE, "pyyaml")
        documents, errors = loader.load_text(text, "f.yaml")
    return [(typed(d.data), d.lines, d.timestamps) for d in documents], [str(e) for e in errors]


def fast_read(text: str) -> list[Any] | None:
    parsed = fast_yaml.load(text)
    return None if parsed is None else [(typed(data), lines, timestamps) for data, lines, timestamps in parsed]


def agree(text: str, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether the fast path took ``text``; fails the test when it read it otherwise than PyYAML."""
    fast = fast_read(text)
    if fast is None:
        return False
    reference, errors = pyyaml_read(text, monkeypatch)
    assert not errors, f"the fast path accepted what PyYAML rejects: {errors}\n{text}"
    assert fast == reference, text
    return True


def fixture_files() -> list[Path]:
    roots = [ROOT / "inventory", ROOT / "policies", ROOT / "tests", ROOT / "src" / "itscm_check"]
    return sorted(path for root in roots for pattern in ("*.yaml", "*.yml") for path in root.rglob(pattern))


def test_every_fixture_reads_alike_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = {path: agree(path.read_text(encoding="utf-8-sig"), monkeypatch) for path in fixture_files()}
    assert len(taken) >= 40
    for path, took in taken.items():  # a Windows checkout: CRLF line ends, the same lines and data
        assert agree(path.read_text(encoding="utf-8-sig").replace("\n", "\r\n"), monkeypatch) == took, path
    # The example inventory and the built-in pack are what a large inventory looks like: the fast
    # path must take them, not quietly refuse everything.
    for path, took in taken.items():
        if path.is_relative_to(ROOT / "inventory") or path.is_relative_to(ROOT / "src"):
            assert took, f"the fast path refused {path}"
    assert sum(taken.values()) > 0.9 * len(taken)


# Scalars that YAML 1.1 (PyYAML) and YAML 1.2 (yaml_rs) read differently, or that look alike.
SCALARS = ["yes", "No", "NO", "on", "OFF", "y", "n", "true", "False", "012", "0o12", "0x1F", "1_000", "1:30", "190:20:30",
           "1e3", "1.0e3", "1.5e+3", "6.8523015e+5", "1.5", "1.", ".5", "-.inf", ".NaN", "+12", "-0", "0b101", "~", "null",
           "Null", "2026-01-05", "2026-1-5", "2026-01-05T10:00:00Z", "2026-01-05 10:00:00.5 +02:00", "4h", "P1D",
           "'yes'", '"012"', "'2026-01-05'", '"a\\tb\\u00e9"', "'it''s'", "x#y", "http://host:80/path?q=1", "-5",
           "a b  # c", '""', "''"]
KEYS = ["yes", "No", "012", "0o12", "1:30", "1e3", "~", "null", "2026-01-05", "true", "'yes'", '"012"', "x#y", "-5", "1.5",
        "'it''s'", "http://h", "a b", "'a: b'", '"#"']


@needs_yaml_rs
@pytest.mark.parametrize("scalar", SCALARS)
def test_scalars_read_as_yaml_1_1(scalar: str, monkeypatch: pytest.MonkeyPatch) -> None:
    block = f"plain: {scalar}\nitems:\n  - {scalar}\n  - k: {scalar}\n    z: 1\n"
    assert agree(block, monkeypatch), block
    bare = scalar.split(" #")[0]
    agree(f"flow: {{a: {bare}, b: [{bare}, x]}}\n", monkeypatch)  # refused where only the quoting would tell


@pytest.mark.parametrize("key", KEYS)
def test_keys_are_the_text_written(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = f"{key}: 1\nlist:\n  - {key}: x\n    other: y\n"
    assert agree(text, monkeypatch), text


@pytest.mark.parametrize("text", [
    "a: !!str 1\n", "a: !custom x\n", "a: &x 1\nb: *x\n", "base: &b {x: 1}\nc:\n  <<: *b\n", "<<: {a: 1}\n",
    "a: 1\n---\nb: 2\n", "%YAML 1.1\n---\na: 1\n", "a: 1\n...\n", "? complex\n: 1\n", "a: [1,\n  2]\n",
    "a: 'two\n  lines'\n", "a: plain\n  continued\n", "a:\tb\n", "a: 1\rb: 2\r", "a: {b:, c}\n", "a: |2\n   x\n",
    "a: 1\na: 2\n", "1: x\n'1': y\n", "a: [b, c\n", "a: |\n    x\n  y\n", "- a\nb: 1\n", "a: =\n", "a: b: c\n",
    "a: |\n  x\n\n  y\n", "a: |+\n  x\n\nb: 1\n", "a: |\n\nb: 1\n", "a: >\n  x\n   more\n",
    # Found by review: a block scalar ending a text without a line break, spaces beyond the
    # indentation in a trailing line, an empty or collection key in a flow collection, escaped
    # surrogates (yaml_rs joins them, libyaml refuses them), "---" without a blank, a bad number.
    "a: |\n  x", "a: |\n  x\n     \nb: 1\n", "a: {: ~}\n", "a: [{: ~}, 1]\n", "a: {[1]: b}\n", "a: [[a]: b]\n",
    'a: "\\ud83d\\ude00"\n', '- ["\\uD83D\\uDE00"]\n', "---#x\na: 1\n", "a: 0x_\n", "a: [a, , b]\n", "a: [a,]\n",
    # Errors in the structure, which the builder (yaml_build) must refuse itself: yaml_rs does not
    # read a text the builder takes.
    "a: {a: b: c}\n", "a: [a: b: c]\n", "a: {a: b [c]}\n", "a: [a, {b: c}: d]\n", "a: b\n  c: d\n", "- a\n  - b\n",
    "a:\n- x\n - y\n", "  a: 1\nb: 2\n", "a: 1\n- b\n", "- a\n  b: 1\n",
    # Found by review of the builder: "..." ends a document, and libyaml's limit on a key counts
    # from its first character to its ":", quotes and blanks included.
    "... : 1\n", "a: 1\n... a: 2\n", "a" + " " * 1024 + ": 1\n", "- a" + " " * 1024 + ": 1\n", "'" + "''" * 512 + "': 1\n",
    "k: [a" + " " * 1024 + ": 1]\n", "k: {a" + " " * 1024 + ": 1}\n",
    "deep:\n" + "".join("  " * i + "- k:\n" for i in range(70)),
])
def test_what_the_scanner_does_not_follow_goes_to_pyyaml(text: str) -> None:
    assert fast_read(text) is None


@pytest.mark.parametrize("character", [chr(code) for code in range(0x80)] + ["\x85", "\xa0", "\u2028", "\ufeff"])
def test_an_ascii_text_is_checked_for_unsupported_characters_as_any_other(character: str) -> None:
    # ASCII text has its own quicker test (bytes.translate): it must refuse what the regular
    # expression refuses in any text, and nothing else.
    for text in (f"a: x{character}y\n", f"a: \xe9{character}\n"):
        assert fast_yaml._unsupported(text) == (fast_yaml._UNSUPPORTED.search(text) is not None), repr(text)


def test_tabs_and_control_characters_in_ascii_text_go_to_pyyaml() -> None:
    assert [fast_yaml._unsupported(f"a: x{c}y\n") for c in "\t\x00\x1f\x7f ~"] == [True] * 4 + [False] * 2


def test_block_scalars_comments_and_empty_values(monkeypatch: pytest.MonkeyPatch) -> None:
    text = ("---  # first\nsvc:\n  - id: a  # trailing\n    notes: |\n      line one\n        - not an item: x\n"
            "    folded: >-\n      one\n      two\n    empty:\n    none: ~\n    list:\n    - x\n    -\n    - - y\n"
            "      - z\n    map: {}\n    seq: []\n  -\n    id: b\n  - 'quoted'\n  - [1, 2]\n")
    assert agree(text, monkeypatch)


@pytest.mark.parametrize("text", [
    "x: {a: , ~: 5, 6: ~}\n", "a: {b: , null: [~]}\n", "a: [{a: , null: }, ~]\n", "a: {b, c: 1}\n", "a: [b: ]\n",
    "a: [a: b, c]\n", "a: {a, b: [c, {d: e}]}\n", '- ["a":b, {x: [y, z]}]\n', "a: [[], {}, [[]]]\n",
    "0x_: 1\n", "a: [x" + " " * 20_000 + "y]\n", "a: |\n  x" + " " * 20_000 + "y\n", "- a" + " " * 20_000 + "b\n",
])
def test_empty_nodes_odd_keys_and_long_blank_runs(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert agree(text, monkeypatch)


@pytest.mark.parametrize(("text", "problem", "kind"), [
    ("0x_", "'0x_' is not a valid int", "int"),
    ("!!bool maybe", "'maybe' is not a valid bool", "bool"),
    ("!!int ''", "'' is not a valid int", "int"),
])
def test_a_value_that_is_no_valid_number_is_an_input_error(text: str, problem: str, kind: str) -> None:
    documents, errors = loader.load_text(f"ok: 1\nbad: {text}\n", "f.yaml")
    assert not documents
    hint = f"write a valid {kind}, or quote the text (without a tag) to keep it as text"
    assert [str(e) for e in errors] == [f"f.yaml:2: {problem} ({hint})"]


def test_mutated_files_read_alike_or_go_to_pyyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    """A seeded fuzz: YAML-significant edits to real files. Each result is PyYAML's or a refusal."""
    rng = random.Random(6)
    corpus = [path.read_text(encoding="utf-8") for path in fixture_files() if path.stat().st_size < 20_000]
    edits = [": ", "- ", "#", " #", "'", '"', "[", "]", "{", "}", ",", ":", "&", "*", "!", "|", ">", "?", "\n", "\n  ",
             "\t", "yes", "012", "1:30", "2026-01-05", "~", "", "---\n"]
    taken = 0
    for _ in range(1_000):
        lines = rng.choice(corpus).split("\n")
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(lines))
            position = rng.randint(0, len(lines[i]))
            lines[i] = lines[i][:position] + rng.choice(edits) + lines[i][position + rng.randint(0, 2):]
        taken += agree("\n".join(lines), monkeypatch)
    assert taken > 100  # the edits leave many files readable: the comparison really ran


@pytest.mark.skipif(sys.version_info < (3, 11), reason="possessive repetitions need Python 3.11")
def test_the_line_pattern_splits_lines_alike_with_possessive_repetitions_and_without() -> None:
    """Python 3.10 has the scanner's line pattern without possessive repetitions (yaml_lines)."""
    possessive, plain = yaml_lines.line_pattern(True), yaml_lines.line_pattern(False)
    assert possessive.pattern != plain.pattern
    rng = random.Random(7)
    texts = [path.read_text(encoding="utf-8") for path in fixture_files()]
    lines = [line for text in texts for line in text.split("\n")]
    edits = [": ", "- ", "-", " #", "#", "'", "''", '"', ":", "  ", " :", "[", "{", "&", "\\"]
    for _ in range(5_000):
        line = rng.choice(lines)
        for _ in range(rng.randint(1, 3)):
            position = rng.randint(0, len(line))
            line = line[:position] + rng.choice(edits) + line[position + rng.randint(0, 2):]
        lines.append(line)
    lines += ["- - a: b", "- -", "a :b", "a  : b", "'it''s': x", "'a'': 'b'", '"a\\"b": c', "a: b: c", "a:b: c",
              "-x: 1", "a #b: c", "k:", "  - 'q':", "a  ", ":", "- : a"]
    for line in lines:
        assert possessive.findall(line) == plain.findall(line), line
    assert all(possessive.findall(text) == plain.findall(text) for text in texts)


def built_alone(text: str, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether the fast path takes ``text`` without yaml_rs: by the builder (yaml_build) alone."""
    with monkeypatch.context() as patch:
        patch.setattr(fast_yaml, "yaml_rs", None)
        return fast_read(text) is not None


def test_the_builder_reads_the_example_inventory_and_the_pack_without_yaml_rs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path's speed rests on building realistic files from the tokens alone."""
    paths = [path for path in fixture_files()
             if path.is_relative_to(ROOT / "inventory") or path.is_relative_to(ROOT / "src")]
    assert len(paths) >= 10
    assert [path for path in paths if not built_alone(path.read_text(encoding="utf-8-sig"), monkeypatch)] == []


@pytest.mark.parametrize("text", [
    "a:\n- x\n- y\nb: 1\n", "- a: 1\n  b:\n  - c\n  -\n    d: 2\n- - e\n  - f\n",
    "a:\n  b: |\n    one\n    two\n  c: >-\n    x\n",
    "- [a, {b: c}]\n- {d: [e: f]}\n", "k: 'it''s'\nq: \"x\"  # c\n", "  indented: root\n  next: 2\n",
])
def test_the_builder_takes_the_shapes_of_an_inventory_alone(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert built_alone(text, monkeypatch)
    assert agree(text, monkeypatch)


@needs_yaml_rs
@pytest.mark.parametrize("text", ['a: "tab\\there"\n', 'a: ["\\u00e9", b]\n', '- {"k\\"": 1}\n', 'k: "a\\\\b"\n'])
def test_escapes_are_left_to_yaml_rs_and_the_walker(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not built_alone(text, monkeypatch)
    assert agree(text, monkeypatch)


# Pieces of lines for the generated files below: keys, values and lines of block scalars.
_KEYS = ["a", "b", "c", "'q'", '"d"', "1", "yes", "a b", "x:y", "'it''s'", "2026-01-05", "~", "-x"]
_VALUES = ["", "v", "w x", "1", "012", "0x1F", "yes", "No", "~", "null", "2026-01-05", "2026-01-05T10:00:00Z", "1.5",
           "1e3", ".inf", "'s'", '"d"', '"e\\tf"', "''", "[]", "{}", "[a, b]", "{a: 1, b: [c, d]}", "[a: b]", "{a, b: 1}",
           "[{x: 1}, [y]]", "|", ">", "|-", ">-", "|+", "# c", "v # c", "-5", "4h", "a#b", '["a":b]', "{a: }", "=", "1:30"]
_TEXT_LINES = ["text", "more text", "  indented", "", "x: y", "- z"]


def generated_line(rng: random.Random) -> str:
    indent = " " * rng.choice([0, 0, 1, 2, 2, 4, 4, 6])
    draw = rng.random()
    if draw < 0.15:
        return indent + rng.choice(_TEXT_LINES)
    prefix = rng.choice(["", "", "", "- ", "- ", "- - ", "-   "])
    if draw < 0.3:
        return indent + prefix + rng.choice(_VALUES)
    return indent + prefix + rng.choice(_KEYS) + ":" + (" " + rng.choice(_VALUES) if rng.random() < 0.8 else "")


def test_generated_files_read_alike_or_go_to_pyyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    """A seeded fuzz of the structures the builder follows (yaml_build): keys, items, scalars, flow
    collections and block scalars at random columns. Each result is PyYAML's or a refusal."""
    rng = random.Random(8)
    texts = ["\n".join(generated_line(rng) for _ in range(rng.randint(1, 8))) + "\n" for _ in range(6_000)]
    taken = [text for text in texts if agree(text, monkeypatch)]
    assert len(taken) > 500  # the comparison really ran, on nested blocks too
    assert sum(built_alone(text, monkeypatch) for text in taken) > 0.9 * len(taken)


def test_forcing_pyyaml_skips_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fast_yaml.PARSER_VARIABLE, "pyyaml")

    def fail(text: str) -> None:
        raise AssertionError("the fast path ran")

    monkeypatch.setattr(fast_yaml, "load", fail)
    documents, errors = loader.load_text("a: 1\n", "f.yaml")
    assert documents[0].data == {"a": 1} and not errors


def test_without_yaml_rs_the_run_says_so_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(fast_yaml.PARSER_VARIABLE, raising=False)
    monkeypatch.setattr(fast_yaml, "yaml_rs", None)
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.yaml").write_text(f"teams:\n  - id: {name}\n    name: {name}\n", encoding="utf-8")
    code = cli.main(["validate", "--inventory", str(tmp_path), "--no-cache"])
    err = capsys.readouterr().err
    assert code == 0
    assert err.count("yaml_rs is not available") == 1, err
    assert cli.main(["rules"]) == 0
    assert "yaml_rs" not in capsys.readouterr().err  # commands that read no inventory stay quiet


def test_without_yaml_rs_the_builder_reads_and_leaves_the_rest_to_pyyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fast_yaml.PARSER_VARIABLE, raising=False)
    monkeypatch.setattr(fast_yaml, "yaml_rs", None)
    assert fast_yaml.enabled()
    assert agree("a: [b, {c: 1}]\nd: 2026-01-05\ne:\n- 'f'\n", monkeypatch)
    assert fast_read("# only a comment\n") == []
    assert fast_read('a: "\\u00e9"\n') is None  # an escape: yaml_rs and the walker would read it
    documents, errors = loader.load_text('a: "\\u00e9"\n', "f.yaml")  # so PyYAML does
    assert [d.data for d in documents] == [{"a": "\u00e9"}] and not errors


def test_an_unknown_parser_is_an_input_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(fast_yaml.PARSER_VARIABLE, "yaml_rs")
    assert cli.main(["validate", "--no-cache"]) == 2
    assert "ITSCM_CHECK_PARSER is 'yaml_rs'; use one of: fast, pyyaml, or leave it unset" in capsys.readouterr().err


def test_the_cache_keeps_the_paths_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forcing PyYAML rules the fast path out even on a warm cache."""
    (tmp_path / "inv.yaml").write_text("teams:\n  - id: a\n    name: A\n", encoding="utf-8")
    cache = tmp_path / "cache"
    for parser in fast_yaml.PARSERS:
        monkeypatch.setenv(fast_yaml.PARSER_VARIABLE, parser)
        assert cli.main(["validate", "--inventory", str(tmp_path / "inv.yaml"), "--cache-dir", str(cache)]) == 0
    # Each path's parsed file with its records beside them, and parsed built-in policy pack.
    assert len(list(cache.glob("[0-9a-f]" * 64))) == 4


def test_reports_of_the_example_inventory_are_byte_identical_on_both_paths(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # paths in the report are relative to the working directory
    reports = {}
    for parser in fast_yaml.PARSERS:
        monkeypatch.setenv(fast_yaml.PARSER_VARIABLE, parser)
        output = tmp_path / f"{parser}.json"
        code = cli.main(["check", "--inventory", "inventory", "--as-of", "2026-06-30", "--no-cache",
                         "--format", "json", "--output", str(output)])
        assert code == 1  # the example inventory has findings on purpose
        reports[parser] = output.read_bytes()
    assert reports["fast"] == reports["pyyaml"]
