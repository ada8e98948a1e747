"""Cutting one large inventory document into fragments that parse in parallel.

An inventory exported from a CMDB is often one document: ``services:`` with ten thousand items.
Parsed whole, it takes one CPU however many there are. Its top-level lists are cut between items
into fragments of a few hundred kilobytes, each parsed, validated and built into records on its
own, and joined again in order:

- a *head* fragment starts at a top-level key (or at the start of the document) and holds whole
  top-level keys, the last of which may be a list whose items go on in the next fragment;
- a *continuation* fragment holds further items of one top-level list. It is given that list's
  key on a line of its own before its items, so that it reads as a document of that one key, and
  the index of its first item in the whole list, so that messages name items as the whole
  document does.

The cuts are found in the text: top-level keys at the start of a line, and items at the column of
their list's first item. A multi-line quoted scalar or flow collection can hide such a line inside
it, so each fragment is checked after it is parsed: it must hold exactly the top-level keys and
the number of items that were cut for it, with no YAML error. When one does not, the document is
parsed whole instead, which reads and reports it exactly as before.
"""

from __future__ import annotations

import re
from itertools import chain
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from itscm_check.cache import Checked

# A document this large or larger is cut, into fragments of about FRAGMENT_BYTES.
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
    index_offset: int  # of a continuation: the index of its first item in the whole list
    keys: tuple[str, ...]  # its top-level keys, in order
    items: int  # how many items of its last key's list were cut into it; -1 when that list was not cut


def plan(content: bytes) -> list[Fragment] | None:
    """The fragments of the one-document ``content``, or None when it is not worth cutting or
    its top level is not plain enough to find the cuts in the text."""
    if len(content) < SPLIT_BYTES or content.startswith(b"\xef\xbb\xbf"):
        return None
    keys: list[tuple[str, int, int]] = []  # each top-level key, where its line starts and its ":" ends
    column_zero_items: dict[int, list[int]] = {}  # the starts of items written at column 0, by key
    first = [0] if content[:1] not in b" \t\r\n#" else []
    for at in chain(first, (line.start() + 1 for line in _COLUMN_ZERO.finditer(content))):
        key = _TOP_KEY.match(content, at)
        if key is not None:
            keys.append((key.group(1).decode("ascii"), at, key.end()))
        elif keys and _ITEM.match(content, at):
            column_zero_items.setdefault(len(keys) - 1, []).append(at)
        elif not (at == 0 and content.startswith(b"---")):
            return None  # a quoted or complex key, a directive, "...", a document that is a list
    names = [name for name, _, _ in keys]
    if len(set(names)) != len(names):
        return None  # read whole, which reports the duplicate key
    ends = [at for _, at, _ in keys[1:]] + [len(content)]
    fragments: list[Fragment] = []
    start, lines, items = 0, 0, -1
    members: list[str] = []
    continues: tuple[str, int] | None = None

    def close(end: int) -> None:
        nonlocal lines
        if continues is None:
            fragments.append(Fragment(content[start:end], lines, 0, tuple(members), items))
        else:
            name, index = continues
            fragments.append(Fragment(name.encode() + b":\n" + content[start:end], lines - 1, index, (name,), items))
        lines += content.count(b"\n", start, end)

    for number, ((name, at, colon), end) in enumerate(zip(keys, ends)):
        if continues is not None:  # a continuation holds items only: the next key starts a head
            close(at)
            start, members, continues = at, [], None
        members.append(name)
        items = -1
        starts = _item_starts(content, colon, end, column_zero_items.get(number, [])) if end - at > FRAGMENT_BYTES else []
        if starts:
            items = 0
        for index, item in enumerate(starts):
            if index and item - start >= FRAGMENT_BYTES:
                close(item)
                start, members, items, continues = item, [name], 0, (name, index)
            items += 1
    close(len(content))
    return fragments if len(fragments) > 1 else None


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


def fits(fragment: Fragment, checked: Checked) -> bool:
    """Whether ``fragment`` read as what it was cut as: one document without a YAML error, with
    exactly its top-level keys, and as many items in a list that was cut after it as were cut."""
    if not checked.complete or len(checked.documents) != 1:
        return False
    document = checked.documents[0]
    tree = document.lines
    if type(document.data) is not dict or tree[1] or tuple(tree[2][::2]) != fragment.keys:
        return False
    if fragment.items < 0:
        return True
    value = document.data.get(fragment.keys[-1])
    return type(value) is list and len(value) == fragment.items
