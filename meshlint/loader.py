"""Files, directories and stdin → Documents whose every node keeps its place in the file.

The lint path parses with libyaml's C parser (``compose``: nodes with line/column marks) while the
garbage collector is paused, then builds plain Python data with a small constructor of our own that
also finds duplicate keys, template placeholders written as YAML flow mappings, alias bombs and
runaway nesting. The node tree stays with each document so that any field path can be turned back
into a line and column; it is dropped once the document's findings have been placed.

Plain scalars are read as Kubernetes reads them (sigs.k8s.io/yaml, a YAML 1.1 reader): ``yes``,
``on`` and ``y`` are true, ``0x1F`` is 31, ``1_000`` is 1000, ``1e3`` is a number, ``12:30`` and
timestamps stay text, and mapping keys are the strings JSON would have (``8080:`` → ``"8080"``).

Every problem with the input becomes a :class:`~meshlint.diagnostics.Diagnostic`; nothing here
raises on bad input.
"""

from __future__ import annotations

import codecs
import gc
import math
import os
import re
import stat
import struct
import sys
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatch
from typing import Any

import yaml
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from meshlint.diagnostics import Diagnostic, FieldPath, Severity, Span
from meshlint.verdicts import keep_verdict

try:  # libyaml binding; the pure-Python parser gives the same nodes, only slower
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

# Codes of the problems the loader itself finds. Their metadata (summary, rationale, examples)
# lives with the document rules in meshlint/rules/document/loading.py.
IO_ERROR = "ML100"
SYNTAX = "ML101"
DUPLICATE_KEY = "ML102"
ENCODING = "ML103"
NOT_A_RESOURCE = "ML104"
TOO_COMPLEX = "ML105"
COMPLEX_KEY = "ML106"

MAX_DEPTH = 100
MAX_ALIAS_EXPANSION = 10_000
YAML_SUFFIXES = (".yaml", ".yml", ".json")

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"

# Line breaks as libyaml counts them (and so as every mark's line is numbered).
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# Characters Python's str.splitlines() also breaks at, but YAML does not.
_OTHER_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e]")


