"""The fast parse path: yaml_rs builds the data, a line scanner of our own finds every key and item.

yaml_rs parses in Rust, ten times faster than libyaml with PyYAML's constructor, but it reads
YAML 1.2 scalars and keeps no positions. So this path takes only files it can prove it reads
exactly as the PyYAML path does: block-style YAML without tags, anchors, aliases, merge keys,
directives, multi-line flow or quoted scalars, or block scalars with blank or more-indented
lines, and with every line either a comment, a key, a list item or a line of a block scalar. The scanner lists the keys and items in order; walking
yaml_rs's data in the same order must consume them one for one, at the same columns, with the
same key text, or the file is refused. A scalar whose reading differs between YAML 1.1 and 1.2
(``yes``, ``012``, ``1:30``, ``1e3``, dates) is read again from its text with PyYAML's resolver.

Anything refused, and any file yaml_rs rejects, returns None: the caller parses it with PyYAML,
which also gives every error its exact line.
"""

from __future__ import annotations

import functools
import math
import os
import re
import sys
from typing import Any

import yaml

from itscm_check.loader import (
    INTERN_MAX,
    MAX_DEPTH,
    NULL_TAG,
    STR_TAG,
    TIMESTAMP_TAG,
    DocPath,
    LineTree,
    ParsedDocument,
    resolve_plain,
)
from itscm_check.values import YamlTimestamp

try:
    import yaml_rs
except ImportError:  # no wheel for this platform: everything goes through PyYAML
    yaml_rs = None

# ITSCM_CHECK_PARSER=pyyaml forces the PyYAML path, to compare the two or to rule this one out.
PARSER_VARIABLE = "ITSCM_CHECK_PARSER"

# Characters that PyYAML refuses, and those that change columns or line numbers (tabs, line breaks
# other than \n) or that PyYAML reads in its own way (a byte-order mark inside): such a file takes
# the PyYAML path. Tags, anchors, aliases, complex keys and directives are left to the scanner,
# which refuses every line that starts with one.
_UNSUPPORTED = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
# yaml_rs crashes the process on block nesting 20,000 deep (10,000 was measured to be safe). Each
# level takes a column of indentation or of "- ", and yaml_rs itself refuses deep flow nesting.
_DEEP = re.compile(r"\n[ -]{5000}")
_MAX_LEAD = 5000
_DOCUMENT_START = re.compile(r"---(?: +(?:#.*)?)?")

# A line: its indentation, the "- " of list items, a key (quoted, double-quoted without escapes,
# or plain without a leading indicator and without " #", then ":" and a blank or the end of the line),
# and the rest. Groups that did not match are empty strings (re.findall). The key is written as
# runs of ordinary characters between ":" and blanks, so that no text can be matched two ways:
# the time stays linear in the length of the line.
_LINE = re.compile(r"""^( *)((?:-(?: +|$))*)(?:(?:("[^"\\\n]*"|'(?:[^'\n]|'')*')|([^\s#'"\[\]{},&*!|>%@`?:][^\s:]*(?:(?::(?! |$)| +(?=[^ \n:#]|:(?! |$)))[^\s:]*)*)) *:(?: +|$))?(.*)$""",
                   re.MULTILINE)
_DASH = re.compile(r"-")
_NOT_PLAIN = frozenset("#\"'|>[{&*!%@`?:,]}-")
_DOUBLE_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_SINGLE_QUOTED = re.compile(r"'(?:[^']|'')*'")
# A part of a flow collection: a quoted scalar, a plain one (which ends before ":" and a blank or
# an indicator, before an indicator, and before blanks that end the line or come before one of
# those or a comment), or an indicator. No lazy quantifiers: a long run of blanks costs linear time.
_FLOW_PART = re.compile(r""" *(?:("(?:[^"\\]|\\.)*"|'(?:[^']|'')*')"""
                        r"""|((?:[^ \[\]{},#'"&*!|>%@`?:-]|-(?=[^ \[\]{},]))"""
                        r"""(?:[^ \[\]{},:]|:(?![ \[\]{},]|$)| +(?=[^ \[\]{},:#]|:(?![ \[\]{},]|$)))*)"""
                        r"""|([\[\]{},:]))""")
