"""The line scanner of the fast parse path (fast_yaml): every key and list item of a block-style
YAML text, in order, with its line and column and what follows it on its line.

It reads only lines of a few plain shapes: a comment, a key, a list item, or a line of a block
scalar. Anything else (a scalar or flow collection going on over several lines, a tag, an anchor,
an alias, a `?` key, a directive) raises Refused, and the file goes to PyYAML.
"""

from __future__ import annotations

import re
import sys
from typing import Any

# A key or list item: (is_key, line, column, key, key_is_plain, kind, payload), with key "" for an
# item. ``kind`` says what follows on the line; ``payload`` is a plain scalar's text, a quoted
# scalar as written, a block scalar's value or a flow collection as a FlowNode (see _flow).
Token = tuple[bool, int, int, str, bool, int, Any]

# What follows a key or list item on its line: nothing (a null, or a block collection on the next
# lines), a plain, quoted or block scalar, a flow collection, or (after "-") a key or another "-".
EMPTY, PLAIN, QUOTED, BLOCK, FLOW, NESTED = range(6)

# The text of an empty node in a flow collection (`{a: , b}`) among its scalars' texts: no plain
# scalar is empty, and a quoted one has its quotes.
EMPTY_NODE = ("", False)

# A key whose ":" comes more than this many characters after its first one (its quotes and the
# blanks before ":" count) is left to PyYAML: libyaml refuses one whose ":" is over 1024 characters on.
MAX_KEY = 1000


class Refused(Exception):
    """The text has something the fast path does not follow; PyYAML reads it instead."""


# One line: its indentation, the "- " of list items, a key and its ":", and the rest. Groups that
# did not match are empty strings (re.findall). A plain key is written as runs of ordinary
# characters between ":" and blanks, so that no text can be matched two ways and the time stays
# linear in the length of the line. For the same reason no repetition ever has to give back what
# it took, so the repetitions are possessive ("*+", "++"): the engine then keeps no state to go
# back to, which makes it a quarter faster on an inventory's lines. Python 3.10 has no possessive
# repetitions; there the pattern matches the same without them.
_LINE_PATTERN = r"""
    ^(\ *+)                                 # indentation
    ((?:-(?:\ ++|$))*+)                     # "- " of list items, several on one line
    (?:
        (?:
            ("[^"\\\n]*+"|'(?:[^'\n]|'')*+')  # a quoted key (double-quoted without escapes)
          | ([^\s#'"\[\]{},&*!|>%@`?:]      # a plain key: no indicator first,
             [^\s:]*+                       #   then ordinary characters,
             (?:(?::(?!\ |$)                #   a ":" not before a blank,
                |\ ++(?=[^\ \n:#]|:(?!\ |$)) #   or blanks not before ": ", a comment or the end
                )[^\s:]*+)*+)
        )(\ *+):(?:\ ++|$)                   # blanks before the ":"
    )?
    (.*+)$                                  # the rest: a value, or a comment
"""


def line_pattern(possessive: bool) -> re.Pattern[str]:
    """_LINE, with possessive repetitions or without."""
    pattern = _LINE_PATTERN if possessive else _LINE_PATTERN.replace("*+", "*").replace("++", "+")
    return re.compile(pattern, re.MULTILINE | re.VERBOSE)


_LINE = line_pattern(sys.version_info >= (3, 11))
_FIRST_OF_PLAIN_VALUE = frozenset("#\"'|>[{&*!%@`?:,]}-")  # a value starting otherwise is plain
_DOUBLE_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_SINGLE_QUOTED = re.compile(r"'(?:[^']|'')*'")
_AFTER_VALUE = re.compile(r" *(?: #.*)?")
_BLOCK_HEADER = re.compile(r"[|>][+-]? *(?: #.*)?")
# Inside a flow collection: a quoted scalar, a plain one, or an indicator. A plain scalar ends
# before ":" and a blank or an indicator, before an indicator, and before blanks that end the text
# or come before one of those or a comment; written without lazy quantifiers, it takes linear time.
_FLOW_PART = re.compile(r"""
    \ *(?:
        ("(?:[^"\\]|\\.)*"|'(?:[^']|'')*')                  # quoted
      | ((?:[^\ \[\]{},#'"&*!|>%@`?:-]|-(?=[^\ \[\]{},]))   # plain: no indicator first,
         (?:[^\ \[\]{},:]                                   #   then ordinary characters,
           |:(?![\ \[\]{},]|$)                              #   a ":" not before a blank or an indicator,
           |\ +(?=[^\ \[\]{},:#]|:(?![\ \[\]{},]|$)))*)     #   blanks not before an end
      | ([\[\]{},:])                                        # indicator
    )""", re.VERBOSE)
# libyaml refuses `x:,` and the like in a flow collection; yaml_rs does not.
_COLON_IN_FLOW = re.compile(r":[,?\[\]{}]")


