"""Files, directories and stdin → Documents whose every node keeps its place in the file.

The lint path parses with libyaml's C parser (``compose``: nodes with line/column marks) while the
garbage collector is paused, then builds plain Python data with a small constructor of our own that
also finds duplicate keys, template placeholders written as YAML flow mappings, alias bombs and
runaway nesting. The node tree stays with each document so that any field path can be turned back
into a line and column; it is dropped once the document's findings have been placed.

Every problem with the input becomes a :class:`~meshlint.diagnostics.Diagnostic`; nothing here
raises on bad input.
"""

from __future__ import annotations

import codecs
import gc
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from meshlint.diagnostics import Diagnostic, FieldPath, Severity, Span

try:  # libyaml binding; the pure-Python parser gives the same nodes, only slower
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

# Codes of the problems the loader itself finds. Their metadata (summary, rationale, examples)
# lives with the document rules in meshlint/rules/document.py.
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

_SOURCE_COMMENT = re.compile(r"^# Source: (.+?)\s*$", re.M)
_DOC_SEPARATOR = re.compile(r"^---(?:[ \t].*)?$", re.M)

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"


@dataclass(slots=True)
class Source:
    """One file (or stdin) as read: the name shown to the user and its decoded text."""

    name: str
    text: str
    _lines: list[str] | None = field(default=None, repr=False)

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.text.splitlines()
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

    @property
    def line(self) -> int:
        return self.span.line

    def locate(self, path: FieldPath, *, key: bool = False) -> Span:
        """The span of the value at ``path``, or of its key when ``key`` is true.

        A path that leaves the document (a missing required field, say) lands on the key of
        the deepest part that exists, which is where the user has to add it.
        """
        node = self.node
        if node is None:
            return self.span
        best: Node = node
        key_node: Node | None = None
        for elem in path:
            if isinstance(node, MappingNode):
                found = None
                want = str(elem)
                for k, v in node.value:
                    if isinstance(k, ScalarNode) and _key_text(k) == want:
                        found = (k, v)  # the last one wins, as in the data
                if found is None:
                    return _span(key_node or best)
                key_node, node = found
                best = node
            elif isinstance(node, SequenceNode) and isinstance(elem, int):
                if not 0 <= elem < len(node.value):
                    return _span(key_node or best)
                node = node.value[elem]
                key_node = node
                best = node
            else:
                break
        if key and key_node is not None:
            return _span(key_node)
        return _span(best)


@dataclass(slots=True)
class LoadResult:
    sources: list[Source] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    io_error: bool = False


def _span(node: Node) -> Span:
    s, e = node.start_mark, node.end_mark
    line, col = s.line + 1, s.column + 1
    end_line, end_col = e.line + 1, e.column + 1
    if (end_line, end_col) <= (line, col):
        end_line, end_col = line, col + 1
    return Span(line, col, end_line, end_col)


def _key_text(node: ScalarNode) -> str:
    return _json_key(_scalar(node))


