"""Read YAML files into plain values that remember their line numbers.

PyYAML's C composer builds the node graph (fast, with marks); a small walker
turns nodes into `YMap` / `YList` / scalars, keeping for every key and item the
line it is on, and for every scalar the text exactly as written (so `14:05`
is not read as the base-60 integer 845, and `1917-02-30` can be reported as an
impossible date instead of crashing the constructor).

Hostile input is bounded: files over MAX_BYTES, binary or non-UTF-8 files,
nesting deeper than MAX_DEPTH and documents over MAX_NODES nodes are reported
as `SourceProblem`s. Aliases are shared, not copied, so alias bombs cost
nothing to build.
"""

from __future__ import annotations

import functools
import os
import stat

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import ScalarNode, SequenceNode
from yaml.resolver import Resolver

from bot.errors import SourceProblem

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 250_000  # about 30,000 entries in one file; bounds memory well under 200 MB

_TAG = "tag:yaml.org,2002:"
_STR, _SEQ, _MAP = _TAG + "str", _TAG + "seq", _TAG + "map"
_constructor = SafeConstructor()
_resolver = Resolver()


@functools.lru_cache(maxsize=4096)
def _plain_tag(value: str) -> str:
    """The tag YAML 1.1 gives a plain (unquoted) scalar, as PyYAML's resolver does."""
    return _resolver.resolve(ScalarNode, value, (True, False))


class Loader(_BaseLoader):
    """The safe loader with a cheaper resolver (the composer asks it about every node).

    Same tags as PyYAML's: no path resolvers are registered, so a quoted scalar
    is a str and a plain one depends only on its text (memoised: keys and short
    values repeat on every entry). Descending and ascending do nothing without
    path resolvers; they are C callables here since they run twice per node."""

    descend_resolver = staticmethod(slice)  # (parent, index) -> ignored
    ascend_resolver = staticmethod(tuple)  # () -> ignored

    def resolve(self, kind, value, implicit):
        if kind is ScalarNode:
            return _plain_tag(value) if implicit[0] else _STR
        return _SEQ if kind is SequenceNode else _MAP


assert not Resolver.yaml_path_resolvers, "path resolvers would change tags: see Loader"


class YMap(dict):
    """A mapping with `.line`, `.key_lines[key]` and `.raw[key]` (scalar text as written)."""

    __slots__ = ("line", "key_lines", "raw")


class YList(list):
    """A sequence with `.line` and `.item_lines[i]`."""

    __slots__ = ("line", "item_lines")


def read_source(path, info: os.stat_result | None = None) -> bytes:
    """The bytes of a feed file; SourceProblem (line 1) when it is not a regular file or
    is over MAX_BYTES. Never reads more than MAX_BYTES + 1 bytes (a 5 GB file or a
    symlink to /dev/zero costs nothing). OSError (e.g. missing) passes through.
    `info`: the file's os.stat, when the caller has just taken it."""
    if info is None:
        info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise SourceProblem(1, "not a regular file")
    with open(path, "rb") as handle:
        want = min(info.st_size, MAX_BYTES) + 1  # not MAX_BYTES: read() allocates what it is asked for
        data = handle.read(want)
        if len(data) == want and want <= MAX_BYTES:  # it grew since the stat: the rest, still bounded
            data += handle.read(MAX_BYTES + 1 - want)
    if len(data) > MAX_BYTES:
        size = max(info.st_size, len(data))
        raise SourceProblem(1, f"file is {size / 1048576:.1f} MB, over the {MAX_BYTES // 1048576} MB limit")
    return data


