"""Safe YAML loading: every file of an inventory or policy tree, with the line of every key and item.

Parsing goes through this module only, so a faster parser can replace it without touching the
rest. Lines are kept in ``Document.lines``, a tree beside the data that ``Document.line`` reads
with the path inside the document (``("services", 3, "objectives", "rto")``); they are never
injected into the data.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import yaml

from itscm_check.errors import InputError, Location
from itscm_check.values import YamlTimestamp

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
STR_TAG = "tag:yaml.org,2002:str"
_RESOLVED: dict[str, str] = {}


class _Resolver(yaml.resolver.Resolver):
    """PyYAML's resolver, once per distinct short plain scalar: keys, enum values and dates repeat
    thousands of times, and the regular expressions cost more than a lookup."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        # No path resolvers are registered, so a quoted scalar, a list or a mapping has its default tag.
        if kind is not yaml.ScalarNode:
            return _SEQ if kind is yaml.SequenceNode else _MAP
        if not implicit[0]:
            return STR_TAG
        tag = _RESOLVED.get(value)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(value) <= 20:
                _RESOLVED[value] = tag
        return tag


_PLAIN_RESOLVER = _Resolver()


def resolve_plain(text: str) -> str:
    """The tag PyYAML gives a plain (unquoted) scalar with this text."""
    tag = _RESOLVED.get(text)
    return tag if tag is not None else _PLAIN_RESOLVER.resolve(yaml.ScalarNode, text, (True, False))


def shared(text: str) -> str:
    """One copy of a short text that repeats (keys, ids, enum values), else the text itself."""
    return sys.intern(text) if len(text) <= INTERN_MAX else text


try:  # libyaml's C parser is several times faster; PyYAML without it still works.
    from yaml._yaml import CParser
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader
    from yaml import SafeLoader as _CLoader
