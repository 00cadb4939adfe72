"""Write what meshlint finds in a fixture as expectation markers, for review.

    python tests/mark_fixture.py tests/fixtures/rules/virtualservice/ML421.yaml [--check]

Each finding becomes ``# expect: CODE@COLUMN PATH`` at the end of its line (severity only where
it differs from the rule's); a line inside a block scalar, which cannot hold a comment, is named
by a marker at the end of the file. Existing markers are replaced. ``--check`` only prints the
markers that differ. The markers state what the linter does now: read each one before you
commit it, since the fixture test holds the linter to them from then on.
"""

from __future__ import annotations

import sys
from pathlib import Path

from meshlint import loader, rules
from meshlint.config import Config, from_mapping
from meshlint.diagnostics import Diagnostic
from meshlint.engine import lint_loaded
from meshlint.rules.lib.expect import _MARKER, markers, settings


def _strip(text: str) -> str:
    out = []
    for line in text.split("\n"):
        m = _MARKER.search(line)
        if m is not None:
            line = line[: m.start()].rstrip()
        out.append(line)
    text = "\n".join(out)
    while text.endswith("\n\n"):
        text = text[:-1]
    return text


def _one(d: Diagnostic, absolute: bool) -> str:
    r = rules.get(d.code)
    sev = "" if r is not None and r.severity == d.severity else f" {d.severity.label}"
    where = f"{d.line}:{d.column}" if absolute else f"{d.column}"
    return f"{d.code}@{where}{sev} {d.path or '-'}"


def _data(text: str, name: str) -> list[object]:
    return [d.data for d in loader.load_text(text, name).documents]


def mark(text: str, name: str) -> str:
    base = _strip(text)
    given = settings(base)
    config = from_mapping(given) if given else Config()
    found = lint_loaded(loader.load_text(base, name), config).findings
    lines = base.split("\n")
    by_line: dict[int, list[Diagnostic]] = {}
    for d in found:
        by_line.setdefault(d.line, []).append(d)
    tail: list[str] = []
    before = _data(base, name)
    for number, ds in sorted(by_line.items()):
        i = number - 1
        if i >= len(lines):
            tail.extend(_one(d, True) for d in ds)
            continue
        candidate = lines[i].rstrip() + "  # expect: " + "; ".join(_one(d, False) for d in ds)
        trial = [*lines]
        trial[i] = candidate
        if lines[i].strip() and _data("\n".join(trial), name) == before:
            lines[i] = candidate
        else:
            tail.extend(_one(d, True) for d in ds)
    out = "\n".join(lines)
    if tail:
        out = out.rstrip("\n") + "\n" + "".join(f"# expect: {t}\n" for t in tail)
    elif not out.endswith("\n"):
        out += "\n"
    return out


USAGE = "usage: python tests/mark_fixture.py [--check] FIXTURE.yaml…"


def main(argv: list[str]) -> int:
    if not argv or any(a.startswith("-") and a != "--check" for a in argv):
        print(USAGE, file=sys.stderr)
        return 0 if {"-h", "--help"} & set(argv) else 2
    check = "--check" in argv
    for arg in (a for a in argv if a != "--check"):
        path = Path(arg)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: cannot read: {exc}", file=sys.stderr)
            return 2
        new = mark(text, str(path))
        if check:
            old_m, new_m = set(markers(text)), set(markers(new))
            for e in sorted(old_m - new_m):
                print(f"{path}: marked, not found: {e.show()}")
            for e in sorted(new_m - old_m):
                print(f"{path}: found, not marked: {e.show()}")
        elif new != text:
            path.write_text(new, encoding="utf-8")
            print(f"{path}: {len(markers(new))} markers")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
