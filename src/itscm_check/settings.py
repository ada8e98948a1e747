"""Settings for a run, resolved once at the edge: defaults < config file < command line."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itscm_check.errors import InputError, InputErrors, Location
from itscm_check.formatters import FORMATS
from itscm_check.loader import display_path, load_file
from itscm_check.policy.model import SEVERITIES
from itscm_check.report import NEVER
from itscm_check.values import DATE_HINT, parse_date

CONFIG_FILE = Path(".itscm-check.yaml")
DEFAULT_CACHE_DIR = Path(".itscm-cache")


@dataclass(frozen=True)
class Output:
    format: str
    path: Path | None  # None: standard output


@dataclass(frozen=True)
class Settings:
    inventory: tuple[Path, ...]
    policies: tuple[Path, ...]
    as_of: dt.date
    outputs: tuple[Output, ...]
    fail_on: str
    color: bool
    generated_at: dt.datetime | None  # SOURCE_DATE_EPOCH, shown in the HTML report's provenance
    waivers: tuple[Path, ...] = ()
    max_waiver_days: int = 365
    warn_expiring_days: int = 30
    baseline_ref: str | None = None
    baseline_report: Path | None = None
    cache_dir: Path | None = DEFAULT_CACHE_DIR  # None: --no-cache
    config_file: Path | None = None  # the config file read, if there was one


def resolve(args: argparse.Namespace, now: dt.datetime) -> Settings:
    """Settings from the parsed command line and the config file; raises InputErrors on bad values.

    ``now`` (UTC) gives the default as-of date. A report states no generation time of its own,
    so that the same inputs and as-of date give byte-identical reports; SOURCE_DATE_EPOCH, the
    reproducible-builds convention, gives one for the HTML report's provenance.
    """
    today = now.date()
    config_file = Path(args.config) if args.config else CONFIG_FILE
    config = _read_config(config_file, required=bool(args.config))
    errors: list[InputError] = []
    inventory = args.inventory or _as_list(config.get("inventory")) or ["inventory"]
    policies = args.policies or _as_list(config.get("policies")) or default_policies()
    as_of = today
    raw_as_of = args.as_of if args.as_of is not None else config.get("as_of")
    if raw_as_of is not None:
        try:
            as_of = as_of_date(raw_as_of)
        except InputErrors as exc:
            errors += exc.errors
    fail_on = args.fail_on if args.fail_on is not None else config.get("fail_on", "high")
    if fail_on not in (*SEVERITIES, NEVER):
        errors.append(InputError(Location("--fail-on", 0), f"'{fail_on}' is not a severity",
                                 f"use one of {', '.join(SEVERITIES)} or {NEVER}"))
    outputs = _outputs(getattr(args, "format", None) or ["table"], getattr(args, "output", None) or [], errors)
    waivers = getattr(args, "waivers", None) or _as_list(config.get("waivers"))
    max_days = _days("--max-waiver-days", getattr(args, "max_waiver_days", None), config.get("max_waiver_days"), 365,
                     errors)
    warn_days = _days("--warn-expiring", getattr(args, "warn_expiring", None), config.get("warn_expiring"), 30, errors)
    baseline_ref = getattr(args, "baseline", None)
    baseline_report = getattr(args, "baseline_report", None)
    if baseline_ref and baseline_report:
        errors.append(InputError(Location("--baseline", 0), "give --baseline or --baseline-report, not both"))
    cache_dir = None if getattr(args, "no_cache", False) else Path(
        getattr(args, "cache_dir", None) or config.get("cache_dir") or DEFAULT_CACHE_DIR)
    generated_at = _source_date_epoch(os.environ.get("SOURCE_DATE_EPOCH", ""), errors)
    if errors:
        raise InputErrors(errors)
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    return Settings(tuple(Path(p) for p in inventory), tuple(Path(p) for p in policies), as_of, outputs,
                    fail_on, color, generated_at, tuple(Path(p) for p in waivers),
                    max_days, warn_days, baseline_ref, Path(baseline_report) if baseline_report else None, cache_dir,
                    config_file if config_file.is_file() else None)


def _source_date_epoch(epoch: str, errors: list[InputError]) -> dt.datetime | None:
    """The time SOURCE_DATE_EPOCH gives; a value that is none is an error, as the reproducible-builds
    specification asks (never a guess)."""
    if not epoch:
        return None
    try:
        if epoch.isascii() and epoch.isdigit():
            return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        pass
    errors.append(InputError(Location("SOURCE_DATE_EPOCH", 0), f"'{epoch}' is not a number of seconds since 1970",
                             "unset it, or give a whole number such as 1767225600"))
    return None


def _days(flag: str, given: object, configured: object, default: int, errors: list[InputError]) -> int:
    value = given if given is not None else configured if configured is not None else default
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    elif type(value) is float and value.is_integer():  # `365.0` in the config file: an integer to its schema
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        errors.append(InputError(Location(flag, 0), f"'{value}' is not a number of days", "write a whole number"))
        return default
    return value


def _outputs(formats: list[str], paths: list[str], errors: list[InputError]) -> tuple[Output, ...]:
    """Pair each --format with the --output at the same position (or FORMAT=FILE); the rest go to stdout."""
    outputs = []
    for i, spec in enumerate(formats):
        name, _, inline = spec.partition("=")
        if name not in FORMATS:
            errors.append(InputError(Location("--format", 0), f"unknown format '{name}'",
                                     f"use one of {', '.join(FORMATS)}"))
            continue
        target = inline or (paths[i] if i < len(paths) else None)
        # "-" is standard output, as for most command-line tools.
        outputs.append(Output(name, Path(target) if target and target != "-" else None))
    if len(paths) > len(formats):
        errors.append(InputError(Location("--output", 0), "more --output than --format options",
                                 "give one --format before each --output"))
    # Two reports in one file: the second would silently replace the first. (Formats without a file
    # all go to standard output, one after the other, as SPEC section 6 has it.)
    targets = [os.path.abspath(o.path) for o in outputs if o.path is not None]
    for target in sorted({t for t in targets if targets.count(t) > 1}):
        errors.append(InputError(Location("--format", 0), f"more than one format writes to {display_path(Path(target))}",
                                 "give each format its own file with --output or FORMAT=FILE"))
    return tuple(outputs)


def default_policies() -> list[str]:
    """The policies read besides the built-in pack when none are named: ./policies, if it exists."""
    return ["policies"] if Path("policies").is_dir() else []


def as_of_date(raw: Any) -> dt.date:
    """The --as-of value (or the config file's as_of) as a date, or InputErrors saying it is none."""
    try:
        return parse_date(raw)
    except ValueError:
        raise InputErrors([InputError(Location("--as-of", 0), f"'{raw}' is not a valid date", DATE_HINT)]) from None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _read_config(path: Path, required: bool) -> dict[str, Any]:
    """The config file's settings, checked against ``schemas/config.schema.json``."""
    from itscm_check.schema import load_schema, validate

    try:
        found = path.is_file()
    except OSError as exc:  # a name longer than the file system allows, say: pathlib raises it
        raise InputErrors([InputError(Location(display_path(path), 0), f"cannot read the config file: {exc.strerror}")]
                          ) from None
    if not found:
        if required:
            raise InputErrors([InputError(Location(display_path(path), 0), "config file not found")])
        return {}
    documents, errors = load_file(path)
    if not errors and len(documents) > 1:
        errors.append(InputError(documents[1].location(), "the config file holds more than one document",
                                 "keep one mapping of settings, without a second ---"))
    elif not errors and documents and not isinstance(documents[0].data, dict):
        errors.append(InputError(documents[0].location(), "the config file must be a mapping of settings",
                                 f"known keys: {', '.join(load_schema('config')['properties'])}"))
    elif not errors and documents:
        errors += validate(documents[0], "config")
    if errors:
        raise InputErrors(errors)
    return documents[0].data if documents else {}