def scan(text: str, start: int, first_line: int) -> list[Token]:
    """Every key and list item of ``text`` from ``start`` (the start of line ``first_line``) on."""
    tokens: list[Token] = []
    append = tokens.append
    block = -1  # while in a block scalar: the column its lines must be right of
    block_indent = 0  # the indentation of its first line
    block_token = block_line = 0  # the token and line of its header
    lines: list[str] = []  # the text's lines, split when a block scalar needs them
    for line_number, (indent, dashes, quoted, plain, blanks, value) in enumerate(_LINE.findall(text, start), first_line):
        column = len(indent)
        if block >= 0:
            if not (dashes or quoted or plain or value):
                continue  # a blank line
            if column > block:
                if block_indent == 0:
                    block_indent = column
                elif column < block_indent:
                    raise Refused  # PyYAML would end the scalar there and fail
                continue
            block = -1
            lines = lines or text.split("\n")
            tokens[block_token] = _with_block_value(tokens[block_token], lines[block_line:line_number - 1])
        if dashes:
            for offset, char in enumerate(dashes[:dashes.rindex("-")]):
                if char == "-":  # `- - x`: each "-" but the last opens a list inside an item
                    append((False, line_number, column + offset, "", False, NESTED, None))
            dash_column = column + dashes.rindex("-")
            column += len(dashes)
            if quoted or plain:
                append((False, line_number, dash_column, "", False, NESTED, None))
            else:
                kind, payload = _classify(value)
                append((False, line_number, dash_column, "", False, kind, payload))
                if kind == BLOCK:
                    block, block_indent, block_token, block_line = dash_column, 0, len(tokens) - 1, line_number
                continue
        if plain:
            if plain == "<<":  # a merge key
                raise Refused
            key, key_is_plain = plain, True
        elif quoted:
            key, key_is_plain = (quoted[1:-1] if quoted[0] == '"' else quoted[1:-1].replace("''", "'")), False
        elif not value or value[0] == "#":
            continue  # a blank or comment line
        else:
            raise Refused  # a line of a multi-line scalar or flow collection
        if len(plain or quoted) + len(blanks) > MAX_KEY:
            raise Refused
        if value and value[0] not in _FIRST_OF_PLAIN_VALUE and " #" not in value and ": " not in value \
                and value[-1] != ":":
            kind, payload = PLAIN, value.rstrip(" ")  # most values: skip _classify
        else:
            kind, payload = _classify(value)
        append((True, line_number, column, key, key_is_plain, kind, payload))
        if kind == BLOCK:
            block, block_indent, block_token, block_line = column, 0, len(tokens) - 1, line_number
    if block >= 0:
        if not text.endswith("\n"):
            raise Refused  # libyaml keeps no line break at the end of a text without one
        tokens[block_token] = _with_block_value(tokens[block_token], (lines or text.split("\n"))[block_line:])
    return tokens


def _with_block_value(token: Token, content: list[str]) -> Token:
    """``token`` with the value of its block scalar, from the scalar's lines: the value itself for
    the builder (yaml_build), and what yaml_rs's must be for the walker (fast_yaml). Only the plain
    cases are taken: libyaml and yaml_rs part ways on empty ones, and the spec's rules for blank
    and more-indented lines are subtle."""
    header = token[6]
    style, chomp = header[0], header[1:2]
    blank = 0
    while content and not content[-1].strip(" "):
        blank = max(blank, len(content.pop()))  # trailing blank lines: clipping and stripping drop them
    if not content or chomp == "+" or any(not line.strip(" ") for line in content):
        raise Refused
    indent = len(content[0]) - len(content[0].lstrip(" "))
    if blank > indent:
        raise Refused  # spaces beyond the indentation are content
    if style == ">" and any(line[indent] == " " for line in content):
        raise Refused  # a more-indented line is not folded
    value = ("\n" if style == "|" else " ").join(line[indent:] for line in content)
    return (*token[:6], value if chomp == "-" else value + "\n")  # type: ignore[return-value]


def _classify(value: str) -> tuple[int, Any]:
    """What a key's or item's value on its line is, and its payload (see Token)."""
    if not value or value[0] == "#":
        return EMPTY, None
    first = value[0]
    if first == '"' or first == "'":
        match = (_DOUBLE_QUOTED if first == '"' else _SINGLE_QUOTED).match(value)
        if match is None or not _AFTER_VALUE.fullmatch(value, match.end()):
            raise Refused  # a quoted scalar going on over the next lines
        return QUOTED, match.group()
    if first == "|" or first == ">":
        if not _BLOCK_HEADER.fullmatch(value):
            raise Refused  # an indentation indicator
        return BLOCK, value  # the header, until the value is known at the scalar's last line
    if first == "[" or first == "{":
        if _COLON_IN_FLOW.search(value):
            raise Refused
        return FLOW, _flow(value)
    if first in "&*!%@`?:,]}" or (first == "-" and (len(value) == 1 or value[1] == " ")):
        raise Refused  # a tag, anchor, alias or indicator
    comment = value.find(" #")
    text = (value if comment < 0 else value[:comment]).rstrip(" ")
    if ": " in text or text.endswith(":"):
        raise Refused
    return PLAIN, text


