"""The fast parse path: the line scanner (yaml_lines) finds every key and list item of a text,
and its tokens are read into what the PyYAML path (loader) gives, by one of two readers.

The builder (yaml_build) makes the data from the tokens alone, which takes most files. A file it
leaves (a double-quoted scalar with an escape, for one) is parsed by yaml_rs, in Rust, and the
walker here walks yaml_rs's data and the tokens together. yaml_rs reads YAML 1.2 scalars and
keeps no positions, so the walker takes only a text it can prove to read exactly as the PyYAML
path does: walking yaml_rs's data in order must use up the scanner's tokens one for one, at the
same columns, with the same key text; every scalar yaml_rs read is checked against its text; and a
scalar that YAML 1.1 and 1.2 read differently (``yes``, ``012``, ``1:30``, ``1e3``, dates) is
read again from its text with PyYAML's resolver.

Anything refused, and any text yaml_rs rejects, gives None: the caller parses it with PyYAML,
which also gives every error its line.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

from itscm_check.loader import MAX_DEPTH, DocPath, LineTree, ParsedDocument, shared
from itscm_check.yaml_build import TokenReader, build, item_line, list_tree, mapping_tree
from itscm_check.yaml_lines import (
    BLOCK,
    EMPTY,
    EMPTY_NODE,
    FLOW,
    NESTED,
    PLAIN,
    QUOTED,
    FlowMapping,
    FlowNode,
    Refused,
    Token,
    scan,
)

try:
    import yaml_rs
except ImportError:  # no wheel for this platform: what the builder leaves goes to PyYAML
    yaml_rs = None  # type: ignore[assignment]

# ITSCM_CHECK_PARSER=pyyaml sends every file to PyYAML, to compare the paths or rule this one out.
PARSER_VARIABLE = "ITSCM_CHECK_PARSER"
PARSERS = ("fast", "pyyaml")

# Characters that PyYAML refuses, and those that change columns or line numbers (tabs, line breaks
# other than \n and \r\n) or that PyYAML reads in its own way (a byte-order mark inside).
_UNSUPPORTED = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
# The ASCII characters _UNSUPPORTED lets through: deleting them from an ASCII text (bytes.translate)
# leaves the others, eight times faster than the search (0.04 s of a 10k inventory's 14 MB).
_ASCII_SUPPORTED = bytes([10, *range(0x20, 0x7F)])
# yaml_rs crashes the process on block nesting 20,000 deep (10,000 was measured to be safe). Each
# level takes a column of indentation or of "- ", and yaml_rs itself refuses deep flow nesting.
_DEEP = re.compile(r"[ -]{5000}")
_DEEP_INSIDE = re.compile(r"\n[ -]{5000}")
_DOCUMENT_START = re.compile(r"---(?: +(?:#.*)?)?")
# Surrogate escapes: yaml_rs joins a pair into one character, libyaml refuses them.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]|\\U0000[dD][89a-fA-F]")


def _asked_for() -> str:
    return os.environ.get(PARSER_VARIABLE, "").strip().lower() or "fast"


def parser_choice() -> str:
    """The parser ITSCM_CHECK_PARSER asks for ("fast" when unset); ValueError for anything else."""
    choice = _asked_for()
    if choice not in PARSERS:
        raise ValueError(f"{PARSER_VARIABLE} is {choice!r}; use one of: {', '.join(PARSERS)}, or leave it unset")
    return choice


def enabled() -> bool:
    # Not parser_choice(): an unknown value is reported once by the CLI, not raised in every worker.
    # The builder needs no yaml_rs: without it, what the builder leaves goes to PyYAML.
    return _asked_for() != "pyyaml"


def unavailable_reason() -> str | None:
    """Why the fast path reads less than it could although nobody asked for PyYAML, or None."""
    if yaml_rs is None and parser_choice() == "fast":
        return ("yaml_rs is not available on this platform; YAML files that itscm-check's line scanner cannot build "
                "alone (with an escape in a double-quoted scalar, for one) are read with PyYAML, which is several "
                "times slower")
    return None


def load(text: str) -> list[ParsedDocument] | None:
    """The documents of ``text`` as the PyYAML path reads them, or None when this path cannot tell."""
    if "\r\n" in text:  # PyYAML reads a CRLF line end as one line break: the text reads as its LF twin
        text = text.replace("\r\n", "\n")
    if _unsupported(text) or "<<" in text:  # PyYAML merges << keys
        return None
    if _DEEP.match(text) or _DEEP_INSIDE.search(text):
        return None
    start, first_line = 0, 1
    if text.startswith("---"):
        end = text.find("\n")
        end = len(text) if end < 0 else end
        if not _DOCUMENT_START.fullmatch(text, 0, end):
            return None  # a node on the "---" line
        start, first_line = end + 1, 2
    if "\n---" in text:  # perhaps a second document, which yaml_rs would return in a list
        return None
    if text.startswith("...") or "\n..." in text:  # perhaps "...", which ends a document: "... : 1" is no key
        return None
    try:
        tokens = scan(text, start, first_line)
    except Refused:
        return None
    if not tokens:
        return []  # blank lines and comments: no document, on the PyYAML path too
    try:
        return [build(tokens)]
    except Refused:
        if yaml_rs is None:
            return None
        # yaml_rs and the walker may still take it: they read escapes, for one
    try:
        data = yaml_rs.loads(text, parse_datetime=False)
    except (yaml_rs.YAMLDecodeError, ValueError, RecursionError):
        return None  # a syntax error, a duplicate key, a limit: PyYAML reports it, with its line
    except BaseException as exc:
        if type(exc).__name__ == "PanicException":  # a Rust panic inside yaml_rs
            return None
        raise
    walker = _Walker(tokens)
    try:
        value, tree = walker.document(data)
    except Refused:
        return None
    return [(value, tree, tuple(walker.timestamps))]


def _unsupported(text: str) -> bool:
    """Whether ``text`` has a character this path leaves to PyYAML (_UNSUPPORTED)."""
    if text.isascii():
        return bool(text.encode("ascii").translate(None, _ASCII_SUPPORTED))
    return _UNSUPPORTED.search(text) is not None


def _quoted(value: Any, text: str) -> str:
    """yaml_rs's reading of the quoted scalar ``text``, checked against it where that is simple."""
    body = text[1:-1]
    if type(value) is not str:
        raise Refused
    if text[0] == "'":
        if value != body.replace("''", "'"):
            raise Refused
    elif "\\" not in body:
        if value != body:
            raise Refused
    elif _SURROGATE_ESCAPE.search(body):
        raise Refused
    return shared(value)


