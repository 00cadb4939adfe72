"""Safe fixes: ``meshlint lint --fix`` and ``--diff``.

A rule offers a safe fix by returning, as the ``fix`` of its finding, a :class:`Replacement`: the
fix text users see (``simple: LEAST_REQUEST``) that also carries the new value of the scalar the
finding points at. Only findings of rules marked ``fixable=True`` whose fix is a Replacement are
applied (and, until its check returns one, ML204, whose fix text ``apiVersion: VALUE`` is read as
the replacement of ``apiVersion``).

How an edit is made: the characters of the old scalar, at the exact span the loader gave the
finding, are replaced by the new value written in the same style (plain, 'single-' or
"double-quoted"). Nothing else of the file is touched, so comments, key order, indentation, flow
collections, line endings (CRLF stays CRLF), a byte-order mark, Helm ``# Source:`` comments and
the other documents of the stream stay byte for byte. A YAML round trip (ruamel.yaml's ``rt``
mode) was the other candidate; it re-emits every line of the file and normalises what it cannot
represent (the indentation of sequences is one setting for a whole file, a comment between a key
and its value moves, CRLF becomes LF, a document end marker changes), so it cannot promise a
one-line diff on real manifests.

Each edit is then verified by reading the new text as the linter reads it: the file must load
into the same documents with the same loader findings (a syntax error elsewhere in the file stays
exactly where it was, and that document is left alone), and the data of every document must
differ from the old data exactly at the edited fields, each now holding its new value. An edit
that would change anything else (a scalar behind an anchor that other fields share, a value
merged in with ``<<``, a tag, a block or multi-line scalar) is refused, and a file with any
refused edit is not written at all; :attr:`FileFix.problems` says why.

A rule offers the fix as a :class:`~meshlint.diagnostics.Replacement`; everything heavier than
this module is imported inside the functions.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshlint.diagnostics import Replacement

if TYPE_CHECKING:
    from meshlint.config import Config
    from meshlint.diagnostics import Diagnostic, Span
    from meshlint.loader import LoadResult


@dataclass(frozen=True)
class Edit:
    """The scalar at ``span`` (the finding's) becomes ``value``."""

    span: Span
    value: str
    code: str


@dataclass
class FileFix:
    """The outcome of fixing one text."""

    name: str
    old: str
    new: str
    fixed: list[Diagnostic] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.new != self.old


def edit_of(d: Diagnostic) -> Edit | None:
    """The safe edit of a finding, or None when its rule offers none."""
    from meshlint import rules

    r = rules.get(d.code)
    if r is None or not r.fixable or d.span is None:
        return None
    fix = d.fix
    if isinstance(fix, Replacement):
        return Edit(d.span, fix.value, d.code)
    return None


def fix_text(text: str, name: str, config: Config) -> FileFix:
    """Lint ``text`` under ``config`` and apply every safe fix; nothing is applied if one of
    them cannot be applied safely."""
    from meshlint import engine, loader

    result = engine.lint_loaded(loader.load_text(text, name), config)
    todo: list[tuple[Edit, Diagnostic]] = []
    for d in result.findings:
        e = edit_of(d)
        if e is not None:
            todo.append((e, d))
    out = FileFix(name, text, text)
    if not todo:
        return out
    new, problems = apply_edits(text, name, [e for e, _ in todo])
    if problems:
        out.problems = problems
        return out
    out.new = new
    out.fixed = [d for _, d in todo]
    return out


def apply_edits(text: str, name: str, edits: Sequence[Edit]) -> tuple[str, list[str]]:
    """``text`` with the edits made and verified, or ``text`` and the reasons it cannot be."""
    from meshlint.loader import _LineIndex

    lines = _LineIndex(text)
    problems: list[str] = []
    by_span: dict[Span, Edit] = {}
    for e in edits:
        seen = by_span.get(e.span)
        if seen is not None and seen.value != e.value:
            problems.append(
                f"{_where(name, e.span)}: {seen.code} and {e.code} want different values"
            )
        by_span[e.span] = e
    splices: list[tuple[int, int, str, Edit]] = []
    for span, e in by_span.items():
        start = lines.start(span.line) + span.column - 1
        end = lines.start(span.end_line) + span.end_column - 1
        raw = text[start:end]
        written, why = _render(raw, e.value) if span.line == span.end_line else (None, "")
        if written is None:
            problems.append(f"{_where(name, span)}: {e.code}: {why or 'a multi-line value'}")
            continue
        splices.append((start, end, written, e))
    if problems:
        return text, problems
    splices.sort(key=lambda s: s[0])
    for (_, end_a, _, a), (start_b, _, _, b) in itertools.pairwise(splices):
        if start_b < end_a:
            problems.append(f"{_where(name, b.span)}: {b.code} overlaps {a.code}")
    if problems:
        return text, problems
    new = text
    for start, end, written, _ in reversed(splices):
        new = new[:start] + written + new[end:]
    problems = _verify(text, new, name, [e for *_, e in splices])
    return (new, []) if not problems else (text, problems)


_PLAIN_SAFE = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*\Z")


def _render(raw: str, value: str) -> tuple[str | None, str]:
    """``value`` written in the style of the scalar ``raw``, or None and why not."""
    if not raw or raw[0] in "&!*|>":
        what = {"&": "an anchor", "!": "a tag", "*": "an alias", "|": "a block scalar"}
        return None, f"the value has {what.get(raw[:1], 'a folded block scalar')}"
    if raw[0] == "'":
        return "'" + value.replace("'", "''") + "'", ""
    if raw[0] == '"':
        return json.dumps(value, ensure_ascii=False), ""
    if not _PLAIN_SAFE.match(value):
        return json.dumps(value, ensure_ascii=False), ""  # quoted: read back as the same text
    return value, ""


def _where(name: str, span: Span) -> str:
    return f"{name}:{span.line}:{span.column}"


def _verify(old: str, new: str, name: str, edits: Sequence[Edit]) -> list[str]:
    """Whether ``new`` reads as ``old`` with exactly the edited fields changed."""
    from meshlint import loader

    before, after = loader.load_text(old, name), loader.load_text(new, name)
    if _loader_findings(before) != _loader_findings(after):
        return [f"{name}: the file would read differently after the fix"]
    if len(before.documents) != len(after.documents):
        return [f"{name}: the fix would change the documents of the file"]
    wanted = {e.span: e for e in edits}
    done: set[Span] = set()
    problems: list[str] = []
    for a, b in zip(before.documents, after.documents, strict=True):
        old_leaves, new_leaves = _leaves(a.data), _leaves(b.data)
        if old_leaves.keys() != new_leaves.keys() or (a.index, a.item) != (b.index, b.item):
            return [f"{name}: the fix would change the shape of a document"]
        for path, value in new_leaves.items():
            if _same(value, old_leaves[path]):
                continue
            e = wanted.get(a.locate(path))
            if e is None or value != e.value or e.span in done:
                return [
                    f"{name}:{b.line}: the fix would change `{_dotted(path)}` too (a value "
                    "shared through an anchor or a merge)"
                ]
            done.add(e.span)
    for e in edits:
        if e.span not in done:
            problems.append(f"{_where(name, e.span)}: {e.code}: the edit did not take")
    return problems


def _loader_findings(load: LoadResult) -> list[tuple[str, Any]]:
    return [(d.code, d.span) for d in load.diagnostics]


def _leaves(data: Any) -> dict[tuple[Any, ...], Any]:
    from meshlint.rules import walk

    out: dict[tuple[Any, ...], Any] = {}
    for path, value, is_key in walk(data):
        out[(*path, "<key>") if is_key else path] = value
    return out


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _dotted(path: tuple[Any, ...]) -> str:
    from meshlint.diagnostics import format_path

    return format_path(path)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def decode(data: bytes) -> tuple[str | None, bytes, str | None]:
    """The text of a file, its BOM (kept when the file is written), or why it cannot be fixed."""
    import codecs

    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
    try:
        return data[len(bom) :].decode("utf-8"), bom, None
    except UnicodeDecodeError:
        return None, bom, "it is not UTF-8 text"


def write_fixed(path: str, text: str, bom: bytes) -> None:
    """Replace the file's content, keeping its permissions; newlines are written as they are."""
    import os
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    mode = os.stat(path).st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".meshlint-fix-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(bom + text.encode("utf-8"))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def unified_diff(old: str, new: str, name: str) -> str:
    """A unified diff of two texts (line endings kept as written)."""
    import difflib

    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    out: list[str] = []
    for line in difflib.unified_diff(a, b, f"a/{name}", f"b/{name}", n=3):
        if line.endswith(("\n", "\r")):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)