def _json_key(value: Any) -> str:
    """Mapping keys as Kubernetes' YAML-to-JSON conversion spells them."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return str(value)


_fallback = yaml.SafeLoader("")  # only its scalar constructors are used


def _scalar(node: ScalarNode) -> Any:
    tag, value = node.tag, node.value
    if tag == _STR:
        return value
    if tag == _INT:
        try:
            return int(value)
        except ValueError:
            try:
                return _fallback.construct_yaml_int(node)
            except (ValueError, yaml.YAMLError):
                return value
    if tag == _FLOAT:
        try:
            return float(value)
        except ValueError:
            try:
                return _fallback.construct_yaml_float(node)
            except (ValueError, yaml.YAMLError):
                return value
    if tag == _BOOL:
        return value.lower() in ("yes", "true", "on")
    if tag == _NULL:
        return None
    # Timestamps, binary and custom tags stay text: the API server sees them as strings.
    return value


class _Abort(Exception):
    def __init__(self, message: str, node: Node) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


class _Builder:
    """Turns a composed node tree into plain data, reporting what a lenient loader hides."""

    __slots__ = ("active", "alias_total", "built", "diagnostics", "source", "text")

    def __init__(self, source: Source, diagnostics: list[Diagnostic]) -> None:
        self.source = source
        self.text = source.text
        self.diagnostics = diagnostics
        self.built: dict[int, tuple[Any, int]] = {}
        self.active: set[int] = set()
        self.alias_total = 0

    def build(self, node: Node, depth: int = 0) -> Any:
        return self._build(node, depth)[0]

    def _build(self, node: Node, depth: int) -> tuple[Any, int]:
        if isinstance(node, ScalarNode):
            return _scalar(node), 1
        ident = id(node)
        done = self.built.get(ident)
        if done is not None:
            # An alias: the same subtree again. Count what it expands to, to stop alias bombs.
            self.alias_total += done[1]
            if self.alias_total > MAX_ALIAS_EXPANSION:
                raise _Abort(
                    f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes "
                    "(a \"billion laughs\" alias bomb?); the document is skipped",
                    node,
                )
            return done
        if ident in self.active:
            raise _Abort("an alias refers to the node that contains it (a cycle); "
                         "the document is skipped", node)
        if depth > MAX_DEPTH:
            raise _Abort(f"nesting is deeper than {MAX_DEPTH} levels; the document is skipped",
                         node)
        self.active.add(ident)
        if isinstance(node, SequenceNode):
            items = []
            size = 1
            for child in node.value:
                value, n = self._build(child, depth + 1)
                items.append(value)
                size += n
            result: tuple[Any, int] = (items, size)
        else:
            result = self._mapping(node, depth)  # type: ignore[arg-type]
        self.active.discard(ident)
        self.built[ident] = result
        return result

    def _mapping(self, node: MappingNode, depth: int) -> tuple[Any, int]:
        template = self._template_text(node)
        if template is not None:
            return template, 1
        out: dict[str, Any] = {}
        first: dict[str, Node] = {}
        size = 1
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _MERGE:
                merged, n = self._build(value_node, depth + 1)
                size += n
                for m in merged if isinstance(merged, list) else [merged]:
                    if isinstance(m, dict):
                        for k, v in m.items():
                            out.setdefault(k, v)
                continue
            if not isinstance(key_node, ScalarNode):
                template = self._template_text(key_node)
                if template is None:
                    self._report(
                        COMPLEX_KEY,
                        "a mapping key must be a plain value, not a "
                        + ("list" if isinstance(key_node, SequenceNode) else "mapping")
                        + "; the entry is skipped",
                        key_node,
                    )
                    continue
                key = template
            else:
                key = _key_text(key_node)
            value, n = self._build(value_node, depth + 1)
            size += n
            if key in out and key in first:
                prev = first[key].start_mark.line + 1
                hint = ""
                if depth == 0 and key in ("apiVersion", "kind", "metadata", "spec"):
                    hint = " Two resources in one document? Separate them with a line '---'."
                self._report(
                    DUPLICATE_KEY,
                    f"duplicate key '{key}' (first at line {prev}); "
                    f"Kubernetes rejects it and lenient parsers keep only this later value.{hint}",
                    key_node,
                )
            first[key] = key_node
            out[key] = value
        return out, size

    def _template_text(self, node: Node) -> str | None:
        """``host: {{.service}}`` is a flow mapping in YAML; give back the text the user wrote."""
        if not isinstance(node, MappingNode) or not node.flow_style:
            return None
        start, end = node.start_mark.index, node.end_mark.index
        if self.text[start:start + 2] != "{{":
            return None
        raw = self.text[start:end]
        return raw if raw.endswith("}}") else None

    def _report(self, code: str, message: str, node: Node) -> None:
        self.diagnostics.append(
            Diagnostic(code, Severity.ERROR, message, self.source.name, _span(node))
        )


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_PROBLEMS = (
    ("found character '\\t' that cannot start any token",
     "a tab character is used for indentation; YAML allows only spaces"),
    ("found a tab character where an indentation space is expected",
     "a tab character is used for indentation; YAML allows only spaces"),
    ("found a tab character that violates indentation",
     "a tab character is used for indentation; YAML allows only spaces"),
    ("mapping values are not allowed here",
     "a ':' is not allowed here: quote the value, or check the indentation of this line"),
    ("could not find expected ':'", "expected 'key: value' here; check the indentation"),
    ("found undefined alias", "an alias (*name) refers to an anchor (&name) that is not defined"),
    ("found unhashable key", "a mapping key must be a plain value"),
)


def _explain(problem: str, context: str | None, line_text: str) -> str:
    for known, text in _PROBLEMS:
        if problem.startswith(known):
            message = text
            break
    else:
        message = problem
        if context:
            message = f"{message} ({context})"
    if "{{" in line_text or "{%" in line_text:
        message += "; this line holds a template placeholder: was the template rendered?"
    return f"YAML syntax error: {message}"


def _decode(data: bytes, name: str) -> tuple[str | None, Diagnostic | None]:
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec), None
            except UnicodeDecodeError:
                break
    if b"\x00" in data[:8192]:
        return None, Diagnostic(
            ENCODING, Severity.ERROR, "this is a binary file, not YAML; it is skipped",
            name, Span.point(1),
        )
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, Diagnostic(
            ENCODING, Severity.ERROR,
            f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x} here); "
            "YAML manifests must be UTF-8; the file is skipped",
            name, Span.point(line, col),
        )


def load_text(text: str, name: str, result: LoadResult | None = None) -> LoadResult:
    """Parse one stream. Documents before and after a syntax error are all kept."""
    result = result if result is not None else LoadResult()
    source = Source(name, text)
    result.sources.append(source)
    origins = _origins(text)
    is_json = name.endswith(".json")
    offset_line = 0
    index = 0
    while True:
        stream = text if offset_line == 0 else "\n" * offset_line + _tail(text, offset_line)
        error_line = None
        try:
            with _gc_paused():
                nodes = list(_compose(stream))
        except yaml.MarkedYAMLError as exc:
            nodes = list(exc.__dict__.get("_partial", ()))
            mark = exc.problem_mark or exc.context_mark
            line = (mark.line + 1) if mark else offset_line + 1
            col = (mark.column + 1) if mark else 1
            error_line = line
            if is_json and offset_line == 0:
                if _load_json(text, source, result):
                    return result
            result.diagnostics.append(
                Diagnostic(SYNTAX, Severity.ERROR,
                           _explain(exc.problem or str(exc), exc.context, source.line(line)),
                           name, Span.point(line, col))
            )
        except (yaml.YAMLError, RecursionError, ValueError) as exc:
            nodes = []
            error_line = offset_line + 1
            result.diagnostics.append(
                Diagnostic(SYNTAX, Severity.ERROR, f"YAML syntax error: {exc}", name,
                           Span.point(error_line))
            )
        for node in nodes:
            if node is None:
                continue
            _add_document(node, source, index, origins, result)
            index += 1
        if error_line is None:
            return result
        next_start = _next_document_line(text, max(error_line - 1, offset_line + 1))
        if next_start is None:
            return result
        offset_line = next_start - 1  # resume at the '---' line


class _Partial(Exception):
    pass


def _compose(stream: str) -> Iterator[Node | None]:
    """Compose every document; on an error, keep the documents already composed."""
    loader = _Loader(stream)
    done: list[Node | None] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            done.append(node)
    except yaml.MarkedYAMLError as exc:
        exc.__dict__["_partial"] = done
        raise
    finally:
        loader.dispose()
    return iter(done)


def _tail(text: str, skip_lines: int) -> str:
    pos = 0
    for _ in range(skip_lines):
        nxt = text.find("\n", pos)
        if nxt < 0:
            return ""
        pos = nxt + 1
    return text[pos:]


def _next_document_line(text: str, after_line: int) -> int | None:
    for m in _DOC_SEPARATOR.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        if line > after_line:
            return line
    return None


def _origins(text: str) -> list[tuple[int, str]]:
    if "# Source: " not in text:
        return []
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _SOURCE_COMMENT.finditer(text)]


def _add_document(node: Node, source: Source, index: int, origins: list[tuple[int, str]],
                  result: LoadResult) -> None:
    builder = _Builder(source, result.diagnostics)
    try:
        data = builder.build(node)
    except _Abort as exc:
        result.diagnostics.append(Diagnostic(TOO_COMPLEX, Severity.ERROR, exc.message,
                                             source.name, _span(exc.node)))
        return
    except RecursionError:
        result.diagnostics.append(Diagnostic(TOO_COMPLEX, Severity.ERROR,
                                             "the document nests too deeply; it is skipped",
                                             source.name, _span(node)))
        return
    span = _span(node)
    origin = None
    for line, name in origins:
        if line <= span.line:
            origin = name
    doc = Document(source, index, data, node, span, origin)
    if isinstance(data, dict) and isinstance(data.get("items"), list) and _is_list_kind(data):
        items_node = _child(node, "items")
        for i, item in enumerate(data["items"]):
            item_node = items_node.value[i] if isinstance(items_node, SequenceNode) else None
            item_span = _span(item_node) if item_node is not None else span
            result.documents.append(Document(source, index, item, item_node, item_span, origin, i))
        return
    result.documents.append(doc)


def _is_list_kind(data: dict[str, Any]) -> bool:
    kind = data.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and "apiVersion" in data


def _child(node: Node, key: str) -> Node | None:
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == key:
                return v
    return None


def _load_json(text: str, source: Source, result: LoadResult) -> bool:
    """A JSON file that YAML 1.1 cannot read (tabs, say) is still read, without positions."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    result.documents.append(Document(source, 0, data, None, Span.point(1)))
    return True