def _reads_as(value: Any, text: str) -> bool:
    """Whether yaml_rs's number, boolean or null ``value`` is what the plain ``text`` says."""
    if value is None:
        return text in ("~", "null", "Null", "NULL")
    if type(value) is bool:
        return text in (("true", "True", "TRUE") if value else ("false", "False", "FALSE"))
    digits = text.replace("_", "")
    bare = digits.lstrip("+-").lower()
    sign = -1 if digits[:1] == "-" else 1
    try:
        if type(value) is int:
            return value == sign * int(bare, 0 if bare[:2] in ("0x", "0o", "0b") else 10)
        if type(value) is float:
            if bare == ".nan":
                return math.isnan(value)
            return value == (sign * math.inf if bare == ".inf" else float(digits))
    except ValueError:
        return False
    return False


class _Walker(TokenReader):
    """Walks yaml_rs's data and the scanner's tokens together, building the PyYAML path's data
    and LineTree. It reads only what the builder leaves, a few files of an inventory at most, so
    it is written for clarity rather than speed."""

    def document(self, data: Any) -> tuple[Any, LineTree]:
        if type(data) not in (dict, list):
            raise Refused  # a document that is one scalar, or none
        value, tree = self.block(data, self.tokens[0][2], (), 0)
        if self.cursor != len(self.tokens):
            raise Refused
        return value, tree

    def peek(self) -> Token:
        if self.cursor >= len(self.tokens):
            raise Refused
        return self.tokens[self.cursor]

    def block(self, data: Any, column: int, where: DocPath, depth: int) -> tuple[Any, LineTree]:
        """A block mapping or list whose first token is the next one, at ``column``."""
        if depth > MAX_DEPTH or not data:  # an empty one is written in flow style, `{}` or `[]`
            raise Refused
        if type(data) is dict:
            return self.mapping(data, column, where, depth)
        if type(data) is list:
            return self.sequence(data, column, where, depth)
        raise Refused

    def nested(self, data: Any, right_of: int, where: DocPath, depth: int, same_column: bool) -> tuple[Any, LineTree]:
        """The block mapping or list under a key or item at column ``right_of``: right of it, or
        (a list under a key) at the same column."""
        token = self.peek()
        column = token[2]
        if column < right_of or (column == right_of and not (same_column and not token[0] and type(data) is list)):
            raise Refused
        return self.block(data, column, where, depth)

    def mapping(self, data: dict, column: int, where: DocPath, depth: int) -> tuple[dict, LineTree]:
        first_line = self.peek()[1]
        result: dict[str, Any] = {}
        key_lines: list[Any] = []
        children: list[Any] = []
        all_text = True
        for key, value in data.items():
            is_key, line, token_column, text, key_is_plain, kind, payload = self.peek()
            if not is_key or token_column != column:
                raise Refused
            self.cursor += 1
            if key != text:
                if type(key) is str or not key_is_plain or not _reads_as(key, text):
                    raise Refused
                all_text = False  # a plain key is the text written, whatever it resolves to, on both paths
            name = shared(text)
            key_lines += (name, line)
            item, tree = self.value(value, kind, payload, line, column, where, name, depth, True)
            if tree is not None:
                children += (name, tree)
            if item is not None:
                result[name] = item
        if not all_text and len(set(key_lines[::2])) != len(key_lines) // 2:
            raise Refused  # `1:` and `'1':` are one key to the PyYAML path, which reports them
        return result, mapping_tree(first_line, key_lines, children)

    def sequence(self, data: list, column: int, where: DocPath, depth: int) -> tuple[list, LineTree]:
        items: list[Any] = []
        item_lines: list[int] = []
        trees: list[Any] = []
        first_line = self.peek()[1]
        for index, value in enumerate(data):
            is_key, line, token_column, _, _, kind, payload = self.peek()
            if is_key or token_column != column:
                raise Refused
            self.cursor += 1
            tree: LineTree | None
            if kind == NESTED:  # a key or another "-" follows on the same line
                item, tree = self.nested(value, column, where + (index,), depth + 1, False)
            else:
                item, tree = self.value(value, kind, payload, line, column, where, index, depth, False)
            items.append(item)
            item_lines.append(item_line(kind, line, tree))
            trees.append(tree)
        return items, list_tree(first_line, item_lines, trees)

    def value(self, value: Any, kind: int, payload: Any, line: int, column: int, where: DocPath,
              step: Any, depth: int, under_key: bool) -> tuple[Any, LineTree | None]:
        """The value of a key or item at ``column`` on ``line``, of the given kind, and its LineTree."""
        if kind == EMPTY:
            if value is None:
                return None, None
            return self.nested(value, column, where + (step,), depth + 1, under_key)
        if kind == FLOW:
            return self.flow(value, line, payload, where + (step,), depth + 1)
        if type(value) is dict or type(value) is list:
            raise Refused
        if kind == PLAIN:
            return self.plain(value, payload, where, step), None
        if kind == QUOTED:
            return _quoted(value, payload), None
        if kind != BLOCK or value != payload:
            raise Refused
        return shared(value), None

    def plain(self, value: Any, text: str, where: DocPath, step: Any) -> Any:
        """A plain scalar as PyYAML reads its text (YAML 1.1), checked against yaml_rs's reading."""
        # yaml_rs's reading must fit the text: a check that the walker gave the value its own text.
        if value != text if type(value) is str else not _reads_as(value, text):
            raise Refused
        return self.scalar(text, where, step)  # yaml_rs may have read `0o12` or `1e3` as a YAML 1.2 number

    def flow(self, data: Any, line: int, node: FlowNode, where: DocPath, depth: int) -> tuple[Any, LineTree]:
        """A flow collection on one line, whose every key and item has that line: yaml_rs's
        ``data`` and the scanner's ``node`` (see yaml_lines), which must have the same shape."""
        if depth > MAX_DEPTH:
            raise Refused
        if type(node) is FlowMapping:
            if type(data) is not dict or len(data) != len(node):
                raise Refused
            result: dict[str, Any] = {}
            key_lines: list[Any] = []
            children: list[Any] = []
            names: set[str] = set()
            for (key, value), ((text, quoted), value_node) in zip(data.items(), node):
                if quoted:
                    text = _quoted(key, text)
                elif key != text if type(key) is str else not _reads_as(key, text):
                    raise Refused
                name = shared(text)
                if name in names:
                    raise Refused  # `1` and `'1'`: one key to the PyYAML path, which reports it
                names.add(name)
                key_lines += (name, line)
                item, tree = self.flow_item(value, line, value_node, where, name, depth)
                if tree is not None:
                    children += (name, tree)
                if item is not None:
                    result[name] = item
            return result, mapping_tree(line, key_lines, children)
        if type(data) is not list or len(data) != len(node):
            raise Refused
        items, trees = [], []
        for index, (value, item_node) in enumerate(zip(data, node)):
            item, tree = self.flow_item(value, line, item_node, where, index, depth)
            items.append(item)
            trees.append(tree)
        return items, list_tree(line, [line] * len(items), trees)

    def flow_item(self, value: Any, line: int, node: FlowNode, where: DocPath, step: Any, depth: int
                  ) -> tuple[Any, LineTree | None]:
        if type(node) is not tuple:  # a collection
            return self.flow(value, line, node, where + (step,), depth + 1)
        if type(value) is dict or type(value) is list:
            raise Refused
        if node == EMPTY_NODE:
            if value is not None:
                raise Refused
            return None, None
        text, quoted = node
        if quoted:
            return _quoted(value, text), None
        return self.plain(value, text, where, step), None
