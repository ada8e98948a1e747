"""JSON Schema validation of loaded documents, with errors mapped back to file and line."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from itscm_check.errors import InputError
from itscm_check.loader import Document, DocPath
from itscm_check.values import DATE_HINT, DURATION_HINT, parse_date, parse_duration

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError

# Both validators are imported on first use: a run whose files all come from the parse cache
# validates nothing, and jsonschema runs only on a document that fails.


@cache
def _format_checker() -> jsonschema.FormatChecker:
    import jsonschema

    formats = jsonschema.FormatChecker(formats=())
    formats.checks("date", raises=ValueError)(lambda value: parse_date(value) is not None)
    formats.checks("itscm-duration", raises=ValueError)(lambda value: parse_duration(value) is not None)
    formats.checks("itscm-id")(_is_identifier)
    return formats


def _passes(check: Callable[[object], object]) -> Callable[[object], bool]:
    def test(value: object) -> bool:
        try:
            check(value)
        except ValueError:
            return False
        return True
    return test


def _is_identifier(value: object) -> bool:
    # An unquoted date is text to JSON Schema (a YamlTimestamp is a str) but a date to YAML.
    return type(value) is str


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped in ``itscm_check/schemas`` (``inventory``, ``policy``, ``report``...)."""
    text = resources.files("itscm_check").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


# The schemas of documents that can be large (an inventory file, a baseline's report): they are
# worth compiling with their $refs inlined. A policy's schema compiles in 0.05 s instead of 0.03 s
# that way, for documents that validate in no time either way.
_LARGE_DOCUMENTS = frozenset(("inventory", "report"))


@cache
def _fast(name: str) -> Callable[[Any], Any]:
    """The schema compiled to Python: it stops at the first problem, so it only tells valid from not."""
    import fastjsonschema

    formats = {"date": _passes(parse_date), "itscm-duration": _passes(parse_duration), "itscm-id": _is_identifier}
    schema = load_schema(name)
    # A copy either way (_const_as_enum copies): fastjsonschema rewrites the refs of what it
    # compiles, and jsonschema reads load_schema's.
    compiled = _const_as_enum(inline_refs(schema) if name in _LARGE_DOCUMENTS else schema)
    # Without detailed exceptions the code it writes is 40% of the size and compiles in a quarter
    # of the time (0.014 s against 0.057 s for the inventory's, in each parse worker of a cold
    # run): the messages users read come from jsonschema anyway.
    return fastjsonschema.compile(compiled, formats=formats, detailed_exceptions=False)


def _const_as_enum(schema: Any) -> Any:
    """A copy of ``schema`` with each ``const`` checked as a one-value ``enum``, which fastjsonschema
    compares alike: 2.21 and 2.22 cannot write the code of ``const`` without detailed exceptions."""
    if not isinstance(schema, dict):
        return schema  # true or false
    copied = _with_subschemas(schema, _const_as_enum)
    if "const" in copied:
        copied["allOf"] = [*copied.get("allOf", ()), {"enum": [copied.pop("const")]}]
    return copied


# Draft 7 keywords whose value is a schema, a list of schemas, or a mapping of names to schemas:
# where a $ref is a reference (in `const`, `enum` or `default` it is data).
_SUBSCHEMA = frozenset(("items", "additionalItems", "contains", "additionalProperties", "propertyNames", "not",
                        "if", "then", "else"))