class FlowMapping(list):  # type: ignore[type-arg]
    """A flow mapping as written: its (key, value) pairs in order, each key a scalar (a key may
    repeat here: the readers refuse that)."""


# A flow collection as written: a scalar is (text, is_quoted), its text a plain scalar's or a
# quoted one's with its quotes, or EMPTY_NODE; a sequence is a list of nodes; a mapping a FlowMapping.
FlowNode = Any

# Flow collections nested deeper than this are left to PyYAML (the readers stop at MAX_DEPTH anyway).
_MAX_FLOW_DEPTH = 100


def _flow(value: str) -> FlowNode:
    """The flow collection that starts ``value`` and must end on its line, as a FlowNode. Refuses
    what libyaml rejects or the readers cannot follow: a collection or an empty node as a key, a
    missing or doubled entry, a trailing comma, a comment inside, and a collection that does not
    close on its line, whose items would have other lines."""
    parts: list[tuple[str | None, tuple[str, bool] | None]] = []  # (indicator, or None and a scalar)
    depth = 0
    position = scalar_start = 0
    while True:
        match = _FLOW_PART.match(value, position)
        if match is None:
            raise Refused  # for one, a comment inside (" #"): the collection goes on over more lines
        quoted, plain, indicator = match.groups()
        position = match.end()
        if indicator is None:
            parts.append((None, (quoted, True) if plain is None else (plain, False)))
            scalar_start = position - len(plain or quoted)
            continue
        if indicator == ":" and parts[-1][0] is None and position - scalar_start > MAX_KEY:
            raise Refused  # a key too long for libyaml
        parts.append((indicator, None))
        if indicator in "[{":
            depth += 1
            if depth > _MAX_FLOW_DEPTH:
                raise Refused
        elif indicator in "]}":
            depth -= 1
            if depth == 0:
                break
    if not _AFTER_VALUE.fullmatch(value, position):
        raise Refused
    try:
        node, end = _flow_node(parts, 0)
    except IndexError:  # the parts ended inside a collection
        raise Refused from None
    if end != len(parts):
        raise Refused
    return node


def _flow_node(parts: list[tuple[str | None, tuple[str, bool] | None]], at: int) -> tuple[FlowNode, int]:
    """The node that starts at ``parts[at]``, and the index after it."""
    indicator, scalar = parts[at]
    if indicator is None:
        return scalar, at + 1
    if indicator == "[":
        return _flow_sequence(parts, at + 1)
    if indicator == "{":
        return _flow_mapping(parts, at + 1)
    raise Refused  # an empty node, `[a, , b]`, or a closing bracket after a comma, `[a,]`


def _flow_sequence(parts: list[tuple[str | None, tuple[str, bool] | None]], at: int) -> tuple[list[FlowNode], int]:
    items: list[FlowNode] = []
    if parts[at][0] == "]":
        return items, at + 1
    while True:
        indicator, scalar = parts[at]
        if indicator is None and parts[at + 1][0] == ":":  # `[a: b]`: a mapping of one pair
            value, at = _flow_value(parts, at + 2, "]")
            items.append(FlowMapping([(scalar, value)]))
        else:
            item, at = _flow_node(parts, at)
            items.append(item)
        indicator = parts[at][0]
        if indicator == "]":
            return items, at + 1
        if indicator != ",":
            raise Refused  # two nodes in a row, or a collection as a key
        at += 1


def _flow_mapping(parts: list[tuple[str | None, tuple[str, bool] | None]], at: int) -> tuple[FlowMapping, int]:
    pairs = FlowMapping()
    if parts[at][0] == "}":
        return pairs, at + 1
    while True:
        indicator, key = parts[at]
        if indicator is not None:
            raise Refused  # a collection or an empty node as a key, `{a, , b}`, `{a,}`
        if parts[at + 1][0] == ":":
            value, at = _flow_value(parts, at + 2, "}")
        else:
            value, at = EMPTY_NODE, at + 1  # `{a, b: 1}`: a key without a value
        pairs.append((key, value))
        indicator = parts[at][0]
        if indicator == "}":
            return pairs, at + 1
        if indicator != ",":
            raise Refused  # a node after a value: `{a: b: c}`, `{a: b [c]}`
        at += 1


def _flow_value(parts: list[tuple[str | None, tuple[str, bool] | None]], at: int, closing: str) -> tuple[FlowNode, int]:
    """The value after a key's ":", EMPTY_NODE when there is none (`{a: , b: 1}`)."""
    if parts[at][0] in (",", closing):
        return EMPTY_NODE, at
    return _flow_node(parts, at)
