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
# scalar as written, a block scalar's value or a flow collection's scalars (see _flow_scalars).
Token = tuple[bool, int, int, str, bool, int, Any]

# What follows a key or list item on its line: nothing (a null, or a block collection on the next
# lines), a plain, quoted or block scalar, a flow collection, or (after "-") a key or another "-".
EMPTY, PLAIN, QUOTED, BLOCK, FLOW, NESTED = range(6)

# The text of an empty node in a flow collection (`{a: , b}`) among its scalars' texts: no plain
# scalar is empty, and a quoted one has its quotes.
EMPTY_NODE = ("", False)

# Keys longer than this are left to PyYAML, which refuses a key of more than 1024 characters.
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
        )\ *+:(?:\ ++|$)
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
# What may come before a node in a flow collection, and before "," or a closing bracket: an
# indicator, or "s" for a scalar.
_BEFORE_NODE = frozenset(("", "[", "{", ",", ":"))
_BEFORE_END = frozenset(("s", "]", "}", ":"))


def scan(text: str, start: int, first_line: int) -> list[Token]:
    """Every key and list item of ``text`` from ``start`` (the start of line ``first_line``) on."""
    tokens: list[Token] = []
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
        if len(key) > MAX_KEY:
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
    """``token`` with the value of its block scalar, from the scalar's lines, for the walker to
    check yaml_rs's against. Only the plain cases are taken: libyaml and yaml_rs part ways on
    empty ones, and the spec's rules for blank and more-indented lines are subtle."""
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
        return FLOW, _flow_scalars(value)
    if first in "&*!%@`?:,]}" or (first == "-" and (len(value) == 1 or value[1] == " ")):
        raise Refused  # a tag, anchor, alias or indicator
    comment = value.find(" #")
    text = (value if comment < 0 else value[:comment]).rstrip(" ")
    if ": " in text or text.endswith(":"):
        raise Refused
    return PLAIN, text


def _flow_scalars(value: str) -> list[tuple[str, bool]]:
    """The scalars of a flow collection, in order, each with whether it is quoted, and EMPTY_NODE
    for each empty value (`{a: , b}`). Refuses what libyaml rejects or the walker cannot follow: a
    collection or an empty node as a key, a missing or doubled entry, and a collection that does
    not close on its line, whose items would have other lines."""
    scalars: list[tuple[str, bool]] = []
    brackets: list[str] = []
    previous = ""  # the indicator before, or "s" after a scalar
    key_waits = False  # in a mapping, a key was read that has no ":" yet
    position = 0
    while True:
        match = _FLOW_PART.match(value, position)
        if match is None:
            raise Refused
        quoted, plain, indicator = match.groups()
        position = match.end()
        if indicator is None:
            if previous not in _BEFORE_NODE or (plain is not None and " #" in plain):
                raise Refused  # two scalars in a row; a comment, so more lines follow
            scalars.append((quoted, True) if plain is None else (plain, False))
            key_waits = brackets[-1] == "{" and previous in ("{", ",")
            previous = "s"
            continue
        if indicator == ":":
            if previous != "s":
                raise Refused  # an empty key, or a collection as a key
            key_waits = False
        elif indicator in "[{":
            if previous not in _BEFORE_NODE or (brackets and brackets[-1] == "{" and previous in ("{", ",")):
                raise Refused  # a collection as a key
            brackets.append(indicator)
        else:
            if previous not in _BEFORE_END and not (indicator != "," and previous == brackets[-1]):
                raise Refused  # `[a, , b]`, `[a,]`
            if previous == ":" or key_waits:
                scalars.append(EMPTY_NODE)
            key_waits = False
            if indicator != ",":
                if brackets.pop() != ("[" if indicator == "]" else "{"):
                    raise Refused
                if not brackets:
                    if not _AFTER_VALUE.fullmatch(value, position):
                        raise Refused
                    return scalars
        previous = indicator
