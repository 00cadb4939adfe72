"""The command line as users and CI run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, REPO
from typer.testing import CliRunner

from meshlint.cli import app

runner = CliRunner()

OLD_VS = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: reviews
  namespace: shop
spec:
  hosts: [reviews]
"""


def run(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "meshlint", *args],
        input=stdin,
        text=True,
        capture_output=True,
        cwd=cwd or REPO,
        env=env,
        timeout=120,
    )


def test_json_contract_and_exit_status(tmp_path: Path) -> None:
    f = tmp_path / "vs.yaml"
    f.write_text(OLD_VS)
    proc = run("lint", "--format", "json", "--no-config", "--fail-on", "info", str(f))
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) == {"findings", "summary"}
    (finding,) = [x for x in doc["findings"] if x["rule"] == "ML204"]
    assert {k for k in finding if k != "fix"} == {
        "rule",
        "severity",
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
        "resource",
        "path",
        "message",
    }
    assert finding["severity"] == "info"
    assert (finding["line"], finding["column"]) == (1, 13)
    assert finding["resource"] == "VirtualService/shop/reviews"
    assert finding["path"] == "apiVersion"
    assert doc["summary"]["files"] == 1 and doc["summary"]["resources"] == 1
    assert doc["summary"]["infos"] >= 1


def test_default_command_is_lint_and_infos_do_not_fail(tmp_path: Path) -> None:
    f = tmp_path / "vs.yaml"
    f.write_text(OLD_VS)
    result = runner.invoke(app, ["lint", "--no-config", "--select", "ML204", str(f)])
    assert result.exit_code == 0, result.output
    assert "ML204" in result.output
    proc = run("--no-config", "--select", "ML204", str(f))
    assert proc.returncode == 0 and "ML204" in proc.stdout


def test_stdin_with_filename() -> None:
    proc = run(
        "lint",
        "--no-config",
        "--format",
        "json",
        "--stdin-filename",
        "k8s/vs.yaml",
        "-",
        stdin="kind: [\n",
    )
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["findings"][0]["file"] == "k8s/vs.yaml"
    assert doc["findings"][0]["rule"] == "ML101"


def test_missing_path_is_usage_error() -> None:
    result = runner.invoke(app, ["lint", "--no-config", "does/not/exist.yaml"])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_bad_option_values_are_usage_errors(tmp_path: Path) -> None:
    assert runner.invoke(app, ["lint", "--no-config", "--fail-on", "often", "."]).exit_code == 2
    assert runner.invoke(app, ["lint", "--no-config", "--select", "XYZ", "."]).exit_code == 2
    cfg = tmp_path / ".meshlint.yaml"
    cfg.write_text("selekt: [ML2]\n")
    result = runner.invoke(app, ["lint", "--config", str(cfg), str(tmp_path)])
    assert result.exit_code == 2 and "selekt" in result.output


def test_config_file_is_used(tmp_path: Path) -> None:
    (tmp_path / ".meshlint.yaml").write_text("select: [ML204]\nfail-on: info\n")
    (tmp_path / "vs.yaml").write_text(OLD_VS)
    proc = run("lint", ".", cwd=tmp_path)
    assert proc.returncode == 1 and "ML204" in proc.stdout


def test_output_file(tmp_path: Path) -> None:
    f = tmp_path / "vs.yaml"
    f.write_text(OLD_VS)
    out = tmp_path / "out" / "report.json"
    result = runner.invoke(
        app,
        ["lint", "--no-config", "--format", "json", "-o", str(out), "--select", "ML204", str(f)],
    )
    assert result.exit_code == 0
    assert json.loads(out.read_text())["findings"][0]["rule"] == "ML204"


