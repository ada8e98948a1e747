"""Parsing of the inventory's scalar types: durations and dates."""

from __future__ import annotations

import datetime as dt
import functools
import re

import yaml

_ISO = re.compile(
    r"P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?"
)
_SHORT = re.compile(r"(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

DURATION_HINT = "write a duration such as 15m, 4h, 1h30m, 3d, 2w or PT4H, P1D"
DATE_HINT = "write a date as YYYY-MM-DD"


class Duration(int):
    """A number of seconds that prints the way users write durations (``4h``, ``1h30m``)."""

    __slots__ = ()

    def __str__(self) -> str:
        return format_duration(self)

    __repr__ = __str__


def parse_duration(value: object) -> Duration:
    """Return the duration in seconds, or raise ValueError saying what is wrong."""
    if isinstance(value, bool) or not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ValueError(f"'{value}' is not a duration: a bare number has no unit; write {value}h or PT{value}H")
        raise ValueError(f"'{value}' is not a duration")
    return _parse_duration_text(value)


@functools.lru_cache(maxsize=4096)  # an inventory repeats a few durations thousands of times
def _parse_duration_text(value: str) -> Duration:
    text = value  # no stripping: the grammar is exact, as it is for dates
    match = (_ISO if text.startswith("P") else _SHORT).fullmatch(text)
    if not text or text in ("P", "PT") or match is None or not any(match.groupdict().values()):
        if re.match(r"P[^T]*[YM]", text) or re.fullmatch(r"\d+(?:mo|y|M|Y)", text):
            raise ValueError(f"'{value}' is not a duration: months and years have no fixed length; use days or weeks")
        if re.fullmatch(r"\d+", text):
            raise ValueError(f"'{value}' is not a duration: a bare number has no unit; write {text}h or PT{text}H")
        raise ValueError(f"'{value}' is not a duration")
    return Duration(sum(int(n) * _SECONDS[unit] for unit, n in match.groupdict().items() if n))


class YamlTimestamp(str):
    """An unquoted YAML date or timestamp, kept as written; a quoted one is a plain ``str``."""

    __slots__ = ()


def parse_date(value: object) -> dt.date:
    """Return the calendar date (a timestamp becomes its UTC date), or raise ValueError."""
    if type(value) is str or type(value) is YamlTimestamp:
        return _parse_date_text(value)
    return _parse_date(value)


@functools.lru_cache(maxsize=4096, typed=True)  # typed: a quoted and an unquoted date are read differently
def _parse_date_text(value: str) -> dt.date:
    return _parse_date(value)


def _parse_date(value: object) -> dt.date:
    written = value
    if isinstance(value, YamlTimestamp) and not _DATE.fullmatch(value):
        # A `!!timestamp` tag can put any text here; only what a plain timestamp matches is one.
        if not yaml.constructor.SafeConstructor.timestamp_regexp.fullmatch(value):
            raise ValueError(f"'{value}' is not a valid date")
        node = yaml.ScalarNode("tag:yaml.org,2002:timestamp", str(value))
        value = yaml.constructor.SafeConstructor().construct_yaml_timestamp(node)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            try:
                value = value.astimezone(dt.timezone.utc)
            except OverflowError:  # 0001-01-01T00:00+01:00 falls before the first day a date can hold
                raise ValueError(f"'{written}' is not a valid date: its UTC date is out of range") from None
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"'{value}' is not a valid date")


def format_duration(seconds: int) -> str:
    """Render seconds in the shorthand form users write (``1h30m``, ``0s``), in weeks only when
    they are whole weeks (``2w``, but ``30d`` rather than ``4w2d``)."""
    if seconds == 0:
        return "0s"
    parts = []
    units = ("w", "d", "h", "m", "s") if seconds % _SECONDS["w"] == 0 else ("d", "h", "m", "s")
    for unit in units:
        count, seconds = divmod(seconds, _SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
