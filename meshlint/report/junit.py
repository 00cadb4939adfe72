"""``--format junit``: JUnit XML, as GitLab, Jenkins and other CI test views read it.

::

    <testsuites name="meshlint" tests=… failures=… errors="0" skipped="0" time="0">
      <testsuite name=FILE tests=… failures=… errors="0" skipped="0" time="0">
        <testcase classname=FILE name="CODE resource path line:col" time="0">
          <failure type=CODE message=MESSAGE>where, what, fix</failure>
        </testcase>
        …

One ``<testsuite>`` per file, in the order the files were read, then the files that could not be
read. One ``<testcase>`` per finding, named by its code, resource, field path and ``line:col``
(the empty parts left out), with the file as its class name; a file without findings is one
passing testcase named ``meshlint``. ``tests`` counts the testcases of a suite (so a clean file
counts one) and ``failures`` its failing ones; the root carries the totals.

Severities: an error or a warning is a ``<failure>``. An info finding is a passing testcase whose
details are in ``<system-out>``: it is advice that does not fail a run at the default
``--fail-on``, and a test view painting it red would contradict the exit status; it is not
``<skipped>`` either, since the check did run.

A parallel run (``--jobs``) keeps the names of only the files with findings; the files it read
without findings are then one more suite, ``(N files without findings)``, with one passing
testcase, so that the totals still count every file.

Text is escaped by ElementTree; characters XML 1.0 cannot carry at all (control characters, lone
surrogates from undecodable file names) are written as ``\\xNN`` / ``\\uNNNN``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from meshlint.diagnostics import Diagnostic, Severity

if TYPE_CHECKING:
    from meshlint.engine import LintResult

CLEAN_CASE = "meshlint"
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

# Everything outside XML 1.0's Char production.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _safe(text: str) -> str:
    def show(m: re.Match[str]) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _NOT_XML.sub(show, text)


def _lines(text: str) -> list[str]:
    return text.splitlines() or [""]


def case_name(d: Diagnostic) -> str:
    """``CODE resource path line:col``, without the parts a finding does not have."""
    parts = [d.code, d.resource, d.path, f"{d.line}:{d.column}"]
    return " ".join(p for p in parts if p)


def _details(d: Diagnostic) -> str:
    from meshlint import rules as registry

    rule = registry.get(d.code)
    title = f"{d.code} {rule.name}" if rule is not None else d.code
    lines = [f"{d.file}:{d.line}:{d.column}", f"{d.severity.label}: {title}"]
    if d.resource:
        lines.append(f"resource: {d.resource}")
    if d.path:
        lines.append(f"path: {d.path}")
    lines += _lines(d.message)
    if d.fix:
        fix = _lines(d.fix)
        lines.append(f"fix: {fix[0]}")
        lines += fix[1:]
    return _safe("\n".join(lines)) + "\n"


def _files(result: LintResult) -> list[str]:
    """Every file named in the result: those read, in order, then those only findings name."""
    seen: dict[str, None] = {s.name: None for s in result.sources}
    for d in result.findings:
        seen.setdefault(d.file, None)
    return list(seen)


def _suite(parent: ET.Element, name: str, cases: list[ET.Element], failures: int) -> None:
    suite = ET.SubElement(
        parent,
        "testsuite",
        {
            "name": _safe(name),
            "tests": str(len(cases)),
            "failures": str(failures),
            "errors": "0",
            "skipped": "0",
            "time": "0",
        },
    )
    suite.extend(cases)


def _case(classname: str, name: str) -> ET.Element:
    return ET.Element("testcase", {"classname": _safe(classname), "name": _safe(name), "time": "0"})


def build(result: LintResult) -> ET.Element:
    """The ``<testsuites>`` element of a result."""
    by_file: dict[str, list[Diagnostic]] = {}
    for d in result.findings:
        by_file.setdefault(d.file, []).append(d)
    root = ET.Element("testsuites", {"name": "meshlint"})
    tests = failures = 0
    for file in _files(result):
        found = by_file.get(file, [])
        cases: list[ET.Element] = []
        failed = 0
        for d in found:
            case = _case(file, case_name(d))
            if d.severity >= Severity.WARNING:
                failure = ET.SubElement(
                    case, "failure", {"type": d.code, "message": _safe(d.message)}
                )
                failure.text = _details(d)
                failed += 1
            else:
                ET.SubElement(case, "system-out").text = _details(d)
            cases.append(case)
        if not found:
            cases.append(_case(file, CLEAN_CASE))
        _suite(root, file, cases, failed)
        tests += len(cases)
        failures += failed
    unnamed = result.files - len({s.name for s in result.sources})
    if unnamed > 0:
        what = f"{unnamed} file{'s' * (unnamed != 1)} without findings"
        _suite(root, f"({what})", [_case("meshlint", what)], 0)
        tests += 1
    root.attrib.update(
        {
            "tests": str(tests),
            "failures": str(failures),
            "errors": "0",
            "skipped": "0",
            "time": "0",
        }
    )
    return root


def render(result: LintResult, *, color: bool = False) -> str:
    root = build(result)
    ET.indent(root)
    return DECLARATION + ET.tostring(root, encoding="unicode") + "\n"
