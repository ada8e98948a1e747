"""The inventory model: records that nothing can change once assembled."""

from __future__ import annotations

import inspect
import typing

import msgspec
import pytest

from itscm_check import inventory
from itscm_check.errors import Location
from itscm_check.model_cache import decode_records, encode_records
from itscm_check.schema import load_schema
from itscm_check.values import Duration, YamlTimestamp, parse_date

RECORDS = [cls for _, cls in inspect.getmembers(inventory, inspect.isclass)
           if issubclass(cls, msgspec.Struct) and cls.__module__ == inventory.__name__]


def test_every_record_and_location_is_frozen() -> None:
    assert len(RECORDS) > 20
    assert all(cls.__struct_config__.frozen for cls in [*RECORDS, Location])


def test_a_record_cannot_be_changed() -> None:
    site = inventory.Site(id="dc1", failure_domain="campus-a", source=Location("sites.yaml", 3))
    with pytest.raises(AttributeError):
        site.id = "dc2"  # type: ignore[misc]
    assert site == inventory.Site(id="dc1", failure_domain="campus-a", source=Location("sites.yaml", 3))
    assert Location("a.yaml", 2) < Location("a.yaml", 10) < Location("b.yaml", 1)  # ordered as before


def test_a_date_out_of_range_in_utc_is_named_as_written() -> None:
    with pytest.raises(ValueError, match="'0001-01-01T00:00:00\\+01:00' is not a valid date"):
        parse_date(YamlTimestamp("0001-01-01T00:00:00+01:00"))


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (5400, "1h30m"), (86400, "1d"), (14 * 86400, "2w"), (30 * 86400, "30d"), (8 * 86400 + 3600, "8d1h")])
def test_a_duration_is_shown_in_weeks_only_when_it_is_whole_weeks(seconds: int, text: str) -> None:
    # 30 days read back as "4w2d" in a message about a 30-day minimum.
    assert str(Duration(seconds)) == text


# Each Literal of the model and the schema enum it spells, by JSON pointer.
ENUMS = {
    inventory.Result: "/definitions/result",
    inventory.ContactRole: "/definitions/contact/properties/role",
    inventory.SiteKind: "/definitions/site/properties/kind",
    inventory.VendorCriticality: "/definitions/vendor/properties/criticality",
    inventory.EvidenceType: "/definitions/vendor/properties/continuity_evidence/properties/type",
    inventory.ExerciseType: "/definitions/exercise/properties/type",
    inventory.PlanType: "/definitions/plan/properties/type",
    inventory.DependencyType: "/definitions/dependency/properties/type",
    inventory.ServiceKind: "/definitions/service/properties/kind",
    inventory.Lifecycle: "/definitions/service/properties/lifecycle",
    inventory.Strategy: "/definitions/service/properties/sites/properties/strategy",
}


def _enums(node: object, pointer: str = "") -> dict[str, list[str]]:
    """Every enum of the schema, by JSON pointer."""
    found: dict[str, list[str]] = {}
    if isinstance(node, dict):
        if "enum" in node:
            found[pointer] = node["enum"]
        for key, value in node.items():
            found.update(_enums(value, f"{pointer}/{key}"))
    elif isinstance(node, list):  # anyOf, oneOf, items as a list
        for index, value in enumerate(node):
            found.update(_enums(value, f"{pointer}/{index}"))
    return found


def test_each_enum_of_the_schema_is_a_literal_of_the_model_with_the_same_words() -> None:
    enums = _enums(load_schema("inventory"))
    assert sorted(enums) == sorted(ENUMS.values())
    for literal, pointer in ENUMS.items():
        assert list(typing.get_args(literal)) == enums[pointer], pointer


def test_the_words_of_a_literal_read_back_from_the_model_cache_are_one_string_each() -> None:
    dependencies = [inventory.Dependency(ref=ref, source=Location("a.yaml", line), type=b"soft".decode())
                    for line, ref in enumerate(("db", "queue"), start=3)]
    assert dependencies[0].type is not dependencies[1].type  # built apart, as two documents would make them
    decoder = msgspec.msgpack.Decoder(list[inventory.Dependency])
    read = decode_records(decoder, encode_records(dependencies))
    assert read == dependencies
    assert read[0].type is read[1].type