class _Lazy:
    """A regex compiled when first used: most runs read only printable text, without a
    syntax error, and never need it."""

    __slots__ = ("_compiled", "_flags", "_pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._pattern, self._flags = pattern, flags
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = re.compile(self._pattern, self._flags)
        return getattr(self._compiled, name)


# What YAML 1.1 allows in a stream (libyaml's reader refuses everything else).
_NOT_PRINTABLE = _Lazy("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DOC_START = _Lazy("(?:\\A|(?<=[\r\n\x85\u2028\u2029]))---(?=[ \t\r\n\x85\u2028\u2029]|\\Z)")
_SOURCE_COMMENT = re.compile(r"^# Source: (.+?)\s*$", re.M)
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n\r"
# What may come just before an anchor (&name).
_BEFORE_ANCHOR = frozenset(" \t\r\n[{,:\x85\u2028\u2029\ufeff")


@dataclass(slots=True)
class Source:
    """One file (or stdin) as read: the name shown to the user and its decoded text."""

    name: str
    text: str
    _lines: list[str] | None = field(default=None, repr=False)

    @property
    def lines(self) -> list[str]:
        """The lines of the text, numbered as every span numbers them."""
        if self._lines is None:
            text = self.text
            if _OTHER_BREAKS.search(text) is None:
                self._lines = text.splitlines()
            else:
                lines = _BREAK.split(text)
                if lines and lines[-1] == "":
                    lines.pop()
                self._lines = lines
        return self._lines

    def line(self, number: int) -> str:
        lines = self.lines
        return lines[number - 1] if 0 < number <= len(lines) else ""


@dataclass(slots=True)
class Document:
    """One YAML document (or one item of a ``kind: List``) of a source."""

    source: Source
    index: int
    data: Any
    node: Node | None
    span: Span
    origin: str | None = None
    item: int | None = None  # position in the items of a List document
    places: Places | None = None  # where its nodes are, when its reading kept them
    # Every mapping key written in the document (in a List, in the whole List), when known:
    # a rule that needs a key none of them is (see Rule.needs) is not run on it.
    words: set[str] | None = None

    @property
    def line(self) -> int:
        return self.span.line

    def locate(self, path: FieldPath, *, key: bool = False, at: int | None = None) -> Span:
        """The span of the value at ``path``, or of its key when ``key`` is true; with ``at``,
        of the character at that offset of the value when the value is a string.

        A path that leaves the document (a missing required field, say) lands on the key of
        the deepest part that exists, which is where the user has to add it. Keys brought in
        by a merge (``<<: *base``) are found where the anchor defines them.
        """
        node = self.node
        if node is None:
            return self.span
        key_node: Node | None = None
        text = self.source.text
        for elem in path:
            cls = node.__class__
            if cls is MappingNode:
                found = _find_key(node, str(elem), text, 0)  # type: ignore[arg-type]
                if found is None:
                    return _span(key_node or node)
                key_node, node = found
            elif cls is SequenceNode and type(elem) is int:
                items = node.value
                if not 0 <= elem < len(items):
                    return _span(key_node or node)
                node = key_node = items[elem]
            else:
                break
        if key and key_node is not None:
            return _span(key_node)
        if at is not None and node.__class__ is ScalarNode and isinstance(node.value, str):
            return _char_span(self.source, node, at)
        return _span(node)


# What each slot of a :class:`Places` holds.
_P_SCALAR, _P_SEQUENCE, _P_MAPPING, _P_KEY, _P_MERGE, _P_OTHER_KEY = range(6)
_P_WIDTH = 6  # kind, line, column, end line, end column, slots of its subtree


class Places:
    """Where every node of one document is, kept compactly once its node tree is freed, so
    that a finding made later (by the cross-resource rules) is placed as
    :meth:`Document.locate` would have placed it, without parsing the file again.

    The nodes are numbered in document order (a mapping, then each of its keys and values);
    each has six small integers: its kind, its span (lines counted from ``base``, as libyaml
    counts them from 0) and the number of slots of its subtree, or for a mapping key, the
    position in ``keys`` of the text it matches. ``keys`` is the table of the key texts of
    the whole file, or run (:class:`KeyTable`), shared by its documents.
    """

    __slots__ = ("base", "keys", "nums", "span")

    def __init__(self, span: Span, base: int, nums: bytes | array[int], keys: list[str]):
        self.span = span
        self.base = base
        self.nums = nums
        self.keys = keys

    @classmethod
    def of(cls, doc: Document) -> Places:
        """The places of a document: those its reading kept, or, when it kept none (a document
        with anchors, an item of a List), from its node tree, which is still there."""
        if doc.places is not None:
            return doc.places
        node = doc.node
        if node is None:
            return cls(doc.span, 0, b"", [])
        nums: list[int] = []
        keys = KeyTable()
        base = node.start_mark.line
        if node.__class__ is ScalarNode:
            s, e = node.start_mark, node.end_mark
            nums.extend((_P_SCALAR, 0, s.column, e.line - base, e.column, 1))
        else:
            _place(node, nums, keys, base, doc.source.text)
        return cls.pack(doc.span, base, nums, keys)

    def __reduce__(self) -> tuple[Any, ...]:
        # (a helper process sends thousands of them: the constructor's arguments pickle in C)
        span = self.span
        return (
            _unpickle_places,
            (
                span.line,
                span.column,
                span.end_line,
                span.end_column,
                self.base,
                self.nums,
                self.keys,
            ),
        )

    @classmethod
    def pack(cls, span: Span, base: int, nums: list[int], keys: KeyTable) -> Places:
        """Places from the slots of a document, in the smallest array that holds them: for
        most documents, ``bytes``, which ``bytes()`` builds from a list in C far faster than
        ``array()`` does, and which a helper process sends as it is."""
        packed: bytes | array[int]
        try:
            packed = bytes(nums)
        except ValueError:
            packed = array("H" if max(nums) < 0x10000 else "I", nums)
        return cls(span, base, packed, keys.words)

    def _span(self, slot: int) -> Span:
        i = slot * _P_WIDTH
        n, base = self.nums, self.base + 1
        line, col, end_line, end_col = n[i + 1] + base, n[i + 2] + 1, n[i + 3] + base, n[i + 4] + 1
        if (end_line, end_col) <= (line, col):
            end_line, end_col = line, col + 1
        return Span(line, col, end_line, end_col)

    def _items(self, slot: int) -> Iterator[int]:
        """The slots of the items of a sequence."""
        n = self.nums
        child = slot + 1
        end = slot + n[slot * _P_WIDTH + 5]
        while child < end:
            yield child
            child += n[child * _P_WIDTH + 5]

    def _pairs(self, slot: int) -> Iterator[tuple[int, int]]:
        """The slots of the keys and values of a mapping (a key is one slot)."""
        n = self.nums
        key = slot + 1
        end = slot + n[slot * _P_WIDTH + 5]
        while key < end:
            yield key, key + 1
            key += 1 + n[(key + 1) * _P_WIDTH + 5]

    def locate(self, path: FieldPath, *, key: bool = False) -> Span:
        """The span :meth:`Document.locate` gives for ``path`` (and ``key``)."""
        nums = self.nums
        if not nums:
            return self.span
        slot, key_slot = 0, -1
        for elem in path:
            kind = nums[slot * _P_WIDTH]
            if kind == _P_MAPPING:
                found = self._find_key(slot, str(elem), 0)
                if found is None:
                    return self._span(key_slot if key_slot >= 0 else slot)
                key_slot, slot = found
            elif kind == _P_SEQUENCE and type(elem) is int:
                if elem < 0:
                    return self._span(key_slot if key_slot >= 0 else slot)
                for i, child in enumerate(self._items(slot)):
                    if i == elem:
                        slot = key_slot = child
                        break
                else:
                    return self._span(key_slot if key_slot >= 0 else slot)
            else:
                break
        if key and key_slot >= 0:
            return self._span(key_slot)
        return self._span(slot)

    def _find_key(self, slot: int, want: str, depth: int) -> tuple[int, int] | None:
        """As :func:`_find_key`, over slots."""
        nums, keys = self.nums, self.keys
        found = None
        merges: list[int] | None = None
        for k, v in self._pairs(slot):
            i = k * _P_WIDTH
            kind = nums[i]
            if kind == _P_KEY:
                if keys[nums[i + 5]] == want:
                    found = (k, v)
            elif kind == _P_MERGE:
                merges = [v] if merges is None else [*merges, v]
        if found is None and merges is not None and depth < MAX_DEPTH:
            for merge in merges:
                kind = nums[merge * _P_WIDTH]
                sources = self._items(merge) if kind == _P_SEQUENCE else iter((merge,))
                for src in sources:
                    if nums[src * _P_WIDTH] == _P_MAPPING:
                        hit = self._find_key(src, want, depth + 1)
                        if hit is not None:
                            return hit
        return found

    def size(self) -> int:
        """Bytes held by these places alone (not their file's key table, nor the keys' texts,
        which the data shares)."""
        return sys.getsizeof(self) + sys.getsizeof(self.nums)


def _unpickle_places(
    line: int, column: int, end_line: int, end_column: int, base: int, nums: Any, keys: Any
) -> Places:
    return Places(Span(line, column, end_line, end_column), base, nums, keys)


class KeyTable:
    """The distinct mapping-key texts of a file or a run, each numbered once: what :class:`Places`
    keep of a key is its number (a document repeats a few dozen keys thousands of times)."""

    __slots__ = ("numbers", "words")

    def __init__(self) -> None:
        self.words: list[str] = []
        self.numbers: dict[str, int] = {}

    def number(self, word: str) -> int:
        n = self.numbers.get(word)
        if n is None:
            n = self.numbers[word] = len(self.words)
            self.words.append(word)
        return n


def _place(node: Node, nums: list[int], keys: KeyTable, base: int, text: str) -> None:
    """Add the slots of a collection node and its subtree (see :class:`Places`)."""
    add = nums.extend
    slot = len(nums)
    s, e = node.start_mark, node.end_mark
    if node.__class__ is SequenceNode:
        add((_P_SEQUENCE, s.line - base, s.column, e.line - base, e.column, 0))
        for child in node.value:
            if child.__class__ is ScalarNode:
                s, e = child.start_mark, child.end_mark
                add((_P_SCALAR, s.line - base, s.column, e.line - base, e.column, 1))
            else:
                _place(child, nums, keys, base, text)
    else:
        add((_P_MAPPING, s.line - base, s.column, e.line - base, e.column, 0))
        for k, v in node.value:
            _place_key(k, nums, keys, base, text)
            if v.__class__ is ScalarNode:
                s, e = v.start_mark, v.end_mark
                add((_P_SCALAR, s.line - base, s.column, e.line - base, e.column, 1))
            else:
                _place(v, nums, keys, base, text)
    nums[slot + 5] = (len(nums) - slot) // _P_WIDTH


def _place_key(k: Node, nums: list[int], keys: KeyTable, base: int, text: str) -> None:
    """Add the slot of a mapping key: the text it matches (see :func:`_find_key`), or that it
    merges (``<<``) or matches nothing (a list or mapping that is not a template)."""
    s, e = k.start_mark, k.end_mark
    where = (s.line - base, s.column, e.line - base, e.column)
    kind, word = _P_KEY, None
    if k.__class__ is ScalarNode:
        tag = k.tag
        if tag == _STR:
            word = _intern(k.value)
        elif tag == _MERGE:
            kind = _P_MERGE
        else:
            word = _json_key(_scalar(k))
    else:
        word = _template_text(k, text)
        if word is None:
            kind = _P_OTHER_KEY
    if word is not None:
        nums.extend((_P_KEY, *where, keys.number(word)))
    else:
        nums.extend((kind, *where, 0))


# Escapes of double-quoted scalars that stand for one character.
_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_HEX = {"x": 2, "u": 4, "U": 8}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _scalar_chars(lines: list[str], style: str | None) -> Iterator[tuple[str, int, int]]:
    """The characters of a scalar's source (``lines``, from its first character to its end)
    that its value holds as written or as escapes: (character, line, column), both 0-based
    in ``lines``. Line breaks, indentation and folding are left out."""
    if style in ("|", ">"):
        body = lines[1:]
        filled = [ln for ln in body if ln.strip()]
        indent = len(filled[0]) - len(filled[0].lstrip(" ")) if filled else 0
        for n, ln in enumerate(body, 1):
            for c in range(indent, len(ln)):
                yield ln[c], n, c
        return
    quote = style if style in ("'", '"') else None
    for n, ln in enumerate(lines):
        start = 1 if quote and n == 0 else 0
        end = len(ln)
        if n == len(lines) - 1 and quote and end and ln[end - 1] == quote:
            end -= 1
        if n:
            start = len(ln) - len(ln.lstrip(" \t"))
        c = start
        while c < end:
            ch = ln[c]
            if quote == "'" and ch == "'" and c + 1 < end and ln[c + 1] == "'":
                yield "'", n, c
                c += 2
            elif quote == '"' and ch == "\\" and c + 1 < len(ln):
                e = ln[c + 1]
                if e in _HEX:
                    digits = ln[c + 2 : c + 2 + _HEX[e]]
                    if len(digits) == _HEX[e] and all(d in _HEX_DIGITS for d in digits):
                        yield chr(min(int(digits, 16), sys.maxunicode)), n, c
                    c += 2 + _HEX[e]
                else:
                    if e in _ESCAPES:
                        yield _ESCAPES[e], n, c
                    c += 2
            else:
                yield ch, n, c
                c += 1


def _char_span(source: Source, node: ScalarNode, at: int) -> Span:
    """The span of the character at offset ``at`` of a string scalar's value (the end of the
    line before it when it is a line break or a space that folding made)."""
    return char_span(source, _span(node), node.value, node.style, at)


def scalar_style(source: Source, span: Span) -> str | None:
    """The style of the scalar written at ``span`` (as a node's ``style``: None for plain)."""
    first = source.line(span.line)[span.column - 1 : span.column]
    return first if first in ("'", '"', "|", ">") else None


def char_span(source: Source, whole: Span, value: str, style: str | None, at: int) -> Span:
    """The span of the character at offset ``at`` of the string ``value``, written at
    ``whole`` in ``source`` in the given scalar style."""
    first = whole.line
    lines = [source.line(n) for n in range(first, whole.end_line + 1)]
    if not lines:
        return whole
    lines[-1] = lines[-1][: whole.end_column - 1] if len(lines) > 1 else lines[-1]
    lines[0] = lines[0][whole.column - 1 :]
    if len(lines) == 1:
        lines[0] = lines[0][: whole.end_column - whole.column]
    at = max(0, min(at, len(value)))
    chars = _scalar_chars(lines, style)
    place = (0, 0)
    nxt = next(chars, None)
    for i in range(at + 1):
        here = value[i] if i < len(value) else None
        if nxt is not None and here == nxt[0]:
            place = (nxt[1], nxt[2])
            if i < at:
                place = (nxt[1], nxt[2] + 1)
                nxt = next(chars, None)
        elif i == at:
            break
    n, c = place
    line = first + n
    column = (whole.column if n == 0 else 1) + c
    return Span(line, column, line, column + 1)


@dataclass(slots=True)
class LoadResult:
    sources: list[Source] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    io_error: bool = False
    # When set, each document goes to it as soon as it is read (its node tree is the only one
    # alive), instead of into ``documents``; it runs with the garbage collector paused.
    each: Callable[[Document], None] | None = None
    # The table of the key texts of the documents' places; when set, shared by every source
    # read into this result's run (a run repeats a few hundred keys over thousands of files).
    keys: KeyTable | None = None

    def add(self, doc: Document) -> None:
        if self.each is not None:
            self.each(doc)
        else:
            self.documents.append(doc)


def _span(node: Node) -> Span:
    s, e = node.start_mark, node.end_mark
    line, col = s.line + 1, s.column + 1
    end_line, end_col = e.line + 1, e.column + 1
    if (end_line, end_col) <= (line, col):
        end_line, end_col = line, col + 1
    return Span(line, col, end_line, end_col)


def _find_key(node: MappingNode, want: str, text: str, depth: int) -> tuple[Node, Node] | None:
    """The (key, value) nodes of ``want`` in a mapping: the last one written wins, as in the
    data; then the mappings merged into it, the first of them first."""
    found = None
    merges: list[Node] | None = None
    for k, v in node.value:
        if k.__class__ is ScalarNode:
            tag = k.tag
            if tag == _STR:
                if k.value == want:
                    found = (k, v)
            elif tag == _MERGE:
                merges = [v] if merges is None else [*merges, v]
            elif _json_key(_scalar(k)) == want:
                found = (k, v)
        elif _template_text(k, text) == want:
            found = (k, v)
    if found is None and merges is not None and depth < MAX_DEPTH:
        for merge in merges:
            sources = merge.value if merge.__class__ is SequenceNode else [merge]
            for src in sources:
                if src.__class__ is MappingNode:
                    hit = _find_key(src, want, text, depth + 1)
                    if hit is not None:
                        return hit
    return found


def _template_text(node: Node, text: str) -> str | None:
    """``host: {{.service}}`` is a flow mapping in YAML; give back the text the user wrote."""
    if node.__class__ is not MappingNode or not node.flow_style:
        return None
    start = node.start_mark.index
    if not text.startswith("{{", start):
        return None
    raw = text[start : node.end_mark.index]
    return raw if raw.endswith("}}") else None


# --------------------------------------------------------------------------------------------
# Scalars, as Kubernetes' YAML reader (go-yaml v2 behind sigs.k8s.io/yaml) resolves them
# --------------------------------------------------------------------------------------------

_TRUE = ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")
_FALSE = ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")
_NULLS = ("", "~", "null", "Null", "NULL")
_INF = (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")
_NEG_INF = ("-.inf", "-.Inf", "-.INF")
_NAN = (".nan", ".NaN", ".NAN")

_CONSTANTS: dict[str, Any] = {
    **dict.fromkeys(_TRUE, True),
    **dict.fromkeys(_FALSE, False),
    **dict.fromkeys(_NULLS, None),
    **dict.fromkeys(_INF, math.inf),
    **dict.fromkeys(_NEG_INF, -math.inf),
    **dict.fromkeys(_NAN, math.nan),
}
_PLAIN_TAGS: dict[str, str] = {
    **dict.fromkeys(_TRUE + _FALSE, _BOOL),
    **dict.fromkeys(_NULLS, _NULL),
    **dict.fromkeys(_INF + _NEG_INF + _NAN, _FLOAT),
    "<<": _MERGE,
}
_NUMBER_START = frozenset("0123456789+-.")
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|[0-9]+)\Z")
_GO_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_GO_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?\Z")
_INT64 = 1 << 63
_UINT64 = 1 << 64


def _go_number(value: str) -> int | float | None:
    """A plain scalar read as go-yaml v2 reads it, or None when it stays text."""
    if value[0] == ".":
        if _GO_DOT_FLOAT.match(value):
            f = float(value)
            return f if f != math.inf else None
        return None
    plain = value.replace("_", "") if "_" in value else value
    if _GO_INT.match(plain):
        sign = plain[0] in "+-"
        body = plain[1:] if sign else plain
        n: int | None
        if len(body) > 1 and body[0] == "0":
            base = {"x": 16, "X": 16, "b": 2, "B": 2, "o": 8, "O": 8}.get(body[1])
            if base is not None:
                n = int(body[2:], base)
            else:  # 0777 is octal; 089 is no integer at all
                n = int(body, 8) if "8" not in body and "9" not in body else None
        else:
            n = int(body) if len(body) <= 40 else None
        if n is not None:
            if plain[0] == "-":
                n = -n
            if -_INT64 <= n < _INT64 or (not sign and 0 <= n < _UINT64):
                return n
    if _GO_FLOAT.match(plain):
        f = float(plain)
        return f if not math.isinf(f) else None
    return None


_NUMBERS: dict[str, int | float | None] = {}  # plain scalars read by _go_number, bounded
_UNSEEN = object()


def _number(value: str) -> int | float | None:
    """:func:`_go_number`, its verdicts kept: ports, weights, durations and quantities (``9080``,
    ``5s``, ``100m``) repeat throughout a repository."""
    number = _NUMBERS.get(value, _UNSEEN)
    if number is _UNSEEN:
        number = _go_number(value)
        if len(value) <= 32:
            keep_verdict(_NUMBERS, value, number)
    return number  # type: ignore[return-value]


class _ComposeLoader(_Loader):
    """libyaml's composer with Kubernetes' scalar resolution instead of PyYAML's YAML 1.1.

    The composer calls these three methods for every node; they are kept as short as can be.
    """

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if not implicit[0]:  # quoted, a block scalar, or tagged '!'
                return _STR
            tag = _PLAIN_TAGS.get(value)
            if tag is not None:
                return tag
            if value[0] in _NUMBER_START:
                number = _number(value)
                if number is not None:
                    return _INT if number.__class__ is int else _FLOAT
            return _STR
        return _SEQ if kind is SequenceNode else _MAP

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass  # no path resolvers

    def ascend_resolver(self) -> None:
        pass


_fallback = yaml.SafeLoader("")  # only its scalar constructors are used, for explicit tags


def _scalar(node: ScalarNode) -> Any:
    tag, value = node.tag, node.value
    if tag == _STR:
        return value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        const = _CONSTANTS.get(value)
        return const if const.__class__ is bool else value.lower() in ("y", "yes", "true", "on")
    if tag in (_INT, _FLOAT):
        const = _CONSTANTS.get(value)
        if const.__class__ is float:
            return const
        number = _number(value) if value else None
        if number is not None:
            return float(number) if tag == _FLOAT else number
        try:  # an explicit !!int or !!float the resolver would not have chosen
            if tag == _INT:
                return _fallback.construct_yaml_int(node)
            return _fallback.construct_yaml_float(node)
        except (ValueError, IndexError, yaml.YAMLError):
            return value
    # Timestamps, binary and custom tags stay text: the API server sees them as strings.
    return value


def _json_key(value: Any) -> str:
    """Mapping keys as Kubernetes' YAML-to-JSON conversion spells them."""
    if value.__class__ is str:
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return _go_float_key(value)
    return str(value)


def _go_float_key(value: float) -> str:
    """``strconv.FormatFloat(f, 'g', -1, 32)``, which sigs.k8s.io/yaml uses for float keys."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    try:
        f32 = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return ".inf" if value > 0 else "-.inf"
    if f32 == 0:
        return "0" if math.copysign(1, f32) > 0 else "-0"
    for digits in range(1, 10):  # the shortest text that reads back as the same float32
        text = f"{f32:.{digits - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == f32:
            break
    mantissa, exp_text = text.split("e")
    exp = int(exp_text)
    sign = "-" if mantissa.startswith("-") else ""
    digits_text = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0"
    if exp < -4 or exp >= 6:
        head = digits_text[0] + ("." + digits_text[1:] if len(digits_text) > 1 else "")
        return f"{sign}{head}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits_text}"
    if len(digits_text) <= exp + 1:
        return sign + digits_text + "0" * (exp + 1 - len(digits_text))
    return f"{sign}{digits_text[: exp + 1]}.{digits_text[exp + 1 :]}"


# --------------------------------------------------------------------------------------------
# Nodes → data
# --------------------------------------------------------------------------------------------


# Keys, and short text values, are interned: a run keeps the data of thousands of resources
# whose keys (and many values: hosts, subsets, ports' names) are the same few words.
_intern = sys.intern
_INTERNED = 40


class _Abort(Exception):
    def __init__(self, message: str, node: Node) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


class _Builder:
    """Turns a composed node tree into plain data, reporting what a lenient loader hides.

    When the text holds no anchor the tree is a plain tree and is walked without any
    bookkeeping, and the same walk writes down where each node is (:meth:`places`). Otherwise
    every collection is remembered: one reached again is an alias (its expanded size counts
    against :data:`MAX_ALIAS_EXPANSION`), one reached while it is being built is a cycle; the
    places are then left to :meth:`Places.of`, which walks aliases as the tree they stand for.
    """

    __slots__ = (
        "active",
        "alias_total",
        "base",
        "built",
        "diagnostics",
        "keys",
        "measured",
        "name",
        "nums",
        "shared",
        "text",
        "words",
    )

    def __init__(
        self,
        name: str,
        text: str,
        diagnostics: list[Diagnostic],
        shared: bool,
        keys: KeyTable | None = None,
    ) -> None:
        self.name = name
        self.text = text
        self.diagnostics = diagnostics
        self.shared = shared
        self.built: dict[int, Any] = {}
        self.active: set[int] = set()
        self.measured: dict[int, tuple[int, int]] = {}
        self.alias_total = 0
        # The slots of the places (see Places), written as the tree is walked; None: not kept.
        self.nums: list[int] | None = None if shared else []
        self.keys = keys if keys is not None else KeyTable()
        self.base = 0
        self.words: set[str] = set()  # every key of the mappings built

    def build(self, node: Node) -> Any:
        self.base = node.start_mark.line
        if node.__class__ is ScalarNode:
            if self.nums is not None:
                s, e = node.start_mark, node.end_mark
                self.nums.extend((_P_SCALAR, 0, s.column, e.line - self.base, e.column, 1))
            return _scalar(node)
        return self._collection(node, 0)

    def places(self, span: Span) -> Places | None:
        """Where the nodes of the tree just built are, if they were kept."""
        if self.nums is None:
            return None
        return Places.pack(span, self.base, self.nums, self.keys)

    def _collection(self, node: Node, depth: int) -> Any:
        if self.shared:
            ident = id(node)
            if ident in self.built:
                return self._alias(node, depth)
            if ident in self.active:
                raise _Abort(
                    "an alias refers to the node that contains it (a cycle); "
                    "the document is skipped",
                    node,
                )
            self.active.add(ident)
        if depth > MAX_DEPTH:
            raise _Abort(
                f"nesting is deeper than {MAX_DEPTH} levels; the document is skipped", node
            )
        if node.__class__ is SequenceNode:
            value: Any = []
            append = value.append
            nums = self.nums
            if nums is None:
                for child in node.value:
                    if child.__class__ is ScalarNode:
                        append(child.value if child.tag == _STR else _scalar(child))
                    else:
                        append(self._collection(child, depth + 1))
            else:
                base, add, slot = self.base, nums.extend, len(nums)
                s, e = node.start_mark, node.end_mark
                add((_P_SEQUENCE, s.line - base, s.column, e.line - base, e.column, 0))
                for child in node.value:
                    if child.__class__ is ScalarNode:
                        s, e = child.start_mark, child.end_mark
                        add((_P_SCALAR, s.line - base, s.column, e.line - base, e.column, 1))
                        append(child.value if child.tag == _STR else _scalar(child))
                    else:
                        append(self._collection(child, depth + 1))
                nums[slot + 5] = (len(nums) - slot) // _P_WIDTH
        else:
            value = self._mapping(node, depth)  # type: ignore[arg-type]
        if self.shared:
            self.active.discard(ident)
            self.built[ident] = value
        return value

    def _alias(self, node: Node, depth: int) -> Any:
        size, height = self._measure(node)
        self.alias_total += size
        if self.alias_total > MAX_ALIAS_EXPANSION:
            raise _Abort(
                f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes "
                '(a "billion laughs" alias bomb?); the document is skipped',
                node,
            )
        if depth + height > MAX_DEPTH:
            raise _Abort(
                f"nesting (through aliases) is deeper than {MAX_DEPTH} levels; "
                "the document is skipped",
                node,
            )
        return self.built[id(node)]

    def _measure(self, node: Node) -> tuple[int, int]:
        """(nodes, levels) of a built collection, aliases expanded."""
        ident = id(node)
        known = self.measured.get(ident)
        if known is not None:
            return known
        size, height = 1, 0
        if node.__class__ is SequenceNode:
            children: Iterable[Node] = node.value
        else:
            children = (n for pair in node.value for n in pair)
        for child in children:
            if child.__class__ is ScalarNode:
                size += 1
            else:
                n, h = self._measure(child)
                size += n
                height = max(height, h + 1)
        self.measured[ident] = (size, height)
        return size, height

    def _mapping(self, node: MappingNode, depth: int) -> Any:
        nums, keys = self.nums, self.keys
        numbers = keys.numbers
        if node.flow_style:
            template = _template_text(node, self.text)
            if template is not None:
                if nums is not None:
                    _place(node, nums, keys, self.base, self.text)
                return template
        out: dict[str, Any] = {}
        pairs = node.value
        exact = True  # every entry went into `out` under its own key
        base, slot = self.base, 0
        if nums is not None:
            slot = len(nums)
            s, e = node.start_mark, node.end_mark
            nums.extend((_P_MAPPING, s.line - base, s.column, e.line - base, e.column, 0))
        for key_node, value_node in pairs:
            if key_node.__class__ is ScalarNode and key_node.tag == _STR:
                key = _intern(key_node.value)
                if nums is not None:
                    s, e = key_node.start_mark, key_node.end_mark
                    number = numbers.get(key)
                    if number is None:
                        number = keys.number(key)
                    nums.extend((_P_KEY, s.line - base, s.column, e.line - base, e.column, number))
            else:
                if nums is not None:
                    _place_key(key_node, nums, keys, base, self.text)
                if key_node.__class__ is ScalarNode:
                    if key_node.tag == _MERGE:
                        self._merge(out, value_node, depth)
                        exact = False
                        continue
                    key = _json_key(_scalar(key_node))
                else:
                    template = _template_text(key_node, self.text)
                    if template is None:
                        self._report(
                            COMPLEX_KEY,
                            "a mapping key must be a plain value, not a "
                            + ("list" if key_node.__class__ is SequenceNode else "mapping")
                            + "; the entry is skipped",
                            key_node,
                        )
                        exact = False
                        self._skipped(value_node)
                        continue
                    key = template
            if value_node.__class__ is ScalarNode:
                if nums is not None:
                    s, e = value_node.start_mark, value_node.end_mark
                    nums.extend((_P_SCALAR, s.line - base, s.column, e.line - base, e.column, 1))
                if value_node.tag == _STR:
                    text = value_node.value
                    out[key] = _intern(text) if len(text) <= _INTERNED else text
                else:
                    out[key] = _scalar(value_node)
            else:
                out[key] = self._collection(value_node, depth + 1)
        if nums is not None:
            nums[slot + 5] = (len(nums) - slot) // _P_WIDTH
        self.words.update(out)
        if not exact or len(out) != len(pairs):
            self._duplicates(node, depth)
        return out

    def _merge(self, out: dict[str, Any], value_node: Node, depth: int) -> None:
        """``<<: *base`` or ``<<: [*a, *b]``: keys not set yet come from the merged mappings."""
        if value_node.__class__ is ScalarNode:
            self._skipped(value_node)
            return
        merged = self._collection(value_node, depth + 1)
        for m in merged if isinstance(merged, list) else [merged]:
            if isinstance(m, dict):
                for k, v in m.items():
                    out.setdefault(k, v)

    def _skipped(self, node: Node) -> None:
        """The places of a value that is not built (it still has its place in the text)."""
        nums = self.nums
        if nums is None:
            return
        if node.__class__ is ScalarNode:
            s, e, base = node.start_mark, node.end_mark, self.base
            nums.extend((_P_SCALAR, s.line - base, s.column, e.line - base, e.column, 1))
        else:
            _place(node, nums, self.keys, self.base, self.text)

    def _duplicates(self, node: MappingNode, depth: int) -> None:
        first: dict[str, Node] = {}
        for key_node, _ in node.value:
            if key_node.__class__ is ScalarNode:
                if key_node.tag == _MERGE:
                    continue
                key = _json_key(_scalar(key_node))
            else:
                template = _template_text(key_node, self.text)
                if template is None:
                    continue
                key = template
            prev = first.get(key)
            if prev is None:
                first[key] = key_node
                continue
            hint = ""
            if depth == 0 and key in ("apiVersion", "kind", "metadata", "spec"):
                hint = " Two resources in one document? Separate them with a line '---'."
            self._report(
                DUPLICATE_KEY,
                f"duplicate key '{key}' (first at line {prev.start_mark.line + 1}); "
                f"Kubernetes rejects it and lenient parsers keep only this later value.{hint}",
                key_node,
            )

    def _report(self, code: str, message: str, node: Node) -> None:
        self.diagnostics.append(Diagnostic(code, Severity.ERROR, message, self.name, _span(node)))


# --------------------------------------------------------------------------------------------
# Streams → documents
# --------------------------------------------------------------------------------------------


@contextmanager
def gc_paused() -> Iterator[None]:
    """The collector paused, then as it was: for a burst of objects that will live on (a
    document's data, what a helper process sent), which it would only scan in vain."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_TAB = "a tab character is used for indentation; YAML allows only spaces"
_PROBLEMS = (
    ("found character '\\t' that cannot start any token", _TAB),
    ("found a tab character where an indentation space is expected", _TAB),
    ("found a tab character that violates indentation", _TAB),
    (
        "mapping values are not allowed here",
        "a ':' is not allowed here: quote the value, or check the indentation of this line",
    ),
    (
        "mapping values are not allowed in this context",
        "a ':' is not allowed here: quote the value, or check the indentation of this line",
    ),
    ("could not find expected ':'", "expected 'key: value' here; check the indentation"),
    ("found undefined alias", "an alias (*name) refers to an anchor (&name) that is not defined"),
    ("found unhashable key", "a mapping key must be a plain value"),
)


# libyaml and PyYAML's own parser word an unclosed flow collection differently; both read so.
_UNCLOSED_FLOW = re.compile(r"^(?:did not find expected|expected) ',' or '([\]}])'")


def _explain(problem: str, context: str | None, template: bool) -> str:
    unclosed = _UNCLOSED_FLOW.match(problem)
    if unclosed:
        what = "list `[…]`" if unclosed.group(1) == "]" else "mapping `{…}`"
        message = f"expected ',' or '{unclosed.group(1)}': the {what} is not closed here"
        if context:
            message = f"{message} ({context})"
        if template:
            message += "; this line holds a template placeholder: was the template rendered?"
        return f"YAML syntax error: {message}"
    for known, text in _PROBLEMS:
        if problem.startswith(known):
            message = text
            break
    else:
        message = problem
        if context:
            message = f"{message} ({context})"
    if template:
        message += "; this line holds a template placeholder: was the template rendered?"
    return f"YAML syntax error: {message}"


def _describe(char: str) -> str:
    code = ord(char)
    if code == 0:
        return "a NUL character (U+0000)"
    if 0xD800 <= code <= 0xDFFF:
        return f"an unpaired surrogate (U+{code:04X})"
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"the control character U+{code:04X}"
    return f"the character U+{code:04X}"


class _SinkError(Exception):
    """An exception of a sink (not of the YAML), carried out of the composer untouched."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


_Sink = Callable[[Node | None], None]


def _compose(
    stream: str, sink: _Sink | None = None, skip: int = 0
) -> tuple[list[Node | None], BaseException | None]:
    """Compose every document; on an error, keep the documents already composed.

    With a ``sink``, each document goes to it as soon as it is composed (so that only one
    node tree is alive at a time) after the first ``skip``, and none is kept.
    """
    done: list[Node | None] = []
    loader = None
    count = 0
    try:
        loader = _ComposeLoader(stream)
        while loader.check_node():
            node = loader.get_node()
            if sink is None:
                done.append(node)
                continue
            count += 1
            if count > skip:
                try:
                    sink(node)
                except Exception as exc:
                    raise _SinkError(exc) from exc
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        return done, exc
    finally:
        if loader is not None:
            loader.dispose()
    return done, None


def _compose_like_go(
    stream: str, sink: _Sink | None = None
) -> tuple[list[Node | None], BaseException | None]:
    """:func:`_compose`, reading ``[2001:db8::, fe80::]`` as Kubernetes' go-yaml does.

    libyaml refuses a plain scalar in a flow collection that ends in ':' before ',', ']' or '}'
    (IPv6 addresses, say); go-yaml reads the ':' as part of the text. Each such ':' is swapped
    for a stand-in character of the same length, and swapped back in the composed scalars.
    With a ``sink`` (see :func:`_compose`), the documents before the ':' have gone to it
    already; they are not composed again.
    """
    delivered = 0
    stand_in: str | None = None

    def counted(node: Node | None) -> None:
        nonlocal delivered
        delivered += 1
        if stand_in is not None and node is not None:
            _swap_back(node, stand_in)
        sink(node)  # type: ignore[misc]

    nodes, exc = _compose(stream, counted if sink is not None else None)
    if not _is_flow_colon(exc):
        return nodes, exc
    stand_in = next((c for c in map(chr, range(0xE000, 0xF900)) if c not in stream), None)
    if stand_in is None:
        return nodes, exc
    chars = list(stream)
    for _ in range(100):
        if not _is_flow_colon(exc):
            break
        chars[exc.problem_mark.index] = stand_in  # type: ignore[union-attr]
        if sink is not None:
            nodes, exc = _compose("".join(chars), counted, delivered)
        else:
            nodes, exc = _compose("".join(chars))
    for root in nodes:
        if root is not None:
            _swap_back(root, stand_in)
    return nodes, exc


def _is_flow_colon(exc: BaseException | None) -> bool:
    return (
        isinstance(exc, yaml.MarkedYAMLError)
        and exc.problem == "found unexpected ':'"
        and exc.problem_mark is not None
    )


def _swap_back(root: Node, stand_in: str) -> None:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        cls = node.__class__
        if cls is ScalarNode:
            if stand_in in node.value:
                node.value = node.value.replace(stand_in, ":")
        elif cls is SequenceNode:
            stack.extend(node.value)
        else:
            for pair in node.value:
                stack.extend(pair)


def _shift(root: Node, lines: int, chars: int) -> None:
    """Move the marks of a tree composed from the tail of a text to their place in the text."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        ident = id(node)
        if ident in seen:
            continue
        seen.add(ident)
        s, e = node.start_mark, node.end_mark
        node.start_mark = Mark(s.name, s.index + chars, s.line + lines, s.column, None, 0)
        node.end_mark = Mark(e.name, e.index + chars, e.line + lines, e.column, None, 0)
        cls = node.__class__
        if cls is SequenceNode:
            stack.extend(node.value)
        elif cls is MappingNode:
            for pair in node.value:
                stack.extend(pair)


def _has_anchor(text: str) -> bool:
    """Can the text hold an anchor? Without one no alias can exist, and the constructor skips
    the bookkeeping that stops alias bombs and cycles."""
    pos = text.find("&")
    while pos >= 0:
        if pos == 0 or text[pos - 1] in _BEFORE_ANCHOR:
            return True
        pos = text.find("&", pos + 1)
    return False


class _LineIndex:
    """Where each line starts, lines counted as libyaml counts them."""

    __slots__ = ("starts",)

    def __init__(self, text: str) -> None:
        self.starts = [0]
        self.starts.extend(m.end() for m in _BREAK.finditer(text))

    def line_of(self, pos: int) -> int:
        return bisect_right(self.starts, pos)

    def start(self, line: int) -> int:
        return self.starts[min(max(line, 1), len(self.starts)) - 1]


def _printable_ascii(text: str) -> bool:
    """Whether the text is printable ASCII (and line breaks, tabs) only; tested by the
    megabyte, not with a copy of a large text."""
    if not text.isascii():
        return False
    step = 1 << 20
    for start in range(0, len(text), step):
        if text[start : start + step].encode("ascii").translate(None, _PRINTABLE_ASCII):
            return False
    return True


class _Stream:
    """One source being parsed: documents, then recovery after each syntax error."""

    def __init__(self, source: Source, result: LoadResult) -> None:
        self.source = source
        self.result = result
        self.text = source.text
        self._lines: _LineIndex | None = None
        self._origins: list[tuple[int, str]] | None = None
        self.index = 0
        self.floor = 0  # a '# Source:' comment above this line belongs to an earlier document
        self.reported: set[tuple[int, int]] = set()
        self.shared = False
        # the key texts of the places of every document of the source (or of the run)
        self.keys = result.keys if result.keys is not None else KeyTable()

    @property
    def lines(self) -> _LineIndex:
        if self._lines is None:
            self._lines = _LineIndex(self.text)
        return self._lines

    def run(self) -> None:
        text = self.text
        is_json = self.source.name.endswith(".json")
        if not _printable_ascii(text):
            bad = _NOT_PRINTABLE.search(text)
            if bad is not None:
                if is_json and self._json():  # JSON strings may hold what YAML refuses
                    return
                self._unprintable(bad)
        self.shared = _has_anchor(self.text)
        text = self.text
        pos = line0 = 0

        def sink(node: Node | None) -> None:  # each document as soon as it is composed
            if node is not None:
                if pos:
                    _shift(node, line0, pos)
                self._document(node)

        # A JSON file that YAML cannot read is read as JSON: its documents wait to be known.
        streamed = None if is_json else sink
        while True:
            nodes, exc = _compose_like_go(text[pos:] if pos else text, streamed)
            if pos:
                for node in nodes:
                    if node is not None:
                        _shift(node, line0, pos)
            if exc is not None and pos == 0 and is_json and self._json():
                return
            for node in nodes:
                if node is not None:
                    self._document(node)
            if exc is None:
                return
            error_line = self._error(exc, line0)
            nxt = self._next_document(max(error_line - 1, line0 + 1))
            if nxt is None:
                return
            line0 = nxt - 1
            pos = self.lines.start(nxt)
            self.floor = max(self.floor, nxt)

    def _unprintable(self, bad: re.Match[str]) -> None:
        """Report the first character YAML does not allow; read the rest with U+FFFD for it."""
        text = self.text
        where = bad.start()
        line = self.lines.line_of(where)
        col = where - self.lines.start(line) + 1
        more = len(_NOT_PRINTABLE.findall(text, where + 1))
        tail = f" ({more} more in the file)" if more else ""
        self._add(
            SYNTAX,
            f"YAML syntax error: {_describe(bad.group())} is not allowed in YAML"
            f"{tail}; it is read as U+FFFD here to check the rest",
            Span.point(line, col),
        )
        self.text = _NOT_PRINTABLE.sub("\ufffd", text)

    def _error(self, exc: BaseException, line0: int) -> int:
        """Report a syntax error (once); give its line."""
        mark = (
            exc.problem_mark or exc.context_mark if isinstance(exc, yaml.MarkedYAMLError) else None
        )
        if isinstance(exc, yaml.MarkedYAMLError) and mark is not None:
            line, col = mark.line + 1 + line0, mark.column + 1
            problem = exc.problem or str(exc)
            context = exc.context
            context_line = exc.context_mark.line + 1 + line0 if exc.context_mark else line
        else:
            line, col = line0 + 1, 1
            problem, context, context_line = str(exc) or type(exc).__name__, None, line
        if (line, col) in self.reported:
            return line
        self.reported.add((line, col))
        code = SYNTAX
        if problem.startswith("exceeded maximum nesting depth"):
            code = TOO_COMPLEX
            message = "nesting is deeper than the YAML parser allows; the document is skipped"
        else:
            line_text = self.source.line(line)
            lead = line_text[: len(line_text) - len(line_text.lstrip(" \t"))]
            if "\t" in lead and (
                problem.startswith("found character that cannot start any token")
                or "tab" in problem
                or line_text[col - 1 : col] == "\t"
            ):
                problem, context = _TAB, None
                col = lead.index("\t") + 1
            if context and context_line != line:
                context = f"{context} that starts at line {context_line}"
            template = any(
                "{{" in t or "{%" in t
                for t in (line_text, self.source.line(context_line), self._previous_line(line))
            )
            message = _explain(problem, context, template)
        self._add(code, message, Span.point(line, col))
        self.index += 1  # the broken document still had its place in the stream
        return line

    def _previous_line(self, line: int) -> str:
        for n in range(line - 1, max(line - 4, 0), -1):
            text = self.source.line(n)
            if text.strip():
                return text
        return ""

    def _next_document(self, after_line: int) -> int | None:
        """The first line after ``after_line`` that starts a document ('---')."""
        if after_line >= len(self.lines.starts):
            return None
        m = _DOC_START.search(self.text, self.lines.start(after_line + 1))
        return None if m is None else self.lines.line_of(m.start())

    def _add(self, code: str, message: str, span: Span) -> None:
        self.result.diagnostics.append(
            Diagnostic(code, Severity.ERROR, message, self.source.name, span)
        )

    def _origin(self, line: int) -> str | None:
        """The Helm ``# Source:`` comment above this document, if it is the document's own."""
        origins = self._origins
        if origins is None:
            origins = self._origins = []
            if "# Source: " in self.text:
                origins.extend(
                    (self.lines.line_of(m.start()), m.group(1))
                    for m in _SOURCE_COMMENT.finditer(self.text)
                )
        if not origins:
            return None
        i = bisect_right(origins, (line, "\U0010ffff")) - 1  # the last one at or above `line`
        if i < 0 or origins[i][0] <= self.floor:
            return None
        return origins[i][1]

    def _document(self, node: Node) -> None:
        source, result = self.source, self.result
        if (
            node.__class__ is ScalarNode
            and node.value == ""
            and node.tag == _NULL
            and not node.style
        ):
            # An empty document ('---' and nothing, a template that rendered to nothing).
            self.index += 1
            self.floor = max(self.floor, node.start_mark.line)
            return
        builder = _Builder(source.name, self.text, result.diagnostics, self.shared, self.keys)
        index = self.index
        self.index += 1
        span = _span(node)
        try:
            data = builder.build(node)
        except _Abort as exc:
            self._add(TOO_COMPLEX, exc.message, _span(exc.node))
            self.floor = max(self.floor, span.line)
            return
        except RecursionError:
            self._add(TOO_COMPLEX, "the document nests too deeply; it is skipped", span)
            self.floor = max(self.floor, span.line)
            return
        origin = self._origin(span.line)
        self.floor = max(self.floor, span.line)
        if data.__class__ is dict and _is_list_kind(data):
            items_node = _find_key(node, "items", self.text, 0)  # type: ignore[arg-type]
            items_seq = items_node[1] if items_node is not None else None
            items = data["items"]
            nodes: list[Node] | None = None
            if items_seq.__class__ is SequenceNode and len(items_seq.value) == len(items):
                nodes = items_seq.value
            for i, item in enumerate(items):
                item_node = nodes[i] if nodes is not None else None
                item_span = _span(item_node) if item_node is not None else span
                result.add(
                    Document(
                        source, index, item, item_node, item_span, origin, i, None, builder.words
                    )
                )
            return
        result.add(
            Document(
                source, index, data, node, span, origin, None, builder.places(span), builder.words
            )
        )

    def _json(self) -> bool:
        """A JSON file that YAML 1.1 cannot read (tabs, say) is still read: the data as JSON
        has it, the places from the same text with what YAML refuses blanked out."""
        text = self.source.text
        try:
            import json  # (a JSON file that YAML cannot read: rare)

            data = json.loads(text)
        except (ValueError, RecursionError):
            return False
        # Outside its strings JSON has nothing YAML refuses but tabs; inside them, what is
        # blanked out keeps the lengths, so the places stay right.
        yamlish = _NOT_PRINTABLE.sub("\ufffd", text.replace("\t", " "))
        yamlish = _JSON_SURROGATE.sub(r"\\u0020", yamlish)
        nodes, exc = _compose(yamlish)
        node = nodes[0] if exc is None and len(nodes) == 1 else None
        expected = (
            MappingNode
            if isinstance(data, dict)
            else (SequenceNode if isinstance(data, list) else ScalarNode)
        )
        if node is not None and node.__class__ is not expected:
            node = None
        span = _span(node) if node is not None else Span.point(1)
        self.result.add(Document(self.source, 0, data, node, span))
        return True


_JSON_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _is_list_kind(data: dict[str, Any]) -> bool:
    kind = data.get("kind")
    return (
        isinstance(kind, str)
        and kind.endswith("List")
        and "apiVersion" in data
        and isinstance(data.get("items"), list)
    )


def load_text(text: str, name: str, result: LoadResult | None = None) -> LoadResult:
    """Parse one stream. Documents before and after a syntax error are all kept."""
    result = result if result is not None else LoadResult()
    source = Source(name, text)
    result.sources.append(source)
    with gc_paused():
        try:
            _Stream(source, result).run()
        except _SinkError as exc:
            raise exc.error from None
    return result


# --------------------------------------------------------------------------------------------
# Bytes, files and folders
# --------------------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _sniff(data: bytes) -> str | None:
    """UTF-16 or UTF-32 without a BOM, told by where the zero bytes are (YAML 1.2, 5.2)."""
    head = data[:4]
    if len(head) == 4 and head[:3] == b"\0\0\0" and head[3]:
        return "utf-32-be"
    if len(head) == 4 and head[0] and head[1:] == b"\0\0\0":
        return "utf-32-le"
    if len(head) >= 2 and not head[0] and head[1]:
        return "utf-16-be"
    if len(head) >= 2 and head[0] and not head[1]:
        return "utf-16-le"
    return None


def _decode(data: bytes, name: str) -> tuple[str, Diagnostic | None]:
    """The text of a file, or a diagnostic (and the text to show for it, maybe "")."""
    if data[:1] in (b"\xef", b"\xfe", b"\xff", b"\0"):
        for bom, codec in _BOMS:
            if data.startswith(bom):
                try:
                    return data.decode(codec), None
                except UnicodeDecodeError:
                    break
    if b"\0" in data:
        wide = _sniff(data)
        if wide is not None:
            try:
                text = data.decode(wide)
            except UnicodeDecodeError:
                pass
            else:
                if _NOT_PRINTABLE.search(text) is None:
                    return text, None
        return "", Diagnostic(
            ENCODING,
            Severity.ERROR,
            "this is a binary file, not YAML; it is skipped",
            name,
            Span.point(1),
        )
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        # Placed in the text shown for it (each bad byte a U+FFFD), lines counted as YAML does.
        text = data.decode("utf-8", "replace")
        where = len(data[: exc.start].decode("utf-8"))
        lines = _LineIndex(text)
        line = lines.line_of(where)
        col = where - lines.start(line) + 1
        return text, Diagnostic(
            ENCODING,
            Severity.ERROR,
            f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x} here); "
            "YAML manifests must be UTF-8; the file is skipped",
            name,
            Span.point(line, col),
        )


def load_bytes(data: bytes, name: str, result: LoadResult | None = None) -> LoadResult:
    text, problem = _decode(data, name)
    return _load_decoded(text, problem, name, result)


def _load_decoded(
    text: str, problem: Diagnostic | None, name: str, result: LoadResult | None
) -> LoadResult:
    result = result if result is not None else LoadResult()
    if problem is not None:
        result.diagnostics.append(problem)
        result.sources.append(Source(name, text))
        return result
    return load_text(text, name, result)


def discover(paths: Sequence[str], excludes: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """Expand the paths the user gave into files. Returns (files, paths that do not exist).

    Folders are walked in sorted order (a folder's files, then its sub-folders), keeping files
    that end in .yaml, .yml or .json and skipping hidden files and folders (``.git``,
    ``.pre-commit-config.yaml``). A file named explicitly is read whatever its name. Exclude
    globs match a file or folder by name (``vendor``, ``*.tmpl.yaml``), or by path (``charts/*/
    templates``, ``legacy/``) as given, as relative to the folder being walked, or as relative
    to the current folder. A file named twice is read once. Names are normalised
    (``./k8s/../k8s/vs.yaml`` → ``k8s/vs.yaml``). A folder walk takes regular files only (and
    broken links, reported when they cannot be read): a pipe, socket or device named like a
    manifest is skipped, since reading it could wait forever. A pipe named explicitly (such
    as ``<(helm template …)``) is read as a stream, as stdin is (:func:`is_stream`).
    """
    files: list[str] = []
    missing: list[str] = []
    seen: set[str] = set()
    rules = _Excludes(excludes)

    def add(f: str) -> None:
        # Names as a person (and GitHub's annotations) expect them: `k8s/vs.yaml`, not
        # `./k8s/vs.yaml` when the folder given was `.`.
        key = f if f == "-" else os.path.normpath(f)
        if key not in seen:
            seen.add(key)
            files.append(key)

    for raw in paths:
        if raw == "-":
            add("-")
            continue
        if os.path.isdir(raw):
            top = _Place(raw) if rules else None
            if top is not None and rules.match(top.names, top.forms("")):
                continue
            for root, dirs, names in os.walk(raw):
                prefix = ""
                if top is not None and root != raw:  # os.walk gives raw + os.sep + ...
                    prefix = root[len(raw) :].lstrip(os.sep).replace(os.sep, "/") + "/"
                dirs[:] = [
                    d
                    for d in sorted(dirs)
                    if not d.startswith(".")
                    and not (top is not None and rules.match((d,), top.forms(prefix + d)))
                ]
                for n in sorted(names):
                    if n.startswith(".") or not n.endswith(YAML_SUFFIXES):
                        continue
                    if top is not None and rules.match((n,), top.forms(prefix + n)):
                        continue
                    path = os.path.join(root, n)
                    if _special(path):
                        continue
                    add(path)
        elif os.path.lexists(raw):  # a broken link is reported when it cannot be read
            place = _Place(raw) if rules else None
            if place is None or not rules.match(place.names, place.forms("")):
                add(raw)
        else:
            missing.append(raw)
    return files, missing


def _special(path: str) -> bool:
    """Whether ``path`` is there and is no regular file (a pipe, a socket, a device)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # a broken link: reported when it cannot be read
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def is_stream(path: str) -> bool:
    """Whether a file named explicitly is a pipe or a character device (``<(…)``,
    ``/dev/stdin``): read once, as a stream, to its end (it may wait for its writer)."""
    if path == "-":
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return _streamed(mode)


def _streamed(mode: int) -> bool:
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def input_sizes(files: Sequence[str]) -> list[int] | None:
    """The size of each of ``files`` in bytes (one ``stat`` each; 0 for a file that cannot be
    read), or None when one is a stream (:func:`is_stream`)."""
    sizes = []
    for f in files:
        if f == "-":
            return None
        try:
            st = os.stat(f)
        except OSError:
            sizes.append(0)
            continue
        if _streamed(st.st_mode):
            return None
        sizes.append(st.st_size)
    return sizes


class _Place:
    """A path the user gave, in the forms exclude globs are matched against."""

    __slots__ = ("given", "here", "names")

    def __init__(self, raw: str) -> None:
        self.given = _norm(raw)
        self.here: str | None = None  # relative to the current folder, when the path is absolute
        if os.path.isabs(raw):
            try:
                here = _norm(os.path.relpath(raw))
            except ValueError:  # pragma: no cover - another drive on Windows
                here = "../"
            if here != ".." and not here.startswith("../"):
                self.here = here
        mine = self.here if self.here is not None else self.given
        # Every name of a relative path counts; of an absolute one, only what is below here.
        if os.path.isabs(mine):
            self.names: tuple[str, ...] = (mine.rsplit("/", 1)[-1],)
        else:
            self.names = tuple(mine.split("/"))

    def forms(self, rel: str) -> tuple[str, ...]:
        """This path (``rel`` below it) as given, as ``rel`` alone, and as seen from here."""
        if not rel:
            return (self.given,) if self.here is None else (self.given, self.here)
        given = f"{self.given}/{rel}" if self.given else rel
        if self.here is None:
            return (given, rel)
        return (given, rel, f"{self.here}/{rel}" if self.here else rel)


class _Excludes:
    __slots__ = ("names", "paths")

    def __init__(self, patterns: Iterable[str]) -> None:
        self.names: list[str] = []  # globs for one name: "vendor", "*.tmpl.yaml"
        self.paths: list[str] = []  # globs for a path: "charts/*/templates" (and its variants)
        for pat in patterns:
            pat = pat.replace(os.sep, "/").rstrip("/")
            while pat.startswith("./"):
                pat = pat[2:]
            if not pat:
                continue
            if "/" not in pat:
                self.names.append(pat)
            else:
                self.paths.append(pat)
                if "**/" in pat:
                    self.paths.append(pat.replace("**/", ""))

    def __bool__(self) -> bool:
        return bool(self.names or self.paths)

    def match(self, names: Iterable[str], forms: Iterable[str]) -> bool:
        for pat in self.names:
            if any(fnmatch(name, pat) for name in names):
                return True
        for pat in self.paths:
            for form in forms:
                if form.startswith(pat + "/") or fnmatch(form, pat) or fnmatch(form, pat + "/*"):
                    return True
        return False


def _norm(path: str) -> str:
    norm = os.path.normpath(path).replace(os.sep, "/")
    return "" if norm == "." else norm


def load_file(path: str, result: LoadResult, stdin_name: str = "<stdin>") -> None:
    # The bytes read are dropped once decoded: a large file would otherwise be held twice
    # while it is parsed (and libyaml holds a third copy).
    if path == "-":
        text, problem = _decode(sys.stdin.buffer.read(), stdin_name)
        _load_decoded(text, problem, stdin_name, result)
        return
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        result.io_error = True
        result.sources.append(Source(path, ""))
        result.diagnostics.append(
            Diagnostic(
                IO_ERROR,
                Severity.ERROR,
                f"cannot read the file: {exc.strerror or exc}",
                path,
                Span.point(1),
            )
        )
        return
    text, problem = _decode(data, path)
    del data
    _load_decoded(text, problem, path, result)


def read_source(path: str) -> Source | None:
    """A file's text as :func:`load_file` reads it, not parsed; None when it cannot be
    read."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return Source(path, _decode(data, path)[0])


def load_paths(paths: Sequence[str], excludes: Sequence[str] = ()) -> LoadResult:
    files, _missing = discover(paths, excludes)
    result = LoadResult()
    for f in files:
        load_file(f, result)
    return result
