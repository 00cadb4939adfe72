"""The fast paths give exactly what the slow ones give.

- libyaml's C parser (the lint path) and PyYAML's pure-Python parser (the reference) produce the
  same findings, at the same places, on every manifest of the test corpus;
- `--jobs 2` gives the same findings in the same order as one process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from conftest import CORPUS, FIXTURES, REPO

from meshlint import loader
from meshlint.config import Config
from meshlint.engine import lint_paths
from meshlint.parallel import lint_in_workers

sys.path.insert(0, str(REPO / "bench"))
from generate import generate


def corpus_files() -> list[str]:
    roots = [
        CORPUS / "istio-samples",
        CORPUS / "istio-crd-testdata",
        CORPUS / "seed",
        FIXTURES,
        REPO / "examples",
    ]
    files, _ = loader.discover([str(r) for r in roots])
    return files


def findings(files: list[str], jobs: int = 1) -> list[dict[str, object]]:
    if jobs > 1:
        result = lint_in_workers(files, Config(), jobs)
    else:
        result = lint_paths(files, Config(), files=files)
    return [d.to_json() for d in result.findings]


def test_c_and_pure_python_parsers_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    files = corpus_files()
    assert len(files) > 100
    fast = findings(files)
    assert fast, "the corpus has findings to compare"
    compose = loader._ComposeLoader
    pure = type(
        "PureComposeLoader",
        (yaml.SafeLoader,),
        {
            "resolve": compose.resolve,
            "descend_resolver": compose.descend_resolver,
            "ascend_resolver": compose.ascend_resolver,
        },
    )
    monkeypatch.setattr(loader, "_ComposeLoader", pure)
    slow = findings(files)
    # One known divergence: PyYAML's own parser reads an unquoted IPv6 address in a flow list
    # (`[1.2.3.4, 001:db8::]`) as a mapping, where libyaml stops and the loader reads it as
    # Kubernetes does. The pure parser is only a fallback for builds without libyaml.
    ipv6 = "serviceentry-valid.yaml"
    assert [f for f in slow if not str(f["file"]).endswith(ipv6)] == [
        f for f in fast if not str(f["file"]).endswith(ipv6)
    ]


def test_jobs_give_the_same_output_in_the_same_order(tmp_path: Path) -> None:
    generate(60, tmp_path)
    broken = sorted(tmp_path.rglob("svc-*.yaml"))
    for i, path in enumerate(broken[::7]):
        text = path.read_text()
        text = (
            text.replace("retries:", "retires:", 1)
            if i % 2
            else text.replace(
                "apiVersion: networking.istio.io/v1\n", "apiVersion: networking.istio.io/v1alpha3\n"
            )
        )
        path.write_text(text + ("---\nkind: [\n" if i % 3 == 0 else ""))
    files, _ = loader.discover([str(tmp_path)])
    assert len(files) >= 40  # enough for the run to go parallel
    # a cross-resource finding too: a route to a subset no DestinationRule declares
    vs = broken[3]
    vs.write_text(vs.read_text().replace("subset: v1\n", "subset: v9\n", 1))
    one = lint_paths(files, Config(), files=files)
    for jobs in (2, 3):
        many = lint_in_workers(files, Config(), jobs, progress=jobs == 2)
        assert [d.to_json() for d in many.findings] == [d.to_json() for d in one.findings]
        assert (many.files, many.resources) == (one.files, one.resources)
    assert {d.code for d in one.findings} >= {"ML101", "ML204", "ML206", "ML901"}


def test_the_generated_mesh_is_clean(tmp_path: Path) -> None:
    # Every reference of the bench's mesh resolves: any finding on it is a false alarm, and the
    # bench's figures would time a run that reports something.
    generate(120, tmp_path)
    files, _ = loader.discover([str(tmp_path)])
    result = lint_paths([str(tmp_path)], Config(), files=files)
    assert result.resources > 800
    assert [(d.code, d.file, d.line, d.message) for d in result.findings] == []
