"""Safe YAML loading: every file of an inventory or policy tree, with positions in a side table.

Parsing goes through this module only, so a faster parser can replace it without touching the
rest. Lines are kept in ``Document.positions`` keyed by the path inside the document
(``("services", 3, "objectives", "rto")``), never injected into the data.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from itscm_check.errors import InputError, Location
from itscm_check.values import YamlTimestamp

try:  # libyaml's C parser is several times faster; PyYAML without it still works.
    from yaml._yaml import CParser
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader
else:

    class _Loader(CParser, yaml.composer.Composer, yaml.constructor.SafeConstructor,  # type: ignore[no-redef]
                  yaml.resolver.Resolver):
        """libyaml's parser with PyYAML's composer: libyaml's own composer recurses in C and
        crashes on deeply nested input, where Python's raises RecursionError."""

        check_node = yaml.composer.Composer.check_node
        get_node = yaml.composer.Composer.get_node

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

DocPath = tuple[Any, ...]

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_STR = "tag:yaml.org,2002:str"
_MAX_DEPTH = 64
# A document may not expand to more nodes than this many per byte of its file (plus a floor):
# aliases are fine for sharing a contact block, not for a "billion laughs" bomb.
_NODES_PER_BYTE = 2
_NODE_FLOOR = 10_000


@dataclass(frozen=True)
class Document:
    """One YAML document of one file, with the line of every key and list item."""

    path: str
    data: Any
    positions: dict[DocPath, int] = field(repr=False)
    # Where the data holds a YamlTimestamp: what the parse cache must restore after storing plain text.
    timestamps: tuple[DocPath, ...] = field(default=(), repr=False)

    def line(self, where: DocPath) -> int:
        """Line of ``where``, or of its nearest ancestor that has one."""
        while where:
            if where in self.positions:
                return self.positions[where]
            where = where[:-1]
        return self.positions.get((), 1)

    def location(self, where: DocPath = ()) -> Location:
        return Location(self.path, self.line(where))


def display_path(path: Path) -> str:
    """The path as reports show it: relative to the working directory, with ``/``."""
    try:
        return Path(os.path.relpath(path)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def find_yaml_files(root: Path) -> tuple[list[Path], list[InputError]]:
    """All ``*.yaml``/``*.yml`` files under ``root`` (or ``root`` itself), sorted, dot-names skipped."""
    if not root.exists():
        return [], [InputError(Location(display_path(root), 0), "no such file or directory",
                               "pass an existing inventory file or folder with --inventory")]
    if root.is_file():
        return [root], []
    files: list[Path] = []
    errors: list[InputError] = []
    _walk(root, frozenset(), files, errors)
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
    """Parse YAML text that reports call ``shown``."""
    loader = _Loader(text)
    documents: list[Document] = []
    errors: list[InputError] = []
    budget = _NODE_FLOOR + _NODES_PER_BYTE * len(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node() said there is one
            builder = _Builder(loader, shown, budget)
            data = builder.build(node, (), frozenset(), 0)
            errors.extend(builder.errors)
            if data is not None and not builder.errors:
                documents.append(Document(shown, data, builder.positions, tuple(builder.timestamps)))
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
        self.positions: dict[DocPath, int] = {}
        self.timestamps: list[DocPath] = []
        self.errors: list[InputError] = []

    def error(self, node: yaml.Node, message: str, hint: str = "") -> None:
        self.errors.append(InputError(Location(self.shown, node.start_mark.line + 1), message, hint))

    def build(self, node: yaml.Node, where: DocPath, ancestors: frozenset[int], depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _TooBig("document expands to too many nodes (an alias bomb?)", node.start_mark.line + 1)
        self.positions.setdefault(where, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            value = self.scalar(node)
            if type(value) is YamlTimestamp:
                self.timestamps.append(where)
            return value
        if id(node) in ancestors or depth > _MAX_DEPTH:
            self.error(node, "recursive alias or nesting too deep", "write the structure out without self-reference")
            return None
        inner = ancestors | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                self.error(node, f"unsupported tag {node.tag!r}", "remove the tag; only plain YAML is accepted")
                return None
            return [self.build(item, where + (i,), inner, depth + 1) for i, item in enumerate(node.value)]
        if node.tag != _MAP:
            self.error(node, f"unsupported tag {node.tag!r}", "remove the tag; only plain YAML is accepted")
            return None
        assert isinstance(node, yaml.MappingNode)
        return self.mapping(node, where, inner, depth)

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _STR:  # nine scalars in ten: skip the constructor's bookkeeping
            return node.value
        if node.tag == _TIMESTAMP:
            # Dates stay text (as in JSON, and as JSON Schema sees them); values.parse_date reads them.
            return YamlTimestamp(node.value)
        try:
            return self.loader.construct_object(node)
        except yaml.constructor.ConstructorError:
            self.error(node, f"unsupported or unsafe tag {node.tag!r}", "remove the tag; only plain YAML is accepted")
            return None

    def mapping(self, node: yaml.MappingNode, where: DocPath, ancestors: frozenset[int], depth: int) -> dict:
        own = {id(key_node) for key_node, _ in node.value}
        self.loader.flatten_mapping(node)  # resolves << merge keys, which own keys may override
        result: dict[Any, Any] = {}
        seen: dict[Any, tuple[int, bool]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, "a mapping key must be a plain scalar")
                continue
            key = self.scalar(key_node)
            if type(key) is not str:
                key = key_node.value  # `yes:`, `1:` or a date as a key means the text the user wrote
            line, mine = key_node.start_mark.line + 1, id(key_node) in own
            if key in seen and mine and seen[key][1]:
                self.error(key_node, f"duplicate key '{key}' (first defined on line {seen[key][0]})",
                           "remove one of them; YAML would silently keep only the last")
                continue
            seen[key] = (line, mine)
            self.positions[where + (key,)] = line
            value = self.build(value_node, where + (key,), ancestors, depth + 1)
            if value is not None or value_node.tag != _NULL:
                result[key] = value
        return result
