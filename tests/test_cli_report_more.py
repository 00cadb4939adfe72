"""The command line: --format junit / gitlab and --statistics."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshlint.cli import Format, app
from meshlint.report import FORMATS

runner = CliRunner()
BAD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n"
OLD = "apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata:\n  name: r\n"
ARGS = ["lint", "--no-config", "--select", "ML1", "--select", "ML20", "--ignore", "ML107"]


def test_every_format_is_an_option() -> None:
    assert [f.value for f in Format] == list(FORMATS)


def test_cli_junit_and_gitlab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(BAD)
    (tmp_path / "old.yaml").write_text(OLD)
    res = runner.invoke(app, [*ARGS, "--format", "junit", "bad.yaml", "old.yaml"])
    assert res.exit_code == 1, res.output
    root = ET.fromstring(res.stdout.encode())
    assert [s.get("name") for s in root.iter("testsuite")] == ["bad.yaml", "old.yaml"]
    assert (root.get("tests"), root.get("failures")) == ("2", "1")
    res = runner.invoke(app, [*ARGS, "--format", "gitlab", "bad.yaml", "old.yaml"])
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert [(i["check_name"], i["severity"], i["location"]["path"]) for i in doc] == [
        ("ML101", "major", "bad.yaml"),
        ("ML204", "info", "old.yaml"),
    ]


def test_cli_statistics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(BAD)
    (tmp_path / "old.yaml").write_text(OLD)
    res = runner.invoke(app, [*ARGS, "--statistics", "bad.yaml", "old.yaml"])
    assert res.exit_code == 1  # the threshold still decides the exit status
    assert res.stdout == (
        "   1  ML101  yaml-syntax      [error]\n"
        "   1  ML204  old-api-version  [info]\n"
        "   2  total: 1 error, 0 warnings, 1 info in 2 files\n"
    )
    assert runner.invoke(app, [*ARGS, "--statistics", "old.yaml"]).exit_code == 0
    out = tmp_path / "stats.txt"
    res = runner.invoke(app, [*ARGS, "--statistics", "-o", str(out), "bad.yaml"])
    assert res.exit_code == 1 and res.stdout == ""
    assert out.read_text(encoding="utf-8").endswith("1 error, 0 warnings, 0 infos in 1 file\n")
    mixed = runner.invoke(app, [*ARGS, "--statistics", "--format", "json", "bad.yaml"])
    assert mixed.exit_code == 2
    assert "--statistics" in mixed.output and mixed.stdout == ""