def test_rules_explain_version() -> None:
    result = runner.invoke(app, ["rules"])
    assert result.exit_code == 0 and "ML101" in result.output and "ML204" in result.output
    result = runner.invoke(app, ["rules", "--format", "json"])
    codes = [r["code"] for r in json.loads(result.output)]
    assert codes == sorted(codes) and "ML206" in codes
    result = runner.invoke(app, ["explain", "ML206"])
    assert result.exit_code == 0 and "retires" in result.output and "Bad:" in result.output
    assert runner.invoke(app, ["explain", "unknown-field"]).exit_code == 0
    assert runner.invoke(app, ["explain", "ML198"]).exit_code == 2
    assert runner.invoke(app, ["version"]).output.startswith("meshlint ")


@pytest.mark.parametrize("path", ["istio-samples"])
def test_istio_samples_have_no_errors(path: str) -> None:
    proc = run("lint", "--no-config", "--format", "json", str(CORPUS / path))
    doc = json.loads(proc.stdout)
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert proc.returncode == 0, errors[:5]
    assert not errors
    assert doc["summary"]["resources"] >= 95


def test_seed_corpus_findings_at_their_lines() -> None:
    proc = run("lint", "--no-config", "--format", "json", str(CORPUS / "seed"))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    found = {
        (Path(f["file"]).name, f["rule"], f["line"]) for f in json.loads(proc.stdout)["findings"]
    }
    for line, _key in ((16, "apiVersion"), (17, "kind"), (18, "metadata"), (20, "spec")):
        assert ("02.yaml", "ML102", line) in found
    assert ("15.yaml", "ML104", 2) in found
    assert {("04.yaml", "ML306", 12), ("04.yaml", "ML306", 13)} <= found
    assert ("24.yaml", "ML302", 5) in found  # `name:熔断配置`, a name that is no DNS name


def test_demo_examples(tmp_path: Path) -> None:
    proc = run("lint", "--no-config", "--format", "json", "examples/mesh")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0, doc["findings"]
    assert not doc["findings"]
    proc = run("lint", "--no-config", "--format", "json", "examples/broken")
    assert proc.returncode == 1
    rules = {f["rule"] for f in json.loads(proc.stdout)["findings"]}
    assert {"ML102", "ML206", "ML207", "ML209", "ML302", "ML306", "ML204"} <= rules


def test_schema_location_from_cli(tmp_path: Path) -> None:
    from conftest import FIXTURES

    f = tmp_path / "cm.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: 1\n")
    schemas = FIXTURES / "external" / "schemas"
    proc = run("lint", "--no-config", "--format", "json", "--schema-location", str(schemas), str(f))
    findings = json.loads(proc.stdout)["findings"]
    assert [(x["rule"], x["line"], x["path"]) for x in findings] == [("ML210", 6, "data.a")]
    proc = run("lint", "--no-config", "--schema-location", str(tmp_path / "nope"), str(f))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_schema_command(tmp_path: Path) -> None:
    listing = runner.invoke(app, ["schema"])
    assert listing.exit_code == 0
    assert "networking.istio.io/v1alpha3  VirtualService" in listing.output
    one = runner.invoke(app, ["schema", "VirtualService"])
    assert one.exit_code == 0
    schema = json.loads(one.output)
    assert "spec" in schema["properties"]
    explicit = runner.invoke(app, ["schema", "security.istio.io/v1beta1/AuthorizationPolicy"])
    assert explicit.exit_code == 0 and json.loads(explicit.output)["properties"]
    assert runner.invoke(app, ["schema", "Nope"]).exit_code == 2
    out = tmp_path / "schemas"
    exported = runner.invoke(app, ["schema", "--export", str(out)])
    assert exported.exit_code == 0
    files = sorted(p.name for p in out.glob("*.json"))
    assert "virtualservice-networking.istio.io-v1.json" in files and len(files) >= 30


def test_filename_option_as_kubectl_spells_it(tmp_path: Path) -> None:
    f = tmp_path / "vs.yaml"
    f.write_text(OLD_VS)
    result = runner.invoke(
        app, ["lint", "--no-config", "--select", "ML204", "-f", str(f), "--format", "json"]
    )
    assert result.exit_code == 0
    assert [x["rule"] for x in json.loads(result.output)["findings"]] == ["ML204"]