# Surrogate escapes: yaml_rs joins a pair into one character, libyaml refuses them.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]|\\U0000[dD][89a-fA-F]")
# The text of an empty node in a flow collection (`{a: , b}`), in the list of its scalars' texts.
_EMPTY_NODE = ("", False)
_COLON_IN_FLOW = re.compile(r":[,?\[\]{}]")
_AFTER_VALUE = re.compile(r" *(?: #.*)?")
_BLOCK_HEADER = re.compile(r"[|>][+-]? *(?: #.*)?")
_MAX_KEY = 1000  # PyYAML refuses a plain key longer than 1024 characters

# What follows a key or list item on its own line.
EMPTY, PLAIN, QUOTED, BLOCK, FLOW, NESTED = range(6)


# Keys, enum values and dates repeat thousands of times.
_tag_of = functools.lru_cache(maxsize=4096)(resolve_plain)
# PyYAML picks the resolvers to try by a scalar's first character: text that starts with any
# other is text.
_MAY_RESOLVE = frozenset(yaml.resolver.Resolver.yaml_implicit_resolvers)
_intern = sys.intern


class _Refused(Exception):
    """The file has something this path does not follow; PyYAML reads it instead."""


def enabled() -> bool:
    return yaml_rs is not None and os.environ.get(PARSER_VARIABLE, "").lower() != "pyyaml"


def unavailable_reason() -> str | None:
    """Why the fast path is off although nobody asked for PyYAML, or None."""
    if yaml_rs is None and os.environ.get(PARSER_VARIABLE, "").lower() != "pyyaml":
        return "yaml_rs is not installed for this platform; reading YAML with PyYAML, which is several times slower"
    return None


def load(text: str) -> list[ParsedDocument] | None:
    """The documents of ``text`` as the PyYAML path reads them, or None when this path cannot tell."""
    if _UNSUPPORTED.search(text) or "<<" in text:  # PyYAML merges << keys
        return None
    if _DEEP.search(text) or len(text) - len(text.lstrip(" -")) >= _MAX_LEAD:
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
    try:
        tokens = _scan(text, start, first_line)
        # Any failure of the fast library (a syntax error, a duplicate key, a limit) is for
        # PyYAML to report, with its line.
        data = yaml_rs.loads(text, parse_datetime=False)
        if data is None:
            return [] if not tokens else None
        walker = _Walker(tokens)
        value, tree = walker.document(data)
    except _Refused:
        return None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - see above; a Rust panic arrives as a BaseException, and
        return None  # tokens that run out (IndexError) are a mismatch too
    return [(value, tree, tuple(walker.timestamps))]