_SUBSCHEMA_LISTS = frozenset(("items", "allOf", "anyOf", "oneOf"))
_SUBSCHEMA_MAPPINGS = frozenset(("properties", "patternProperties", "definitions", "dependencies"))
_LOCAL = "#/definitions/"


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` with each ``{"$ref": "#/definitions/NAME"}`` replaced by the definition
    it names, but for definitions that refer back to themselves (a policy's nested conditions).

    fastjsonschema compiles a $ref to a function call that also builds the value's name; inlined,
    the checks are written in place, and validating an inventory takes half the time. The checks
    are the same: in Draft 7 a $ref's sibling keywords are ignored, so a $ref with siblings is
    left as it is; and a schema with an ``$id`` below its root, which changes what the refs under
    it point to, is copied as it is."""
    if any(_keyword_values(subschema, "$id") for subschema in _subschemas(schema)):
        return copy.deepcopy(schema)
    definitions = {f"{_LOCAL}{name}": definition for name, definition in schema.get("definitions", {}).items()
                   if isinstance(definition, dict) and not any(c in name for c in "~/%")}
    refers_to = {ref: _keyword_values(definition, "$ref") for ref, definition in definitions.items()}

    def cyclic(ref: str) -> bool:
        """Whether the definition ``ref`` names reaches itself through its refs."""
        seen: set[str] = set()
        todo = list(refers_to[ref])
        while todo:
            current = todo.pop()
            if current == ref:
                return True
            if current not in seen:
                seen.add(current)
                todo.extend(refers_to.get(current, ()))
        return False

    inlined = {ref: definition for ref, definition in definitions.items() if not cyclic(ref)}

    def inline(node: Any) -> Any:
        if not isinstance(node, dict):
            return node  # true or false
        if len(node) == 1 and isinstance(node.get("$ref"), str) and node["$ref"] in inlined:
            return inline(inlined[node["$ref"]])
        return _with_subschemas(node, inline)

    return inline(schema)


def _with_subschemas(schema: dict[str, Any], change: Callable[[Any], Any]) -> dict[str, Any]:
    """A copy of ``schema`` with ``change`` applied to each of its own subschemas."""
    copied: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword in _SUBSCHEMA_MAPPINGS and isinstance(value, dict):
            # A `dependencies` entry may be a list of property names: that is data.
            value = {name: change(sub) if isinstance(sub, (dict, bool)) else copy.deepcopy(sub)
                     for name, sub in value.items()}
        elif keyword in _SUBSCHEMA_LISTS and isinstance(value, list):
            value = [change(sub) for sub in value]
        elif keyword in _SUBSCHEMA and isinstance(value, (dict, bool)):
            value = change(value)
        else:
            value = copy.deepcopy(value)
        copied[keyword] = value
    return copied


def _subschemas(schema: dict[str, Any]) -> list[Any]:
    """The subschemas of ``schema`` itself, not of those."""
    found: list[Any] = []

    def collect(subschema: Any) -> Any:
        found.append(subschema)
        return subschema

    _with_subschemas(schema, collect)
    return found


def _keyword_values(schema: Any, keyword: str) -> set[str]:
    """The values of ``keyword`` in ``schema`` and all its subschemas."""
    if not isinstance(schema, dict):
        return set()
    found = {schema[keyword]} if isinstance(schema.get(keyword), str) else set()
    for subschema in _subschemas(schema):
        found |= _keyword_values(subschema, keyword)
    return found


@cache
def _complete(name: str) -> jsonschema.Validator:
    import jsonschema

    return jsonschema.Draft7Validator(load_schema(name), format_checker=_format_checker())


def validate(document: Document, schema: str) -> list[InputError]:
    """Every schema violation of ``document``, each at the line of the offending key or item."""
    if not isinstance(document.data, dict):
        kind = "a list" if isinstance(document.data, list) else "a scalar"
        return [InputError(document.location(), f"a document must be a mapping of top-level keys, not {kind}",
                           "start the document with keys such as services:, teams:, sites:")]
    from fastjsonschema import JsonSchemaValueException

    try:
        _fast(schema)(document.data)
        return []
    except JsonSchemaValueException:
        pass  # collect every error, with the messages users need, the slow way
    errors: list[InputError] = []
    for error in _complete(schema).iter_errors(document.data):
        errors.extend(_describe(error, document))
    return errors


def invalid_items(document: Document, schema: str, lists: tuple[str, ...]) -> set[DocPath]:
    """The entries of the top-level ``lists`` that break ``schema``, as ``(list, index)``; the
    caller can go on with the others, so that one run reports their problems as well."""
    return {tuple(e.absolute_path)[:2] for e in _complete(schema).iter_errors(document.data)
            if len(e.absolute_path) >= 2 and e.absolute_path[0] in lists}


def problems(data: Any, schema: str, limit: int = 5) -> list[str]:
    """The first ``limit`` violations of ``schema`` by data that has no lines (a JSON file), as
    ``path: message``."""
    from fastjsonschema import JsonSchemaValueException

    try:
        _fast(schema)(data)  # a large valid report is checked in a fraction of the time
        return []
    except JsonSchemaValueException:
        pass
    errors = sorted(_complete(schema).iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    return [_cut(f"{dotted(tuple(e.absolute_path))}: {e.message}") for e in errors[:limit]]


def _cut(text: str, most: int = 300) -> str:
    # jsonschema quotes the whole offending value, which can be the whole file: keep the start,
    # which names it, and the end, which says what was wanted.
    return text if len(text) <= most else f"{text[:most // 2]} ... {text[-most // 2:]}"


def dotted(where: DocPath) -> str:
    """``("services", 3, "objectives")`` as ``services[3].objectives``."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "document"


def _describe(error: ValidationError, document: Document) -> list[InputError]:
    where = tuple(error.absolute_path)
    shown = where
    if document.index_offset and len(where) > 1 and type(where[1]) is int:  # an item of a list's fragment
        shown = (where[0], where[1] + document.index_offset, *where[2:])
    name = dotted(shown)
    value: Any = error.instance
    kind = error.validator
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    expected: Any = error.validator_value
    fmt = schema.get("format")
    if kind in ("anyOf", "oneOf") and error.context:
        # "is not valid under any of the given schemas" says nothing: say what the closest
        # alternative wanted (a severity name, a by_tier table...).
        return _describe(_closest(error.context), document)
    if kind == "pattern":
        return [InputError(document.location(where), f"{name}: {value!r} is not allowed here",
                           schema.get("description") or f"write it to match {expected}")]
    if kind == "additionalProperties":
        known = schema.get("properties", {})
        extra = sorted(k for k in value if k not in known and not str(k).startswith("x-"))
        extensions = "^x-" in schema.get("patternProperties", {})
        owner = f"{name}: " if where else ""  # a top-level key belongs to no named block
        return [InputError(document.location(where + (key,)), f"{owner}unknown key '{key}'",
                           _unknown_hint(key, known, extensions)) for key in extra]
    if kind == "required":
        missing = error.message.split("'")[1]
        return [InputError(document.location(where), f"{name}: missing required key '{missing}'")]
    if fmt == "itscm-duration" and kind in ("type", "format"):
        reason = _reason(parse_duration, value)
        return [InputError(document.location(where), f"{name}: {reason}", "" if "write" in reason else DURATION_HINT)]
    if fmt == "date" and kind in ("type", "format"):
        return [InputError(document.location(where), f"{name}: '{value}' is not a valid date", DATE_HINT)]
    if fmt == "itscm-id" and kind in ("type", "format"):
        return [InputError(document.location(where), f"{name}: {value!r} is not an identifier",
                           "identifiers are strings; quote the value")]
    if kind == "enum":
        allowed = ", ".join(str(v) for v in expected)
        return [InputError(document.location(where), f"{name}: '{value}' is not one of {allowed}")]
    if kind == "const":
        return [InputError(document.location(where), f"{name}: '{value}' is not supported; write {expected}")]
    if kind == "type":
        wanted = expected if isinstance(expected, str) else " or ".join(expected)
        wanted = _TYPE_NAMES.get(wanted) or " or ".join(_TYPE_NAMES.get(t, t) for t in wanted.split(" or "))
        return [InputError(document.location(where), f"{name}: expected {wanted}, "
                                                     f"found {_type_name(value)}")]
    if kind in ("minimum", "maximum"):
        return [InputError(document.location(where), f"{name}: {value} is out of range", _range_hint(schema))]
    return [InputError(document.location(where), f"{name}: {error.message}")]


_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "text", "integer": "a whole number",
               "boolean": "true or false", "string or number or boolean": "a scalar"}


def _closest(errors: list[ValidationError]) -> ValidationError:
    """Of the errors of a value against each alternative, the deepest among the alternatives that
    take a value of its kind: for a mapping, what is wrong inside it, not that it is no text."""
    by_branch: dict[Any, list[ValidationError]] = {}
    for error in errors:
        by_branch.setdefault(error.relative_schema_path[0], []).append(error)
    fitting = [error for branch in by_branch.values() if not any(map(_wrong_kind, branch)) for error in branch]
    return max(fitting or errors, key=lambda error: len(error.relative_path))


def _wrong_kind(error: ValidationError) -> bool:
    """The value itself is not of the alternative's kind (text where a mapping is wanted)."""
    return not error.relative_path and error.validator in ("type", "enum", "const")


def _type_name(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}" if value is not None else "nothing"


def _range_hint(schema: dict[str, Any]) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    if high is None:
        return f"use a whole number of at least {low}"
    return f"use a whole number from {low} to {high}"


def _unknown_hint(key: object, known: dict[str, Any], extensions: bool) -> str:
    import difflib  # only needed on this error path

    close = difflib.get_close_matches(str(key), list(known), n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(known)}"
    if extensions:
        hint += " Prefix extension keys with x-" if close else "; prefix extension keys with x-"
    return hint


def _reason(parse: Any, value: object) -> str:
    try:
        parse(value)
    except ValueError as exc:
        return str(exc)
    return f"'{value}' is not valid"
