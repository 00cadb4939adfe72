"""Istio's own CRD validation cases: what Istio accepts gives no error here.

Each document of ../shared/corpus/istio-crd-testdata is one case. A top-level ``_err`` key marks a
case Istio rejects, with Istio's message; it is blanked out (line numbers kept) before linting.
Documents of kinds meshlint does not model (EnvoyFilter, WasmPlugin, …) are skipped. Documents in
an ``-invalid`` file whose ``_err`` is commented out (``#_err: "TODO"``) have no verdict yet and
are skipped too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import CORPUS

from meshlint.config import Config
from meshlint.engine import lint_text
from meshlint.models.registry import BY_GROUP_KIND, split_api_version

TESTDATA = CORPUS / "istio-crd-testdata"
_SEP = re.compile(r"^---\s*$", re.M)


def _cases(suffix: str) -> list[tuple[str, str, str | None]]:
    cases = []
    for path in sorted(TESTDATA.glob(f"*-{suffix}.yaml")):
        lines = path.read_text(encoding="utf-8").splitlines()
        chunks: list[tuple[int, list[str]]] = [(0, [])]
        for number, line in enumerate(lines):
            if _SEP.match(line):
                chunks.append((number + 1, []))
            else:
                chunks[-1][1].append(line)
        for i, (offset, body_lines) in enumerate(chunks):
            chunk = "\n".join(body_lines) + "\n"
            data = yaml.safe_load(chunk) if chunk.strip() else None
            if not isinstance(data, dict):
                continue
            group, _ = split_api_version(str(data.get("apiVersion", "")))
            if (group, data.get("kind")) in BY_GROUP_KIND:
                body = re.sub(r"^_err:.*$", "", chunk, flags=re.M)
                cases.append((f"{path.name}#{i}", "\n" * offset + body, data.get("_err")))
    return cases


VALID = _cases("valid")
INVALID = [c for c in _cases("invalid") if c[2] is not None]


def _errors(name: str, text: str) -> list[str]:
    result = lint_text(text, Config(), name=name)
    return [
        f"{d.code} {d.line}:{d.column} {d.path}: {d.message}"
        for d in result.findings
        if d.severity.label == "error"
    ]


@pytest.mark.parametrize(("name", "text", "err"), VALID, ids=[c[0] for c in VALID])
def test_accepted_cases_give_no_error(name: str, text: str, err: str | None) -> None:
    assert _errors(name, text) == []


def test_rejected_cases_caught_so_far(capsys: pytest.CaptureFixture[str]) -> None:
    caught = [
        name
        for name, text, _ in INVALID
        if [e for e in _errors(name, text) if not e.startswith("ML107")]
    ]
    with capsys.disabled():
        print(f"\nIstio-rejected CRD cases caught: {len(caught)} of {len(INVALID)}")
    assert INVALID  # the corpus is there
    assert len(VALID) >= 10


def test_cases_keep_their_lines() -> None:
    name, text, _ = VALID[-1]
    path = TESTDATA / name.split("#")[0]
    original = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.startswith("_err"):
            assert original[number - 1] == line
            break
    assert Path(path).exists()


_ERR_FIELD = re.compile(
    r"^(?P<path>[A-Za-z_]\w*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*)(?=: | in body )"
)


def err_field(err: str) -> str | None:
    """The field Istio names at the start of its message, if any (``spec.hosts`` …)."""
    m = _ERR_FIELD.match(err.strip())
    return m.group("path") if m else None


def on_field(path: str, field: str) -> bool:
    if field in ("spec",):
        return path == "spec" or path.startswith("spec")
    if path == field or path.startswith((field + ".", field + "[")):
        return True
    return f".{field}" in f".{path}"


# Cases the field-validation rules do not catch yet; strict, so a case that starts to pass
# must leave this list.
PENDING: set[str] = set()


@pytest.mark.parametrize(
    ("name", "text", "err"),
    [
        pytest.param(*c, marks=pytest.mark.xfail(strict=True, reason="not caught yet"))
        if c[0] in PENDING
        else c
        for c in INVALID
    ],
    ids=[c[0] for c in INVALID],
)
def test_rejected_cases_get_an_error_on_istio_field(name: str, text: str, err: str) -> None:
    result = lint_text(text, Config(), name=name)
    errors = [d for d in result.findings if d.severity.label == "error" and d.code != "ML107"]
    assert errors, f"Istio rejects it ({err}); no error found"
    field = err_field(err)
    if field:
        assert any(on_field(d.path, field) for d in errors), (
            f"Istio names {field!r} ({err}); found {[(d.code, d.path) for d in errors]}"
        )