def _scan(text: str, start: int, first_line: int) -> list[tuple[Any, ...]]:
    """Every key and list item from ``start`` on, in order:
    ``(is_key, line, column, key, key_is_plain, kind, text)``.

    ``kind`` says what follows on the line (EMPTY, PLAIN, ...); ``text`` is a plain scalar's text,
    a block scalar's value or a flow collection's scalars.
    """
    tokens: list[tuple[Any, ...]] = []
    append = tokens.append
    block = -1  # while in a block scalar: the column its lines must be right of
    block_indent = 0  # the indentation of its first line
    block_token = block_line = 0  # the token and line of its header
    lines: list[str] = []  # the text's lines, split when a block scalar needs them
    for line_number, (indent, dashes, quoted, plain, value) in enumerate(_LINE.findall(text, start), first_line):
        column = len(indent)
        if block >= 0:
            if not (dashes or quoted or plain or value):
                continue  # a blank line
            if column > block:
                if block_indent == 0:
                    block_indent = column
                elif column < block_indent:
                    raise _Refused  # PyYAML would end the scalar there and fail
                continue
            block = -1
            lines = lines or text.split("\n")
            tokens[block_token] = _with_block_value(tokens[block_token], lines[block_line:line_number - 1])
        if dashes:
            if dashes.count("-") > 1:
                for dash in _DASH.finditer(dashes):
                    append((False, line_number, column + dash.start(), None, False, NESTED, None))
                tokens.pop()
            dash_column = column + dashes.rindex("-")
            column += len(dashes)
            if quoted or plain:
                append((False, line_number, dash_column, None, False, NESTED, None))
            else:
                kind, scalar = _classify(value)
                append((False, line_number, dash_column, None, False, kind, scalar))
                if kind == BLOCK:
                    block, block_indent, block_token, block_line = dash_column, 0, len(tokens) - 1, line_number
                continue
        if plain:
            if plain == "<<":  # a merge key
                raise _Refused
            key, key_is_plain = plain, True
        elif quoted:
            key, key_is_plain = (quoted[1:-1] if quoted[0] == '"' else quoted[1:-1].replace("''", "'")), False
        elif not value or value[0] == "#":
            continue  # a blank or comment line
        else:
            raise _Refused  # a line of a multi-line scalar or flow collection
        if len(key) > _MAX_KEY:
            raise _Refused
        if value and value[0] not in _NOT_PLAIN and " #" not in value and ": " not in value and value[-1] != ":":
            kind, scalar = PLAIN, value.rstrip(" ")  # most values: skip _classify
        else:
            kind, scalar = _classify(value)
        append((True, line_number, column, key, key_is_plain, kind, scalar))
        if kind == BLOCK:
            block, block_indent, block_token, block_line = column, 0, len(tokens) - 1, line_number
    if block >= 0:
        if not text.endswith("\n"):
            raise _Refused  # libyaml keeps no line break at the end of a text without one
        tokens[block_token] = _with_block_value(tokens[block_token], (lines or text.split("\n"))[block_line:])
    return tokens


def _with_block_value(token: tuple[Any, ...], content: list[str]) -> tuple[Any, ...]:
    """``token`` with the value of its block scalar, from the scalar's lines, for the walker to
    check yaml_rs's against. Only the plain cases are taken: libyaml and yaml_rs part ways on
    empty ones, and the spec's rules for blank and more-indented lines are subtle."""
    header = token[6]
    style, chomp = header[0], header[1:2]
    blank = 0
    while content and not content[-1].strip(" "):
        blank = max(blank, len(content.pop()))  # trailing blank lines: clipping and stripping drop them
    if not content or chomp == "+" or any(not line.strip(" ") for line in content):
        raise _Refused
    indent = len(content[0]) - len(content[0].lstrip(" "))
    if blank > indent:
        raise _Refused  # spaces beyond the indentation are content
    if style == ">" and any(line[indent] == " " for line in content):
        raise _Refused  # a more-indented line is not folded
    value = ("\n" if style == "|" else " ").join(line[indent:] for line in content)
    return (*token[:6], value if chomp == "-" else value + "\n")


def _classify(value: str) -> tuple[int, str | None]:
    """What a key's or item's value on its own line is, and a plain scalar's text."""
    if not value or value[0] == "#":
        return EMPTY, None
    first = value[0]
    if first == '"' or first == "'":
        match = (_DOUBLE_QUOTED if first == '"' else _SINGLE_QUOTED).match(value)
        if match is None or not _AFTER_VALUE.fullmatch(value, match.end()):
            raise _Refused  # a quoted scalar going on over the next lines
        return QUOTED, match.group()
    if first == "|" or first == ">":
        if not _BLOCK_HEADER.fullmatch(value):
            raise _Refused  # an indentation indicator
        return BLOCK, value  # its value is set when its last line is known
    if first == "[" or first == "{":
        if _COLON_IN_FLOW.search(value):
            raise _Refused  # libyaml refuses `x:,` and the like in a flow collection, yaml_rs does not
        return FLOW, _flow_scalars(value)
    if first in "&*!%@`?:,]}" or (first == "-" and (len(value) == 1 or value[1] == " ")):
        raise _Refused  # a tag, anchor, alias or indicator
    comment = value.find(" #")
    text = (value if comment < 0 else value[:comment]).rstrip(" ")
    if ": " in text or text.endswith(":"):
        raise _Refused
    return PLAIN, text