def decode(data: bytes) -> str:
    """Bytes of a feed file to text, or SourceProblem (line 1) saying why not."""
    if len(data) > MAX_BYTES:
        raise SourceProblem(1, f"file is {len(data) / 1048576:.1f} MB, over the {MAX_BYTES // 1048576} MB limit")
    if b"\0" in data:
        raise SourceProblem(1, "binary file (contains NUL bytes), not YAML text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceProblem(line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    return text[1:] if text.startswith("\ufeff") else text


def parse(text: str):
    """YAML text to values with lines; an empty document gives None."""
    try:
        if len(text) > MAX_NODES // 2:  # about one node per character at most: shorter texts are within bounds
            _bounded(text)
        node = yaml.compose(text, Loader=Loader)
    except yaml.MarkedYAMLError as exc:
        raise syntax_problem(text, exc) from None
    except yaml.YAMLError as exc:
        raise SourceProblem(1, f"YAML error: {exc}") from None
    if node is None:
        return None
    return _Walker().value(node, 0)


def syntax_problem(text: str, exc: yaml.MarkedYAMLError) -> SourceProblem:
    """A located, plain-words problem for a YAML syntax error (the error path only).

    libyaml says where it noticed the problem, which is not always where it is:
    a tab in the indentation is named as a tab, on its line; a quote left open is
    reported on the line where it opens, not where the parser later stumbles."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
    lines = text.split("\n")
    if mark is not None and mark.line < len(lines):
        here = lines[mark.line]
        indent = len(here) - len(here.lstrip(" \t"))
        column = here.find("\t", 0, indent) if "\t" in here[:indent] else (mark.column if here[mark.column:mark.column + 1] == "\t" else -1)
        if column >= 0:
            return SourceProblem(line, f"YAML syntax error: a tab in the indentation (column {column + 1}): YAML indents with spaces only")
    opened = _open_quote(text, exc)
    if opened is not None:
        start, quote, end = opened
        if end is None:
            return SourceProblem(start, f"YAML syntax error: a quote ({quote}) opens on this line and is never closed")
        return SourceProblem(start, f"YAML syntax error: a quote ({quote}) opens on this line and is not closed on it:"
                                    f" YAML reads on to the next {quote} on line {end} and fails there")
    return SourceProblem(line, f"YAML syntax error: {what}")


def _open_quote(text: str, exc: yaml.MarkedYAMLError) -> tuple[int, str, int | None] | None:
    """(line where it opens, the quote, line where it was taken to close or None at the end
    of the file) when the error looks like a quote left open: the scanner ran out of file
    inside a quoted scalar, or a quoted scalar spanning lines ends on the line that fails."""
    context, problem = exc.context_mark, exc.problem_mark
    if context is not None and (exc.context or "").endswith("quoted scalar") and "end of stream" in (exc.problem or ""):
        lines = text.split("\n")
        here = lines[context.line] if context.line < len(lines) else ""
        quote = here[context.column:context.column + 1]
        return context.line + 1, quote if quote in ("'", '"') else '"', None
    if problem is None:
        return None
    lines = text.split("\n")
    here = lines[problem.line][:problem.column + 1] if problem.line < len(lines) else ""
    if "'" not in here and '"' not in here:  # no quote closes on the failing line before the failure: no scan
        return None
    found = None
    try:
        for token in yaml.scan(text, Loader=Loader):
            if token.start_mark.index > problem.index:
                break
            if type(token) is yaml.ScalarToken and token.style in ("'", '"') and token.start_mark.line < token.end_mark.line:
                found = token
    except yaml.YAMLError:
        pass
    if found is None or found.end_mark.line != problem.line:
        return None
    return found.start_mark.line + 1, found.style, found.end_mark.line + 1


_OPEN = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
_NODE = _OPEN + (yaml.ScalarEvent, yaml.AliasEvent)


def _bounded(text: str) -> None:
    """Count nodes and depth from the event stream (constant memory) before composing:
    composing millions of nodes would take gigabytes before the walker could count them."""
    count = depth = 0
    for event in yaml.parse(text, Loader=Loader):
        if isinstance(event, _NODE):
            count += 1
            if count > MAX_NODES:
                raise SourceProblem(event.start_mark.line + 1, f"document has over {MAX_NODES} nodes")
            if isinstance(event, _OPEN):
                depth += 1
                if depth > MAX_DEPTH + 1:
                    raise SourceProblem(event.start_mark.line + 1, f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, _CLOSE):
            depth -= 1


class _Walker:
    """Nodes to values. Collections are remembered by identity, so an alias is
    shared (and counted once); scalars are cheap and just read again."""

    def __init__(self) -> None:
        self.seen: dict[int, object] = {}
        self.count = 0

    def value(self, node, depth: int):
        if type(node) is ScalarNode:
            self.count += 1
            return node.value if node.tag == _STR else scalar(node)
        done = self.seen.get(id(node))
        if done is not None:
            return done
        self.count += 1
        line = node.start_mark.line + 1
        if self.count > MAX_NODES:
            raise SourceProblem(line, f"document has over {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise SourceProblem(line, f"nested deeper than {MAX_DEPTH} levels")
        if node.tag not in (_SEQ, _MAP):  # e.g. !!python/object, !!set, !!omap
            raise SourceProblem(line, f"unsupported YAML tag {node.tag!r}")
        depth += 1
        if isinstance(node, SequenceNode):
            items = YList()
            items.line = line
            items.item_lines = lines = []
            self.seen[id(node)] = items
            for child in node.value:
                items.append(self.value(child, depth))
                lines.append(child.start_mark.line + 1)
            self._bounded(line)
            return items
        out = YMap()
        out.line = line
        out.key_lines = key_lines = {}
        out.raw = raw = {}
        self.seen[id(node)] = out
        for key_node, value_node in node.value:
            at = key_node.start_mark.line + 1
            if type(key_node) is not ScalarNode:
                raise SourceProblem(at, "a mapping key must be a plain name, not a list or mapping")
            key = key_node.value
            if key in key_lines:
                raise SourceProblem(at, f"duplicate key {key!r} (first on line {key_lines[key]})")
            if type(value_node) is ScalarNode:
                self.count += 1
                text = value_node.value
                out[key] = text if value_node.tag == _STR else scalar(value_node)
                raw[key] = text
            else:
                out[key] = self.value(value_node, depth)
            key_lines[key] = at
        self._bounded(line)
        return out

    def _bounded(self, line: int) -> None:
        if self.count > MAX_NODES:
            raise SourceProblem(line, f"document has over {MAX_NODES} nodes")


def scalar(node):
    tag = node.tag
    if tag == _TAG + "str":
        return node.value
    if tag == _TAG + "null":
        return None
    try:
        if tag == _TAG + "int":
            return _constructor.construct_yaml_int(node)
        if tag == _TAG + "bool":
            return _constructor.construct_yaml_bool(node)
        if tag == _TAG + "float":
            return _constructor.construct_yaml_float(node)
        if tag == _TAG + "timestamp":
            return _constructor.construct_yaml_timestamp(node)
    except (ValueError, OverflowError, ConstructorError):
        return node.value  # as written; the schema check reports it precisely
    raise SourceProblem(node.start_mark.line + 1, f"unsupported YAML tag {tag!r}")
