"""The fast validator (fastjsonschema, on the schema with its $refs inlined) tells valid from
invalid exactly as the complete one (jsonschema, on the schema as shipped) does."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest
from fastjsonschema import JsonSchemaValueException

from itscm_check.formatters import render
from itscm_check.loader import load_file
from itscm_check.pipeline import run_check
from itscm_check.schema import _complete, _const_as_enum, _fast, inline_refs, load_schema

REPO = Path(__file__).parent.parent
SCHEMAS = REPO / "src" / "itscm_check" / "schemas"
# Values that break one keyword or another somewhere: wrong types, an unknown enum value, dates
# and durations that do not parse, an out-of-range tier, an empty id.
ODD_VALUES: tuple[Any, ...] = ("", "yes", "2026-02-30", "4 hours", "PT", 0, 5, 1.5, True, None, [], {}, ["x"],
                               {"x-extension": 1}, {"unknown": 1})


def _local_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _local_refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _local_refs(item)]
    return []


def test_the_inventory_schema_is_inlined_whole_and_compiling_changes_no_schema() -> None:
    shipped = {name: json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
               for name in ("inventory", "policy", "report")}
    _fast.cache_clear()
    for name in shipped:
        _fast(name)  # fastjsonschema rewrites the refs of what it compiles: it must be given a copy

    assert "#/definitions/id" in _local_refs(shipped["inventory"])
    assert _local_refs(inline_refs(shipped["inventory"])) == []
    assert all(load_schema(name) == schema for name, schema in shipped.items())


def test_definitions_that_refer_back_to_themselves_are_left_refs() -> None:
    tree = {"definitions": {"node": {"type": "object", "properties": {"children": {"$ref": "#/definitions/nodes"},
                                                                       "name": {"$ref": "#/definitions/name"}},
                                     "additionalProperties": False},
                            "nodes": {"type": "array", "items": {"$ref": "#/definitions/node"}},
                            "name": {"type": "string"}},
            "properties": {"root": {"$ref": "#/definitions/node"}, "label": {"$ref": "#/definitions/name"}}}
    inlined = inline_refs(tree)

    assert inlined["properties"] == {"root": {"$ref": "#/definitions/node"}, "label": {"type": "string"}}
    assert inlined["definitions"]["node"]["properties"]["name"] == {"type": "string"}
    assert inlined["definitions"]["node"]["properties"]["children"] == {"$ref": "#/definitions/nodes"}
    assert set(_local_refs(inlined)) == {"#/definitions/node", "#/definitions/nodes"}


def test_the_policy_schemas_nested_conditions_stay_refs() -> None:
    inlined = inline_refs(load_schema("policy"))
    assert set(_local_refs(inlined)) == {"#/definitions/condition"}


def test_only_refs_where_draft_7_reads_a_schema_are_inlined() -> None:
    schema = {"definitions": {"n": {"type": "integer"}, "a~1b": {"type": "string"}},
              "properties": {
                  "beside": {"$ref": "#/definitions/n", "description": "siblings: Draft 7 ignores them"},
                  "data": {"const": {"$ref": "#/definitions/n"}, "enum": [{"$ref": "#/definitions/n"}],
                           "default": {"$ref": "#/definitions/n"}},
                  "$ref": {"$ref": "#/definitions/n"},  # a property that happens to be called $ref
                  "escaped": {"$ref": "#/definitions/a~1b"},
                  "needs": {"dependencies": {"x": ["y"], "z": {"$ref": "#/definitions/n"}}},
                  "any": {"anyOf": [{"$ref": "#/definitions/n"}, True]},
                  "list": {"items": [{"$ref": "#/definitions/n"}], "additionalItems": {"$ref": "#/definitions/n"}}}}
    properties = inline_refs(schema)["properties"]

    assert properties["beside"] == schema["properties"]["beside"]
    assert properties["data"] == schema["properties"]["data"]
    assert properties["$ref"] == {"type": "integer"}
    assert properties["escaped"] == {"$ref": "#/definitions/a~1b"}
    assert properties["needs"] == {"dependencies": {"x": ["y"], "z": {"type": "integer"}}}
    assert properties["any"] == {"anyOf": [{"type": "integer"}, True]}
    assert properties["list"] == {"items": [{"type": "integer"}], "additionalItems": {"type": "integer"}}


def test_a_schema_with_an_id_below_its_root_is_left_as_written() -> None:
    # Under the $id, "#/definitions/n" would name other.json's definition, not this one's.
    schema = {"$id": "https://example.com/root.json", "definitions": {"n": {"type": "integer"}},
              "properties": {"a": {"$ref": "#/definitions/n"},
                             "b": {"$id": "other.json", "properties": {"c": {"$ref": "#/definitions/n"}}}}}
    assert inline_refs(schema) == schema


def test_const_is_compiled_as_a_one_value_enum_and_data_is_left_alone() -> None:
    schema = {"properties": {"version": {"const": 1},
                             "kind": {"const": "Policy", "allOf": [{"type": "string"}]},
                             "const": {"type": "integer", "default": {"const": 2}}},
              "definitions": {"flag": {"not": {"const": False}}}}
    rewritten = _const_as_enum(schema)

    assert rewritten["properties"] == {"version": {"allOf": [{"enum": [1]}]},
                                       "kind": {"allOf": [{"type": "string"}, {"enum": ["Policy"]}]},
                                       "const": {"type": "integer", "default": {"const": 2}}}
    assert rewritten["definitions"] == {"flag": {"not": {"allOf": [{"enum": [False]}]}}}
    assert schema["properties"]["version"] == {"const": 1}  # a copy: load_schema's stays as shipped


def _valid_document(schema: str) -> dict[str, Any]:
    if schema == "inventory":
        return load_file(sorted((REPO / "inventory").rglob("*.yaml"))[0])[0][0].data
    if schema == "policy":
        return load_file(REPO / "policies" / "itscm-default.yaml")[0][0].data
    return json.loads(render("json", run_check([REPO / "inventory"], [], dt.date(2026, 6, 30))))


@pytest.mark.parametrize(("schema", "where", "wrong"), [
    ("inventory", ("apiVersion",), "itscm/v2"),
    ("policy", ("apiVersion",), "itscm/v2"),
    ("policy", ("kind",), "Polices"),
    ("report", ("schema_version",), 2),
    ("report", ("tool", "name"), "itscm"),
])
def test_the_fast_validator_still_checks_each_const(schema: str, where: tuple[str, ...], wrong: object) -> None:
    # Each const is compiled as a one-value enum (_const_as_enum), without detailed exceptions.
    document = _valid_document(schema)
    _fast(schema)(document)
    parent = document
    for step in where[:-1]:
        parent = parent[step]
    parent[where[-1]] = wrong

    with pytest.raises(JsonSchemaValueException):
        _fast(schema)(document)
    assert [tuple(error.absolute_path) for error in _complete(schema).iter_errors(document)] == [where]


def _mutations(data: Any, rng: random.Random, count: int) -> list[Any]:
    """Copies of ``data``, each with one value somewhere replaced, or one key added or dropped."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, where: tuple[Any, ...]) -> None:
        paths.append(where)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*where, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*where, index))
    walk(data, ())
    mutated = []
    for _ in range(count):
        copied = copy.deepcopy(data)
        where = rng.choice(paths[1:])
        parent = copied
        for step in where[:-1]:
            parent = parent[step]
        choice = rng.random()
        if choice < 0.7 or isinstance(parent, list):
            parent[where[-1]] = rng.choice(ODD_VALUES)
        elif choice < 0.85:
            del parent[where[-1]]
        else:
            parent[rng.choice(["unknown", "x-extension", "tier", "id"])] = rng.choice(ODD_VALUES)
        mutated.append(copied)
    return mutated


def _agree(schema: str, original: Any, seed: str) -> None:
    """The fast and the complete validator give the same verdict on ``original`` and on mutations
    of it; ``original`` is valid and some mutations are not."""
    verdicts = []
    for data in [original, *_mutations(original, random.Random(seed), 60)]:
        complete_ok = not any(True for _ in _complete(schema).iter_errors(data))
        try:
            _fast(schema)(data)
            fast_ok = True
        except JsonSchemaValueException:
            fast_ok = False
        assert fast_ok == complete_ok, json.dumps(data, default=str)[:500]
        verdicts.append(fast_ok)
    assert verdicts[0] and not all(verdicts)


@pytest.mark.parametrize("path", sorted((REPO / "inventory").rglob("*.yaml")), ids=lambda path: path.name)
def test_both_validators_agree_on_inventory_documents(path: Path) -> None:
    [document], errors = load_file(path)
    assert not errors
    _agree("inventory", document.data, path.name)


def test_both_validators_agree_on_reports() -> None:
    report = run_check([REPO / "inventory"], [], dt.date(2026, 6, 30))
    _agree("report", json.loads(render("json", report)), "report")