def _flow_scalars(value: str) -> list[tuple[str, bool]]:
    """The scalars of a flow collection, in order, each with whether it is quoted, and _EMPTY_NODE
    for each empty key or value (`{a: , b}`). Refuses what libyaml rejects or this path does not
    follow: a collection or an empty node as a key, a missing or doubled entry, and a collection
    that does not close on its line, whose items would have other lines."""
    scalars: list[tuple[str, bool]] = []
    brackets: list[str] = []
    previous = ""  # the indicator before, or "s" after a scalar
    key_waits = False  # in a mapping, a key was read that has no ":" yet
    position = 0
    while True:
        match = _FLOW_PART.match(value, position)
        if match is None:
            raise _Refused
        quoted, plain, indicator = match.groups()
        position = match.end()
        if indicator is None:
            if previous not in _BEFORE_NODE:
                raise _Refused
            scalars.append((quoted, True) if plain is None else (plain, False))
            key_waits = brackets[-1] == "{" and previous in ("{", ",")
            previous = "s"
            continue
        if indicator == ":":
            if previous != "s":
                raise _Refused  # an empty key, or a collection as a key
            key_waits = False
        elif indicator in "[{":
            if previous not in _BEFORE_NODE or (brackets and brackets[-1] == "{" and previous in ("{", ",")):
                raise _Refused  # a collection as a key
            brackets.append(indicator)
        else:
            if previous not in _BEFORE_END and not (indicator != "," and previous == brackets[-1]):
                raise _Refused  # `[a, , b]`, `[a,]`
            if previous == ":" or key_waits:
                scalars.append(_EMPTY_NODE)
            key_waits = False
            if indicator != ",":
                if brackets.pop() != ("[" if indicator == "]" else "{"):
                    raise _Refused
                if not brackets:
                    if not _AFTER_VALUE.fullmatch(value, position):
                        raise _Refused
                    return scalars
        previous = indicator


# What may come before a node in a flow collection, and before "," or a closing bracket.
_BEFORE_NODE = frozenset(("", "[", "{", ",", ":"))
_BEFORE_END = frozenset(("s", "]", "}", ":"))


def _quoted(value: Any, text: str) -> str:
    """yaml_rs's reading of the quoted scalar ``text``, checked against it where that is simple."""
    body = text[1:-1]
    if type(value) is not str:
        raise _Refused
    if text[0] == "'":
        if value != body.replace("''", "'"):
            raise _Refused
    elif "\\" not in body:
        if value != body:
            raise _Refused
    elif _SURROGATE_ESCAPE.search(body):
        raise _Refused
    return sys.intern(value) if len(value) <= INTERN_MAX else value


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


