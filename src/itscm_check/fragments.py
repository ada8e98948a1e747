"""Cutting one large inventory document into fragments that parse in parallel.

An inventory exported from a CMDB is often one document: ``services:`` with ten thousand items.
Parsed whole, it takes one CPU however many there are. Its top-level lists are cut between items
into fragments of a few hundred kilobytes, each parsed, validated and built into records on its
own, and joined again in order:

- a *head* fragment starts at a top-level key (or at the start of the document) and holds whole
  top-level keys, the last of which may be a list whose items go on in the next fragment;
- a *continuation* fragment holds further items of one top-level list. It is given that list's
  key on a line of its own before its items, so that it reads as a document of that one key; the
  key keeps the line it has in the file, and the items count from the index of the first one in
  the whole list, so that messages name them as the whole document does.

The cuts are found in the text: top-level keys at the start of a line, and items at the column of
their list's first item. Which items a cut comes before depends on the items' own bytes (see
_cut_before), so that adding or removing an item moves no cut but those next to it: the other
fragments keep their bytes, and their parse cache entries, which do not depend on where a
fragment is in its file (cache.entry_key). A multi-line quoted scalar or flow collection can hide
such a line inside it, so each fragment is checked after it is parsed: it must hold exactly the
top-level keys and the number of items that were cut for it, with no YAML error. When one does
not, the document is parsed whole instead, which reads and reports it exactly as before. A
document with an anchor is not cut at all: an alias may refer to it from another fragment, a
name may be anchored twice in two, and the limit on how far aliases may expand a document holds
for the document, not for each fragment.
"""

from __future__ import annotations

import re
import zlib
from bisect import bisect_left
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from itscm_check.loader import Document, line_counter

if TYPE_CHECKING:
    from itscm_check.cache import Checked

# A document this large or larger is cut, into fragments of about FRAGMENT_BYTES on average.
SPLIT_BYTES = 1_000_000
FRAGMENT_BYTES = 256_000

# A line that starts with content, after its line break: a search for a line break first is four
# times faster than a multi-line "^".
_COLUMN_ZERO = re.compile(rb"\n[^ \t\r\n#]")
_TOP_KEY = re.compile(rb"([A-Za-z_][A-Za-z0-9_-]*):(?=[ \r\n]|\Z)")
_ITEM = re.compile(rb"-(?:[ \r\n]|\Z)")
# What may follow a top-level key whose value is a block list: a comment, then blank and comment
# lines until the list's first item, whose indentation is the column of every item.
_REST_OF_LINE = re.compile(rb" *(?:#[^\n]*)?\r?\n")
_FIRST_ITEM = re.compile(rb"(?:[ \t]*(?:#[^\n]*)?\r?\n)*( *)-(?:[ \r\n]|\Z)")


class Fragment(NamedTuple):
    """Part of a document: its bytes (a continuation's with its key line in front), the number of
    lines of the document before it (one less for a continuation, for that key line), and what
    it must read as."""

    content: bytes
    line_shift: int
    keys: tuple[str, ...]  # its top-level keys, in order
    items: int  # how many items of its last key's list were cut into it; -1 when that list was not cut
    index_offset: int = 0  # of a continuation: the index of its first item in the whole list
    key_line: int = 0  # of a continuation: the line of its key in the file, counted as its own lines are


class _TopKey(NamedTuple):
    name: str
    line_start: int  # where its line starts in the document
    items: list[int]  # where each item of its list starts, when the list is worth cutting


def plan(content: bytes) -> list[Fragment] | None:
    """The fragments of the one-document ``content``, or None when it is not worth cutting or
    its top level is not plain enough to find the cuts in the text."""
    if len(content) < SPLIT_BYTES or content.startswith(b"\xef\xbb\xbf") or _has_anchor(content):
        return None
    keys = _top_keys(content)
    if keys is None:
        return None
    cuts: list[tuple[int, _TopKey | None, int]] = [(0, None, 0)]  # where, the list it continues, from which item
    view = memoryview(content)
    for number, key in enumerate(keys):
        if cuts[-1][1] is not None:  # a continuation holds items only: the next key starts a head
            cuts.append((key.line_start, None, 0))
        start = cuts[-1][0]
        ends = [*key.items[1:], keys[number + 1].line_start if number + 1 < len(keys) else len(content)]
        for index, (item, end) in enumerate(zip(key.items, ends)):
            # Not before the second item: two lines or more then come between a continuation's key
            # and its first item, so its key's line, counted as the fragment's own lines are, is
            # below 0, never 0, which stands for an error without a line.
            if index > 1 and _cut_before(view[item:end], item - start):
                cuts.append((item, key, index))
                start = item
    if len(cuts) < 2:
        return None
    lines_in = line_counter(content)
    key_lines: dict[str, int] = {}  # the line of each top-level key
    line, previous = 1, 0
    for key in keys:
        line += lines_in(previous, key.line_start)
        key_lines[key.name], previous = line, key.line_start
    fragments = []
    lines = 0
    for (start, continued, index), (end, _, _) in zip(cuts, [*cuts[1:], (len(content), None, 0)]):
        inside = [key for key in keys if start <= key.line_start < end]
        last = continued if continued is not None else inside[-1]
        items = bisect_left(last.items, end) - bisect_left(last.items, start) if last.items else -1
        if continued is None:
            fragments.append(Fragment(content[start:end], lines, tuple(key.name for key in inside), items))
        else:
            fragments.append(Fragment(continued.name.encode() + b":\n" + content[start:end], lines - 1,
                                      (continued.name,), items, index, key_lines[continued.name] - (lines - 1)))
        lines += lines_in(start, end)
    return fragments