def load_bytes(data: bytes, name: str, result: LoadResult | None = None) -> LoadResult:
    result = result if result is not None else LoadResult()
    text, problem = _decode(data, name)
    if problem is not None:
        result.diagnostics.append(problem)
        result.sources.append(Source(name, ""))
        return result
    assert text is not None
    return load_text(text, name, result)


def discover(paths: Sequence[str], excludes: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """Expand the paths the user gave into files. Returns (files, paths that do not exist)."""
    files: list[str] = []
    missing: list[str] = []
    for raw in paths:
        if raw == "-":
            files.append("-")
            continue
        path = Path(raw)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                                 and not _excluded(os.path.join(root, d), excludes))
                for n in sorted(names):
                    full = os.path.join(root, n)
                    if n.endswith(YAML_SUFFIXES) and not _excluded(full, excludes):
                        files.append(full)
        elif path.exists():
            if not _excluded(raw, excludes):
                files.append(raw)
        else:
            missing.append(raw)
    return files, missing


def _excluded(path: str, patterns: Iterable[str]) -> bool:
    norm = path.replace(os.sep, "/")
    if norm.startswith("./"):
        norm = norm[2:]
    parts = norm.split("/")
    for pat in patterns:
        pat = pat.rstrip("/")
        if fnmatch(norm, pat) or any(fnmatch(p, pat) for p in parts):
            return True
        if "/" in pat and (fnmatch(norm, pat + "/*") or norm.startswith(pat + "/")):
            return True
    return False


def load_file(path: str, result: LoadResult, stdin_name: str = "<stdin>") -> None:
    if path == "-":
        data = sys.stdin.buffer.read()
        load_bytes(data, stdin_name, result)
        return
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        result.io_error = True
        result.sources.append(Source(path, ""))
        result.diagnostics.append(
            Diagnostic(IO_ERROR, Severity.ERROR, f"cannot read the file: {exc.strerror or exc}",
                       path, Span.point(1))
        )
        return
    load_bytes(data, path, result)


def load_paths(paths: Sequence[str], excludes: Sequence[str] = ()) -> LoadResult:
    files, _missing = discover(paths, excludes)
    result = LoadResult()
    for f in files:
        load_file(f, result)
    return result