else:

    class _Loader(CParser, yaml.composer.Composer, yaml.constructor.SafeConstructor,  # type: ignore[no-redef]
                  _Resolver):
        """libyaml's parser with PyYAML's composer, for input that might nest deeply: libyaml's
        own composer recurses in C and crashes at some 100,000 levels, where Python's raises
        RecursionError."""

        check_node = yaml.composer.Composer.check_node
        get_node = yaml.composer.Composer.get_node

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            _Resolver.__init__(self)

    class _CLoader(CParser, yaml.constructor.SafeConstructor, _Resolver):  # type: ignore[no-redef]
        """libyaml's parser and composer: a quarter faster, for input that cannot nest deeply."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            _Resolver.__init__(self)


def _shallow(text: str) -> bool:
    """Whether ``text`` cannot nest anywhere near the depth that crashes libyaml's composer.

    Each level of nesting takes a bracket, a new line or (``- - x``) two more columns of a line,
    so their count bounds the depth; 10,000 levels were measured to be safe.
    """
    bound = text.count("[") + text.count("{") + text.count("\n") + max(map(len, text.splitlines()), default=0)
    return bound < 10_000


DocPath = tuple[Any, ...]

NULL_TAG = "tag:yaml.org,2002:null"
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_TEXT_KEY_TAGS = frozenset(f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "float", "bool", "null", "timestamp"))
_MERGE_TAGS = frozenset(("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"))  # what flatten_mapping rewrites
MAX_DEPTH = 64
# A document may not expand to more nodes than this many per byte of its file (plus a floor):
# aliases are fine for sharing a contact block, not for a "billion laughs" bomb.
_NODES_PER_BYTE = 2
_NODE_FLOOR = 10_000
# Keys and short values (ids, types, results, team and site refs) repeat thousands of times in a
# large inventory: one shared copy of each halves the memory the loaded documents take.
INTERN_MAX = 64


# Lines of a mapping or list, nested like the data: (its own line, whether it is a list, the line
# of each item (a list) or ``(key, line, key, line, ...)`` (a mapping), and the same pairing for
# the items or keys that are mappings or lists themselves, or None when there are none). Flat
# tuples take a fraction of the memory of a table keyed by full paths, which mattered at
# 100,000 services.
LineTree = tuple[int, bool, tuple[Any, ...], "tuple[Any, ...] | None"]
# A document's data, its LineTree and where it holds a YamlTimestamp, before it is given a file.
ParsedDocument = tuple[Any, LineTree, tuple[DocPath, ...]]


@dataclass(frozen=True)
class Document:
    """One YAML document of one file, with the line of every key and list item."""

    path: str
    data: Any
    lines: LineTree = field(repr=False)
    # Where the data holds a YamlTimestamp: what the parse cache must restore after storing plain text.
    timestamps: tuple[DocPath, ...] = field(default=(), repr=False)
    # Lines in ``lines`` count from the document's part of the file (see cache.file_parts).
    line_offset: int = 0
    # A fragment of a large document (see fragments) that continues a top-level list: the index in
    # the whole list of the first item it holds, which messages count from.
    index_offset: int = 0

    def line(self, where: DocPath) -> int:
        """Line of ``where``, or of its nearest ancestor that has one."""
        return self.node(where)[0]

    def node(self, where: DocPath) -> tuple[int, LineTree | None]:
        """Line of ``where`` (or of its nearest ancestor) in the file, and its LineTree (None for a
        scalar or a miss), whose lines count from ``line_offset``."""
        line = self.lines[0]
        tree: LineTree | None = self.lines
        for step in where:
            if tree is None:
                break
            found = step_line(tree, step)
            if found is None:
                return line + self.line_offset, None
            line, tree = found, step_tree(tree, step)
        return line + self.line_offset, tree

    def location(self, where: DocPath = ()) -> Location:
        return Location(self.path, self.line(where))


def step_line(tree: LineTree, step: Any) -> int | None:
    """Line of the item or key ``step`` of the list or mapping ``tree``, or None when it has none."""
    _, is_list, lines, _ = tree
    if is_list:
        return lines[step] if type(step) is int and 0 <= step < len(lines) else None
    if type(step) is not str:
        return None
    try:
        return lines[lines.index(step) + 1]
    except ValueError:
        return None


def step_tree(tree: LineTree, step: Any) -> LineTree | None:
    """LineTree of the item or key ``step`` of ``tree``, when it is a mapping or list itself."""
    children = tree[3]
    if children is None:
        return None
    if tree[1]:
        return children[step]
    try:
        return children[children.index(step) + 1]
    except ValueError:
        return None


def split_documents(content: bytes) -> list[tuple[int, bytes]]:
    """A file's bytes cut before each ``---`` line, each part with the number of lines before it.

    Parts parse on their own (and in parallel, and hit the parse cache one by one) to the same
    documents as the whole stream. A file with directives (``%YAML``) stays whole: a directive
    belongs to the document after it.
    """
    # A line that starts a document is "---" at the start of a line, then a blank or the end of the
    # line. The YAML spec forbids such a line inside any scalar, so cutting a stream before it never
    # splits a document. Found with bytes.find: a multi-line regular expression takes 0.07 s to
    # scan a 14 MB file, find a few milliseconds.
    starts = []
    at = content.find(b"\n---")
    while at >= 0:
        after = at + 4
        if after == len(content) or content[after] in b" \t\r\n":
            starts.append(at + 1)
        at = content.find(b"\n---", after)
    if not starts or content.startswith(b"%") or b"\n%" in content:
        return [(0, content)]
    parts, line, begin = [], 0, 0
    lines_in = line_counter(content)
    for start in [*starts, len(content)]:
        parts.append((line, content[begin:start]))
        line += lines_in(begin, start)
        begin = start
    return parts


# Line breaks other than LF (and CR LF) that PyYAML counts as lines: a lone CR, NEL, and the Unicode
# line and paragraph separators, as UTF-8.
_OTHER_BREAKS = (b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")


def line_counter(content: bytes) -> Callable[[int, int], int]:
    """How many lines PyYAML counts in ``content[start:end]``, which starts and ends at the start of
    a line: a file's parts must number their lines as the whole file does. Only a file with a line
    break that is not LF pays for counting the others (isascii and a search for CR tell, fast)."""
    if not (b"\r" in content or (not content.isascii() and any(other in content for other in _OTHER_BREAKS))):
        return lambda start, end: content.count(b"\n", start, end)

    def lines_in(start: int, end: int) -> int:
        lone_crs = content.count(b"\r", start, end) - content.count(b"\r\n", start, end)
        return content.count(b"\n", start, end) + lone_crs + sum(content.count(o, start, end) for o in _OTHER_BREAKS)
    return lines_in


def display_path(path: Path) -> str:
    """The path as reports show it: relative to the working directory, with ``/``."""
    try:
        return Path(os.path.relpath(path)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def find_yaml_files(root: Path, flag: str = "--inventory") -> tuple[list[Path], list[InputError]]:
    """All ``*.yaml``/``*.yml`` files under ``root`` (or ``root`` itself), sorted, dot-names skipped;
    ``flag`` is the option that gave ``root``, for the hint when it does not exist."""
    try:
        exists, is_file = root.exists(), root.is_file()
    except OSError as exc:  # a name longer than the file system allows, say: pathlib raises it
        return [], [InputError(Location(display_path(root), 0), f"cannot read: {exc.strerror}",
                               f"pass an existing file or folder with {flag}")]
    if not exists:
        return [], [InputError(Location(display_path(root), 0), "no such file or directory",
                               f"pass an existing file or folder with {flag}")]
    if is_file:
        return [root], []
    files: list[Path] = []
    errors: list[InputError] = []
    _walk(root, frozenset(), files, errors)
    return files, errors


def find_all_yaml_files(roots: Iterable[Path], flag: str = "--inventory", seen: set[str] | None = None
                        ) -> tuple[list[Path], list[InputError]]:
    """The YAML files under every root, each file once: a file named twice, or by name and by its
    folder, would otherwise clash with itself (its ids defined twice). ``seen`` holds the real
    paths of files found before, and gets those found now."""
    files: list[Path] = []
    errors: list[InputError] = []
    seen = set() if seen is None else seen
    for root in roots:
        found, errs = find_yaml_files(root, flag)
        errors += errs
        for path in found:
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                files.append(path)
    return files, errors


def _walk(folder: Path, ancestors: frozenset[str], files: list[Path], errors: list[InputError]) -> None:
    real = os.path.realpath(folder)
    if real in ancestors:
        errors.append(InputError(Location(display_path(folder), 0), "symbolic link loop: this folder contains itself",
                                 "remove the link that points back to a parent folder"))
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        errors.append(InputError(Location(display_path(folder), 0), f"cannot read folder: {exc.strerror}"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.is_dir():
            _walk(path, ancestors | {real}, files, errors)
        elif entry.is_file() and entry.name.endswith((".yaml", ".yml")):
            files.append(path)


def load_files(paths: Iterable[Path]) -> tuple[list[Document], list[InputError]]:
    """Parse every file; return the non-empty documents and every error found."""
    documents: list[Document] = []
    errors: list[InputError] = []
    for path in paths:
        docs, errs = load_file(path)
        documents.extend(docs)
        errors.extend(errs)
    return documents, errors


def load_file(path: Path) -> tuple[list[Document], list[InputError]]:
    shown = display_path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [InputError(Location(shown, 0), "file is not UTF-8 text", "save the file as UTF-8")]
    except OSError as exc:
        return [], [InputError(Location(shown, 0), f"cannot read file: {exc.strerror}")]
    return load_text(text, shown)


def load_text(text: str, shown: str) -> tuple[list[Document], list[InputError]]:
    """Parse YAML text that reports call ``shown``: with the fast path when it can read the text,
    else with PyYAML, which also gives every error its line."""
    from itscm_check import fast_yaml  # imported here: it builds on this module

    if fast_yaml.enabled():
        parsed = fast_yaml.load(text)
        if parsed is not None:
            return [Document(shown, data, lines, timestamps) for data, lines, timestamps in parsed], []
    loader = (_CLoader if _shallow(text) else _Loader)(text)
    documents: list[Document] = []
    errors: list[InputError] = []
    budget = _NODE_FLOOR + _NODES_PER_BYTE * len(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node() said there is one
            builder = _Builder(loader, shown, budget)
            data = builder.build(node, (), frozenset(), 0)
            errors.extend(builder.errors + builder.duplicates)
            if data is not None and not builder.errors:
                lines = builder.tree or (node.start_mark.line + 1, False, (), None)  # a scalar document
                documents.append(Document(shown, data, lines, tuple(builder.timestamps)))
    except RecursionError:
        errors.append(InputError(Location(shown, 0), "nesting too deep", "flatten the structure"))
    except _TooBig as exc:
        errors.append(InputError(Location(shown, exc.line), str(exc), "expand the aliases by hand or split the file"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = exc.problem or exc.context or "invalid YAML"
        errors.append(InputError(Location(shown, line), f"YAML syntax error: {problem}"))
    except yaml.YAMLError as exc:
        errors.append(InputError(Location(shown, 0), f"YAML error: {exc}"))
    finally:
        loader.dispose()
    return documents, errors


class _TooBig(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class _Builder:
    """Turns a composed node tree into plain data, recording lines and rejecting what is unsafe."""

    def __init__(self, loader: Any, shown: str, budget: int) -> None:
        self.loader = loader
        self.shown = shown
        self.budget = budget
        self.numbers: dict[int, int] = {}  # one int object per line number, shared by every key on it
        self.tree: LineTree | None = None  # of the mapping or list build() returned last; None for a scalar
        self.timestamps: list[DocPath] = []
        self.errors: list[InputError] = []
        # Duplicate keys: the data keeps each key's first value, so the document is still validated
        # and every other problem in it listed in the same run.
        self.duplicates: list[InputError] = []

    def error(self, node: yaml.Node, message: str, hint: str = "", first_line: int = 0) -> None:
        self.errors.append(InputError(Location(self.shown, node.start_mark.line + 1), message, hint, first_line))

    def build(self, node: yaml.Node, where: DocPath, ancestors: frozenset[int], depth: int) -> Any:
        """The data of ``node``; its LineTree is left in ``self.tree``."""
        self.tree = None
        self.budget -= 1
        if self.budget < 0:
            raise _TooBig("document expands to too many nodes (an alias bomb?)", node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            value = self.scalar(node)
            if type(value) is YamlTimestamp:
                self.timestamps.append(where)
            return value
        if id(node) in ancestors or depth > MAX_DEPTH:
            self.error(node, "recursive alias or nesting too deep", "write the structure out without self-reference")
            return None
        inner = ancestors | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                self.error(node, f"unsupported tag {node.tag!r}", "remove the tag; only plain YAML is accepted")
                return None
            return self.sequence(node, where, inner, depth)
        if node.tag != _MAP:
            self.error(node, f"unsupported tag {node.tag!r}", "remove the tag; only plain YAML is accepted")
            return None
        assert isinstance(node, yaml.MappingNode)
        return self.mapping(node, where, inner, depth)

    def line(self, node: yaml.Node) -> int:
        number = node.start_mark.line + 1
        return self.numbers.setdefault(number, number)

    def sequence(self, node: yaml.SequenceNode, where: DocPath, ancestors: frozenset[int], depth: int) -> list:
        items, trees = [], []
        for i, item in enumerate(node.value):
            items.append(self.build(item, where + (i,), ancestors, depth + 1))
            trees.append(self.tree)
        has_trees = any(tree is not None for tree in trees)
        self.tree = (self.line(node), True, tuple(self.line(item) for item in node.value),
                     tuple(trees) if has_trees else None)
        return items

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == STR_TAG:  # nine scalars in ten: skip the constructor's bookkeeping
            return shared(node.value)
        if node.tag == TIMESTAMP_TAG:
            # Dates stay text (as in JSON, and as JSON Schema sees them); values.parse_date reads them.
            return YamlTimestamp(node.value)
        try:
            return self.loader.construct_object(node)
        except yaml.constructor.ConstructorError:
            self.error(node, f"unsupported or unsafe tag {node.tag!r}", "remove the tag; only plain YAML is accepted")
            return None
        except (ValueError, KeyError, IndexError):  # `0x_`, `!!bool maybe`, `!!int ''`: no valid value
            kind = node.tag.rpartition(":")[2]
            self.error(node, f"'{node.value}' is not a valid {kind}",
                       f"write a valid {kind}, or quote the text (without a tag) to keep it as text")
            return None

    def mapping(self, node: yaml.MappingNode, where: DocPath, ancestors: frozenset[int], depth: int) -> dict:
        key_lines: dict[Any, int] = {}
        children: dict[Any, LineTree] = {}
        own: set[int] | None = None  # without << merge keys, every key is the mapping's own
        if not _MERGE_TAGS.isdisjoint([key_node.tag for key_node, _ in node.value]):
            own = {id(key_node) for key_node, _ in node.value}
            self.loader.flatten_mapping(node)  # resolves << merge keys, which own keys may override
        result: dict[Any, Any] = {}
        seen: dict[Any, tuple[int, bool]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, "a mapping key must be a plain scalar")
                continue
            if key_node.tag in _TEXT_KEY_TAGS:  # `yes:`, `1:` or a date as a key means the text the user wrote
                key = sys.intern(key_node.value)
            else:
                key = self.scalar(key_node)
                if type(key) is not str:
                    key = sys.intern(key_node.value)
            line, mine = self.line(key_node), own is None or id(key_node) in own
            if key in seen and mine and seen[key][1]:
                self.duplicates.append(InputError(Location(self.shown, line), f"duplicate key '{key}'",
                                                  "remove one of them; YAML would silently keep only the last",
                                                  seen[key][0]))
                continue
            seen[key] = (line, mine)
            key_lines[key] = line
            value = self.build(value_node, where + (key,), ancestors, depth + 1)
            if self.tree is not None:
                children[key] = self.tree
            else:
                children.pop(key, None)  # an own key overriding a merged mapping or list
            if value is not None or value_node.tag != NULL_TAG:
                result[key] = value
        self.tree = (self.line(node), False, tuple(chain.from_iterable(key_lines.items())),
                     tuple(chain.from_iterable(children.items())) or None)
        return result