def _cut_before(item: memoryview, size: int) -> bool:
    """Whether a fragment of ``size`` bytes so far ends before ``item``.

    The cuts depend on the items' bytes, not on where they are: a cut after every FRAGMENT_BYTES
    would move every later cut when an item is added, and every later fragment would be parsed
    again. Past half a fragment's size, each item ends the fragment with a chance of its size over
    half a fragment's (so a fragment holds FRAGMENT_BYTES on average), decided by a checksum of its
    bytes; a fragment three times that size ends at the next item whatever it holds. A cut that
    an added item moves is followed by one where it was within a fragment or two: with a larger
    least size, cuts made possible by the move go on for longer.
    """
    half = FRAGMENT_BYTES // 2
    if size < half:
        return False
    return size >= 3 * FRAGMENT_BYTES or zlib.crc32(item) * half < len(item) << 32


def _has_anchor(content: bytes) -> bool:
    """Whether ``content`` has an anchor, or text that would be one outside a scalar: "&" after a
    blank, a line break or a flow indicator. An "&" in a URL's query is not one."""
    at = content.find(b"&")
    while at >= 0:
        if at == 0 or content[at - 1:at] in (b" ", b"\t", b"\n", b"\r", b"[", b"{", b","):
            return True
        at = content.find(b"&", at + 1)
    return False


def _top_keys(content: bytes) -> list[_TopKey] | None:
    """The top-level keys of a document, each with the items of its list when that list is longer
    than a fragment; None when a line at column 0 is neither such a key nor an item of its list,
    or a key is there twice (the document is read whole, which reports it)."""
    found: list[tuple[str, int, int]] = []  # name, where its line starts, where its ":" ends
    column_zero_items: dict[int, list[int]] = {}  # the starts of items written at column 0, by key
    starts = [line.start() + 1 for line in _COLUMN_ZERO.finditer(content)]
    for at in ([0] if content[:1] not in b" \t\r\n#" else []) + starts:
        key = _TOP_KEY.match(content, at)
        if key is not None:
            found.append((key.group(1).decode("ascii"), at, key.end()))
        elif found and _ITEM.match(content, at):
            column_zero_items.setdefault(len(found) - 1, []).append(at)
        elif not (at == 0 and content.startswith(b"---")):
            return None  # a quoted or complex key, a directive, "...", a document that is a list
    if len({name for name, _, _ in found}) != len(found):
        return None
    ends = [at for _, at, _ in found[1:]] + [len(content)]
    return [_TopKey(name, at, _item_starts(content, colon, end, column_zero_items.get(number, []))
                    if end - at > FRAGMENT_BYTES else [])
            for number, ((name, at, colon), end) in enumerate(zip(found, ends))]


def _item_starts(content: bytes, colon: int, end: int, column_zero: list[int]) -> list[int]:
    """Where each item of the block list after the top-level key whose ":" ends at ``colon``
    starts, up to ``end``; none when its value is not a block list."""
    rest = _REST_OF_LINE.match(content, colon)
    first = _FIRST_ITEM.match(content, rest.end()) if rest is not None else None
    if first is None or first.end() > end:
        return []
    column = len(first.group(1))
    if column == 0:
        return column_zero
    item = re.compile(rb"^ {%d}-(?:[ \r\n]|\Z)" % column, re.MULTILINE)
    return [match.start() for match in item.finditer(content, first.start(), end)]


def placed(fragment: Fragment, documents: list[Document]) -> list[Document]:
    """The documents a fragment read as, with what they take from the whole document: a
    continuation's key gets its line in the file (not that of the line it was given), and its
    items the index they count from."""
    if not fragment.index_offset or len(documents) != 1:
        return documents
    document = documents[0]
    _, is_list, key_lines, children = document.lines
    if is_list or len(key_lines) != 2:
        return documents  # not what it was cut as: fits() says so
    return [replace(document, lines=(fragment.key_line, False, (key_lines[0], fragment.key_line), children),
                    index_offset=fragment.index_offset)]


def fits(fragment: Fragment, checked: Checked) -> bool:
    """Whether ``fragment`` read as what it was cut as: one document without a YAML error, with
    exactly its top-level keys, and as many items in a list that was cut after it as were cut."""
    if not checked.complete or len(checked.documents) != 1:
        return False
    document = checked.documents[0]
    _, is_list, key_lines, _ = document.lines  # a mapping's keys and their lines alternate
    if type(document.data) is not dict or is_list or tuple(key_lines[::2]) != fragment.keys:
        return False
    if fragment.items < 0:
        return True
    value = document.data.get(fragment.keys[-1])
    return type(value) is list and len(value) == fragment.items
