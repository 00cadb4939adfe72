"""The fast paths give exactly what the slow ones give.

- libyaml's C parser (the lint path) and PyYAML's pure-Python parser (the reference) produce the
  same findings, at the same places, on every manifest of the test corpus;
- `--jobs 2` gives the same findings in the same order as one process, also when a translation
  runs beside the cross-resource stage (and when that stage's child process fails).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import CORPUS, FIXTURES, REPO

from meshlint import loader, parallel
from meshlint.config import Config
from meshlint.diagnostics import Severity
from meshlint.engine import LintResult, lint_paths
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


def test_the_generated_mesh_with_findings_has_each_slip(tmp_path: Path) -> None:
    # The bench's second corpus: warnings only (so that it translates), some cross-resource.
    generate(120, tmp_path, findings=True)
    result = lint_paths([str(tmp_path)], Config())
    codes = Counter(d.code for d in result.findings)
    assert set(codes) >= {"ML427", "ML451", "ML518", "ML519", "ML903", "ML972"}
    assert not [d for d in result.findings if d.severity >= Severity.ERROR]


def _mesh_with_findings(tmp_path: Path) -> list[str]:
    generate(60, tmp_path, findings=True)
    files, _ = loader.discover([str(tmp_path)])
    assert len(files) >= 40  # enough for the run to go parallel
    return files


def test_work_meanwhile_sees_the_run_and_the_findings_are_the_same(tmp_path: Path) -> None:
    files = _mesh_with_findings(tmp_path)
    one = lint_paths(files, Config(), files=files)
    seen: list[tuple[int, int]] = []

    def meanwhile(run: LintResult) -> None:
        # the records of every worker are there; the cross-resource findings come later
        seen.append((len(run.records), sum(d.code.startswith("ML9") for d in run.findings)))

    many = lint_in_workers(files, Config(), 2, meanwhile=meanwhile)
    assert [d.to_json() for d in many.findings] == [d.to_json() for d in one.findings]
    assert seen == [(len(one.records), 0)]
    assert any(d.code.startswith("ML9") for d in many.findings)


def test_a_failed_child_stage_runs_in_the_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _mesh_with_findings(tmp_path)
    one = lint_paths(files, Config(), files=files)
    monkeypatch.setattr(parallel, "_mesh_child", lambda *args: os._exit(3))
    many = lint_in_workers(files, Config(), 2, meanwhile=lambda run: None)
    assert [d.to_json() for d in many.findings] == [d.to_json() for d in one.findings]


def test_translate_gives_the_same_config_and_report_with_workers(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh"
    _mesh_with_findings(mesh)

    def translate(jobs: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "meshlint", "translate", str(mesh), "--no-config",
             "--for", "team-0/svc-00000-v1", "-j", jobs, "--format", "json", *extra],
            capture_output=True, text=True, cwd=REPO, timeout=300,
        )  # fmt: skip

    # a usage error met while the cross-resource stage runs is the same error, after the lint
    refused = [translate(jobs) for jobs in ("1", "2")]
    assert [r.returncode for r in refused] == [2, 2]
    assert refused[0].stderr == refused[1].stderr
    assert "--certs" in refused[0].stderr
    certs = tmp_path / "certs"
    subprocess.run(
        [sys.executable, "-m", "meshlint", "certs", str(certs), str(mesh), "--no-config"],
        check=True, capture_output=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    outputs = []
    for jobs in ("1", "2"):
        config = tmp_path / f"envoy-{jobs}.yaml"
        done = translate(jobs, "--certs", str(certs), "-o", str(config))
        assert done.returncode == 0, done.stderr
        report = done.stderr[: done.stderr.rindex("meshlint: wrote")]
        outputs.append((json.loads(report), config.read_text()))
    assert outputs[0] == outputs[1]
    assert {f["rule"] for f in outputs[0][0]["findings"]} >= {"ML451", "ML903"}
    # an error only the cross-resource stage finds stops it too, with nothing written
    one = mesh / "team-3" / "svc-00003.yaml"
    one.write_text(one.read_text().replace("subset: v1\n", "subset: v8\n", 1))
    config = tmp_path / "stopped.yaml"
    done = translate("2", "--certs", str(certs), "-o", str(config))
    assert done.returncode == 1, done.stderr
    assert "ML901" in done.stderr and not config.exists()
