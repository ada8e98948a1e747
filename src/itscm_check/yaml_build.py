"""The first reader of the fast parse path (fast_yaml): the line scanner's tokens (yaml_lines)
built into the data and LineTree that the PyYAML path (loader) gives, without another parser.

The scanner takes only lines of a few plain shapes and refuses the rest, so the shapes left are
simple enough to build here: block mappings and lists by their columns, plain scalars read as
YAML 1.1 reads them, quoted scalars without escapes, block scalars, and flow collections on one
line. Whatever else the structure holds (a key or item at a column no block has, a key twice, a
list item among keys, a value that goes on over more-indented lines, an escape in a double-quoted
scalar) raises Refused: fast_yaml then reads the text with yaml_rs and the walker where yaml_rs is
installed (they check what the scanner read against another parser, and read escapes), and
failing that PyYAML does. Building from the tokens takes about half the time that parsing with
yaml_rs and walking its data together with the tokens takes.
"""

from __future__ import annotations

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
    shared,
)
from itscm_check.values import YamlTimestamp
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
)

# PyYAML picks the resolvers to try by a scalar's first character: text that starts with any
# other is text.
MAY_RESOLVE = frozenset(yaml.resolver.Resolver.yaml_implicit_resolvers)
_intern = sys.intern


class TokenReader:
    """What the two readers of the scanner's tokens share (this module's and fast_yaml's walker):
    the tokens, the next one, and plain scalars read as YAML 1.1 reads them."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.cursor = 0  # the next token
        self.timestamps: list[DocPath] = []
        self.constructor = yaml.constructor.SafeConstructor()
        self.constructed: dict[str, Any] = {}

    def scalar(self, text: str, where: DocPath, step: Any) -> Any:
        """The plain scalar ``text`` at ``where + (step,)``, as PyYAML reads it."""
        tag = resolve_plain(text)
        if tag == STR_TAG:
            return shared(text)
        if tag == TIMESTAMP_TAG:
            self.timestamps.append(where + (step,))
            return YamlTimestamp(text)
        if tag == NULL_TAG:
            return None
        constructed = self.constructed.get(text)
        if constructed is None:
            try:
                constructed = self.constructor.construct_object(yaml.ScalarNode(tag, text))
            except (yaml.YAMLError, ValueError, KeyError, IndexError):
                raise Refused from None  # text that is no valid number: PyYAML reports it
            self.constructed[text] = constructed
        return constructed


def mapping_tree(first_line: int, key_lines: list[Any], children: list[Any]) -> LineTree:
    """The LineTree of a mapping: ``key_lines`` and ``children`` pair each key with its line and
    with its value's LineTree (see loader.LineTree)."""
    return first_line, False, tuple(key_lines), tuple(children) or None


def list_tree(first_line: int, item_lines: list[int], trees: list[LineTree | None]) -> LineTree:
    """The LineTree of a list, from its items' lines and LineTrees (None for a scalar)."""
    return first_line, True, tuple(item_lines), tuple(trees) if trees.count(None) != len(trees) else None


def item_line(kind: int, line: int, tree: LineTree | None) -> int:
    """The line of a list item whose "-" is on ``line``: PyYAML gives an item the line its node
    starts at, which for a block under a "-" alone is the block's first line."""
    return tree[0] if tree is not None and kind != FLOW else line


def build(tokens: list[Token]) -> ParsedDocument:
    """The document the tokens of a whole text (one document, at least one key or item) make;
    Refused when it is not one this module can tell (see the module's docstring)."""
    builder = _Builder(tokens)
    value, tree = builder.block(tokens[0][2], (), 0)
    if builder.cursor != len(tokens):
        raise Refused  # a token left of the first one's column
    return value, tree, tuple(builder.timestamps)


def _quoted(text: str) -> str:
    """The quoted scalar ``text`` (with its quotes), which is on one line."""
    if text[0] == "'":
        return shared(text[1:-1].replace("''", "'"))
    if "\\" in text:
        raise Refused  # an escape: the walker takes it from yaml_rs, where it is installed
    return shared(text[1:-1])