class _Walker:
    """Walks yaml_rs's data and the scanner's tokens together, building the PyYAML path's data
    and LineTree."""

    def __init__(self, tokens: list[tuple[Any, ...]]) -> None:
        self.tokens = tokens
        self.next = 0
        self.timestamps: list[DocPath] = []
        self.constructor = yaml.constructor.SafeConstructor()
        self.constructed: dict[str, Any] = {}
        self.scalars: list[tuple[str, bool]] = []
        self.next_scalar = 0

    def document(self, data: Any) -> tuple[Any, LineTree]:
        if not self.tokens or type(data) not in (dict, list):
            raise _Refused  # a document that is one scalar
        value, tree = self.block(data, self.tokens[0][2], (), 0)
        if self.next != len(self.tokens):
            raise _Refused
        return value, tree

    def peek(self) -> tuple[Any, ...]:
        if self.next >= len(self.tokens):
            raise _Refused
        return self.tokens[self.next]

    def block(self, data: Any, column: int, where: DocPath, depth: int) -> tuple[Any, LineTree]:
        """A block mapping or list whose first token is the next one, at ``column``."""
        if depth > MAX_DEPTH or not data:  # an empty one is written in flow style, `{}` or `[]`
            raise _Refused
        if type(data) is dict:
            return self.mapping(data, column, where, depth)
        if type(data) is list:
            return self.sequence(data, column, where, depth)
        raise _Refused

    def nested(self, data: Any, right_of: int, where: DocPath, depth: int, same_column: bool) -> tuple[Any, LineTree]:
        """The block mapping or list under a key or item at column ``right_of``: right of it, or
        (a list under a key) at the same column."""
        token = self.peek()
        column = token[2]
        if column < right_of or (column == right_of and not (same_column and not token[0] and type(data) is list)):
            raise _Refused
        return self.block(data, column, where, depth)

    def mapping(self, data: dict, column: int, where: DocPath, depth: int) -> tuple[dict, LineTree]:
        # The hottest loop of the fast path: plain text values are taken here, the rest in value().
        tokens, index = self.tokens, self.next
        first_line = tokens[index][1]
        result: dict[str, Any] = {}
        key_lines: list[Any] = []
        children: list[Any] = []
        all_text = True
        for key, value in data.items():
            is_key, line, token_column, text, key_is_plain, kind, plain = tokens[index]
            if not is_key or token_column != column:
                raise _Refused
            index += 1
            if key != text:
                if type(key) is str or not key_is_plain or not _reads_as(key, text):
                    raise _Refused
                all_text = False  # a plain key is the text written, whatever it resolves to, on both paths
            name = _intern(text)
            key_lines += (name, line)
            if kind == PLAIN and value == plain and type(value) is str and (
                    plain[0] not in _MAY_RESOLVE or _tag_of(plain) == STR_TAG):
                result[name] = _intern(plain) if len(plain) <= INTERN_MAX else plain
                continue
            self.next = index
            item, tree = self.value(value, kind, plain, line, column, where, name, depth, True)
            index = self.next
            if tree is not None:
                children += (name, tree)
            if item is not None:
                result[name] = item
        self.next = index
        if not all_text and len(set(key_lines[::2])) != len(key_lines) // 2:
            raise _Refused  # `1:` and `'1':` are one key to the PyYAML path, which reports them
        return result, (first_line, False, tuple(key_lines), tuple(children) or None)

    def sequence(self, data: list, column: int, where: DocPath, depth: int) -> tuple[list, LineTree]:
        tokens = self.tokens
        items: list[Any] = []
        item_lines: list[int] = []
        trees: list[Any] = []
        has_trees = False
        first_line = tokens[self.next][1]
        for index, value in enumerate(data):
            is_key, line, token_column, _, _, kind, plain = tokens[self.next]
            if is_key or token_column != column:
                raise _Refused
            self.next += 1
            if kind == NESTED:  # a key or another "-" follows on the same line
                item, tree = self.nested(value, column, where + (index,), depth + 1, False)
            else:
                item, tree = self.value(value, kind, plain, line, column, where, index, depth, False)
            items.append(item)
            item_lines.append(tree[0] if tree is not None and kind != FLOW else line)
            trees.append(tree)
            has_trees = has_trees or tree is not None
        return items, (first_line, True, tuple(item_lines), tuple(trees) if has_trees else None)

    def value(self, value: Any, kind: int, plain: str | None, line: int, column: int, where: DocPath,
              step: Any, depth: int, under_key: bool) -> tuple[Any, LineTree | None]:
        """The value of a key or item at ``column`` on ``line``, of the given kind, and its LineTree."""
        if kind == EMPTY:
            if value is None:
                return None, None
            return self.nested(value, column, where + (step,), depth + 1, under_key)
        if kind == FLOW:
            return self.flow(value, line, plain, where + (step,), depth + 1)  # type: ignore[arg-type]
        if type(value) is dict or type(value) is list:
            raise _Refused
        if kind == PLAIN:
            return self.plain(value, plain, where, step), None  # type: ignore[arg-type]
        if kind == QUOTED:
            return _quoted(value, plain), None  # type: ignore[arg-type]
        if value != plain:  # a block scalar
            raise _Refused
        return (sys.intern(value) if len(value) <= INTERN_MAX else value), None

    def plain(self, value: Any, text: str, where: DocPath, step: Any) -> Any:
        """A plain scalar as PyYAML reads its text (YAML 1.1), checked against yaml_rs's reading."""
        # yaml_rs's reading must fit the text: a check that the walker gave the value its own text.
        if value != text if type(value) is str else not _reads_as(value, text):
            raise _Refused
        tag = _tag_of(text)
        if tag == STR_TAG:  # yaml_rs may have read it as a YAML 1.2 number (`0o12`, `1e3`)
            return sys.intern(text) if len(text) <= INTERN_MAX else text
        if tag == TIMESTAMP_TAG:
            self.timestamps.append(where + (step,))
            return YamlTimestamp(text)
        if tag == NULL_TAG:
            return None
        constructed = self.constructed.get(text)
        if constructed is None:
            constructed = self.constructor.construct_object(yaml.ScalarNode(tag, text))
            self.constructed[text] = constructed
        return constructed

    def flow(self, data: Any, line: int, scalars: list[tuple[str, bool]], where: DocPath, depth: int
             ) -> tuple[Any, LineTree]:
        """A flow collection on one line, whose every key and item has that line. ``scalars`` are
        its scalars' texts in order, which its keys and values use up one by one."""
        self.scalars, self.next_scalar = scalars, 0
        value, tree = self.flow_collection(data, line, where, depth)
        if self.next_scalar != len(scalars):
            raise _Refused
        return value, tree

    def flow_collection(self, data: Any, line: int, where: DocPath, depth: int) -> tuple[Any, LineTree]:
        if depth > MAX_DEPTH:
            raise _Refused
        if type(data) is dict:
            result: dict[str, Any] = {}
            key_lines: list[Any] = []
            children: list[Any] = []
            names: set[str] = set()
            for key, value in data.items():
                text, quoted = self.scalar_text()
                if len(text) > _MAX_KEY or (text, quoted) == _EMPTY_NODE or (text == "<<" and not quoted):
                    raise _Refused  # PyYAML's limit, an empty key, a merge key
                if quoted:
                    text = _quoted(key, text)
                elif key != text if type(key) is str else not _reads_as(key, text):
                    raise _Refused
                name = sys.intern(text) if len(text) <= INTERN_MAX else text
                if name in names:
                    raise _Refused  # `1` and `'1'`: one key to the PyYAML path, which reports it
                names.add(name)
                key_lines += (name, line)
                item, tree = self.flow_item(value, line, where, name, depth)
                if tree is not None:
                    children += (name, tree)
                if item is not None:
                    result[name] = item
            return result, (line, False, tuple(key_lines), tuple(children) or None)
        if type(data) is list:
            items, trees = [], []
            for index, value in enumerate(data):
                item, tree = self.flow_item(value, line, where, index, depth)
                items.append(item)
                trees.append(tree)
            has_trees = any(tree is not None for tree in trees)
            return items, (line, True, (line,) * len(items), tuple(trees) if has_trees else None)
        raise _Refused

    def scalar_text(self) -> tuple[str, bool]:
        if self.next_scalar >= len(self.scalars):
            raise _Refused
        self.next_scalar += 1
        return self.scalars[self.next_scalar - 1]

    def flow_item(self, value: Any, line: int, where: DocPath, step: Any, depth: int) -> tuple[Any, LineTree | None]:
        if type(value) is dict or type(value) is list:
            return self.flow_collection(value, line, where + (step,), depth + 1)
        text, quoted = self.scalar_text()
        if quoted:
            return _quoted(value, text), None
        if (text, quoted) == _EMPTY_NODE:
            if value is not None:
                raise _Refused
            return None, None
        return self.plain(value, text, where, step), None
