"""Settings: defaults < config file < command line; colour only on a terminal without NO_COLOR."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from itscm_check.cli import build_parser
from itscm_check.errors import InputErrors
from itscm_check.settings import Output, resolve

NOW = dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.timezone.utc)
TODAY = NOW.date()


def _resolve(*argv: str):
    return resolve(build_parser().parse_args(["check", *argv]), NOW)


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = _resolve()
    assert settings.inventory == (Path("inventory"),) and settings.policies == ()
    assert settings.as_of == TODAY and settings.fail_on == "high"
    assert settings.outputs == (Output("table", None),)


def test_config_file_then_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / ".itscm-check.yaml").write_text("as_of: 2026-01-31\nfail_on: medium\ninventory: [a, b]\n")
    settings = _resolve()
    assert settings.as_of == dt.date(2026, 1, 31) and settings.fail_on == "medium"
    assert settings.inventory == (Path("a"), Path("b")) and settings.policies == (Path("policies"),)
    assert _resolve("--as-of", "2026-02-01", "--fail-on", "low").as_of == dt.date(2026, 2, 1)


def test_an_empty_fail_on_is_an_error_not_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputErrors) as exc:
        _resolve("--fail-on", "")
    assert str(exc.value.errors[0]) == "--fail-on:0: '' is not a severity (use one of critical, high, medium, low, info or never)"


def test_unknown_config_key_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".itscm-check.yaml").write_text("as_of: 2026-01-31\nfail-on: low\n")
    with pytest.raises(InputErrors) as exc:
        _resolve()
    assert str(exc.value.errors[0]) == ".itscm-check.yaml:2: unknown key 'fail-on' (did you mean 'fail_on'?)"


@pytest.mark.parametrize(("text", "expected"), [
    ("cache_dir: [a]\n", ".itscm-check.yaml:1: cache_dir: expected text, found a list"),
    ("inventory: {a: 1}\n", ".itscm-check.yaml:1: inventory: expected text or a list, found a mapping"),
    ("policies: [p, 3]\n", ".itscm-check.yaml:1: policies[1]: expected text, found 3"),
    ("as_of: 2026-02-30\n", ".itscm-check.yaml:1: as_of: '2026-02-30' is not a valid date"),
    ("fail_on: bogus\n", ".itscm-check.yaml:1: fail_on: 'bogus' is not one of critical, high, medium, low, info, never"),
    ("warn_expiring: -1\n", ".itscm-check.yaml:1: warn_expiring: -1 is out of range (use a whole number of at least 0)"),
    ("- inventory\n", ".itscm-check.yaml:1: the config file must be a mapping of settings"),
    ("fail_on: low\n---\nfail_on: high\n", ".itscm-check.yaml:3: the config file holds more than one document"),
    ('cache_dir: "c\\0d"\n', ".itscm-check.yaml:1: cache_dir: 'c\\x00d' is not allowed here"),  # no path holds a NUL
    ('inventory: ["a", "b\\0"]\n', ".itscm-check.yaml:1: inventory[1]: 'b\\x00' is not allowed here"),
])
def test_config_values_are_checked_against_the_config_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             text: str, expected: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".itscm-check.yaml").write_text(text)
    with pytest.raises(InputErrors) as exc:
        _resolve()
    assert [str(e).startswith(expected) for e in exc.value.errors] == [True]


def test_whole_numbers_written_as_floats_in_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".itscm-check.yaml").write_text("max_waiver_days: 180.0\nwarn_expiring: 14.0\n")  # integers to the schema
    settings = _resolve()
    assert (settings.max_waiver_days, settings.warn_expiring_days) == (180, 14)


def test_a_config_file_name_too_long_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputErrors) as exc:
        _resolve("--config", "c" * 300)  # pathlib raises ENAMETOOLONG, where a missing file is just False
    assert str(exc.value.errors[0]).startswith(f"{'c' * 300}:0: cannot read the config file: File name too long")


def test_formats_pair_with_outputs() -> None:
    settings = _resolve("--format", "json", "--output", "r.json", "--format", "table=t.txt", "--format", "table")
    assert settings.outputs == (Output("json", Path("r.json")), Output("table", Path("t.txt")), Output("table", None))
    # "-" is standard output, as for most command-line tools.
    assert _resolve("--format", "sarif", "--output", "-", "--format", "json=-").outputs == (
        Output("sarif", None), Output("json", None))


def test_two_formats_cannot_share_a_file() -> None:
    with pytest.raises(InputErrors) as exc:
        _resolve("--format", "json=same.out", "--format", "csv=./same.out")
    assert [str(e) for e in exc.value.errors] == [
        "--format:0: more than one format writes to same.out (give each format its own file with --output or "
        "FORMAT=FILE)"]
    assert len(_resolve("--format", "json", "--format", "table").outputs) == 2  # both to standard output


@pytest.mark.parametrize("tty, no_color, expected", [(True, False, True), (True, True, False), (False, False, False)])
def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch, tty: bool, no_color: bool,
                                                    expected: bool) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    assert _resolve().color is expected


def test_only_source_date_epoch_gives_a_generation_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert _resolve().generated_at is None  # the clock would make two runs' reports differ
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    assert _resolve().generated_at == dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for bad in ("yesterday", "99999999999999999", "²"):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", bad)
        with pytest.raises(InputErrors) as exc:
            _resolve()
        assert str(exc.value.errors[0]).startswith(f"SOURCE_DATE_EPOCH:0: '{bad}' is not a number of seconds")