class _Builder(TokenReader):
    """Builds block mappings and lists by the columns of their tokens, and their values."""

    def block(self, column: int, where: DocPath, depth: int) -> tuple[Any, LineTree]:
        """The block mapping or list whose first token, the next one, is at ``column``."""
        if depth > MAX_DEPTH:
            raise Refused
        if self.tokens[self.cursor][0]:
            return self.mapping(column, where, depth)
        return self.sequence(column, where, depth)

    def below(self, column: int, items_too: bool) -> int | None:
        """The column of the block that is the value of a key or item at ``column`` with nothing
        after it on its line: the next token's, when it is right of ``column`` or (``items_too``,
        under a key) an item at it; None when the value is null."""
        if self.cursor == len(self.tokens):
            return None
        token = self.tokens[self.cursor]
        next_column = token[2]
        if next_column > column or (items_too and next_column == column and not token[0]):
            return next_column
        return None

    def mapping(self, column: int, where: DocPath, depth: int) -> tuple[dict, LineTree]:
        # The hottest loop of this reader: plain text values are taken here, the rest in value().
        tokens, cursor, count = self.tokens, self.cursor, len(self.tokens)
        first_line = tokens[cursor][1]
        result: dict[str, Any] = {}
        key_lines: list[Any] = []
        children: list[Any] = []
        while cursor < count:
            is_key, line, token_column, text, _, kind, payload = tokens[cursor]
            if token_column != column:
                if token_column < column:
                    break  # the end of this mapping
                raise Refused  # right of the keys: a value going on over the next lines, or a typo
            if not is_key:
                raise Refused  # an item among the keys
            cursor += 1
            name = _intern(text)  # keys are short: one copy of each
            key_lines += (name, line)
            if kind == PLAIN and (payload[0] not in MAY_RESOLVE or resolve_plain(payload) == STR_TAG):
                result[name] = _intern(payload) if len(payload) <= INTERN_MAX else payload  # shared(), inline
                continue
            self.cursor = cursor
            item, tree = self.value(kind, payload, line, column, where, name, depth, True)
            cursor = self.cursor
            if tree is not None:
                children += (name, tree)
            if item is not None:
                result[name] = item
        self.cursor = cursor
        if len(result) != len(key_lines) // 2 and len(set(key_lines[::2])) != len(key_lines) // 2:
            raise Refused  # a key twice (not just a null value): PyYAML reports it
        return result, mapping_tree(first_line, key_lines, children)

    def sequence(self, column: int, where: DocPath, depth: int) -> tuple[list, LineTree]:
        tokens, count = self.tokens, len(self.tokens)
        first_line = tokens[self.cursor][1]
        items: list[Any] = []
        item_lines: list[int] = []
        trees: list[Any] = []
        while self.cursor < count:
            is_key, line, token_column, _, _, kind, payload = tokens[self.cursor]
            if token_column != column:
                if token_column < column:
                    break  # the end of this list
                raise Refused  # right of the items: a value going on over the next lines, or a typo
            if is_key:
                # The next key of the mapping this list is the value of, at the same column; else
                # a key right of the column of what holds this list, which its reader refuses
                # (build() does, after a list at the root).
                break
            self.cursor += 1
            index = len(items)
            tree: LineTree | None
            if kind == NESTED:  # a key or another "-" follows on the same line
                item, tree = self.block(tokens[self.cursor][2], where + (index,), depth + 1)
            else:
                item, tree = self.value(kind, payload, line, column, where, index, depth, False)
            items.append(item)
            item_lines.append(item_line(kind, line, tree))
            trees.append(tree)
        return items, list_tree(first_line, item_lines, trees)

    def value(self, kind: int, payload: Any, line: int, column: int, where: DocPath, step: Any, depth: int,
              under_key: bool) -> tuple[Any, LineTree | None]:
        """The value of a key or item at ``column`` on ``line``, of the given kind, and its LineTree."""
        if kind == EMPTY:
            below = self.below(column, under_key)
            if below is None:
                return None, None
            return self.block(below, where + (step,), depth + 1)
        if kind == PLAIN:
            return self.scalar(payload, where, step), None
        if kind == QUOTED:
            return _quoted(payload), None
        if kind == BLOCK:
            return shared(payload), None
        if kind == FLOW:
            return self.flow(payload, line, where + (step,), depth + 1)
        raise Refused

    def flow(self, node: FlowNode, line: int, where: DocPath, depth: int) -> tuple[Any, LineTree]:
        """A flow collection on one line, whose every key and item has that line."""
        if depth > MAX_DEPTH:
            raise Refused
        if type(node) is FlowMapping:
            result: dict[str, Any] = {}
            key_lines: list[Any] = []
            children: list[Any] = []
            names: set[str] = set()
            for (text, quoted), value in node:
                name = _quoted(text) if quoted else shared(text)
                if name in names:
                    raise Refused  # a key twice: PyYAML reports it
                names.add(name)
                key_lines += (name, line)
                item, tree = self.flow_item(value, line, where, name, depth)
                if tree is not None:
                    children += (name, tree)
                if item is not None:
                    result[name] = item
            return result, mapping_tree(line, key_lines, children)
        items, trees = [], []
        for index, value in enumerate(node):
            item, tree = self.flow_item(value, line, where, index, depth)
            items.append(item)
            trees.append(tree)
        return items, list_tree(line, [line] * len(items), trees)

    def flow_item(self, node: FlowNode, line: int, where: DocPath, step: Any, depth: int
                  ) -> tuple[Any, LineTree | None]:
        if type(node) is not tuple:
            return self.flow(node, line, where + (step,), depth + 1)
        if node == EMPTY_NODE:
            return None, None
        text, quoted = node
        return (_quoted(text) if quoted else self.scalar(text, where, step)), None
