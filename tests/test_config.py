"""Finding and reading the configuration file."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshlint import config
from meshlint.diagnostics import Severity


def test_yaml_config_found_upwards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".meshlint.yaml").write_text("ignore: [ML204]\nfail-on: warning\n")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    cfg = config.load()
    assert cfg.path == tmp_path / ".meshlint.yaml"
    assert cfg.ignore == ["ML204"] and cfg.fail_on is Severity.WARNING
    assert cfg.root == tmp_path.resolve()


def test_pyproject_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.meshlint]\nselect = ["ML2"]\n'
        'per-file-ignores = { "old/*" = ["ML204"] }\n[tool.meshlint.severity]\nML204 = "warning"\n'
    )
    monkeypatch.chdir(tmp_path)
    cfg = config.load()
    assert cfg.select == ["ML2"]
    assert cfg.severity == {"ML204": Severity.WARNING}
    assert cfg.per_file_ignores == {"old/*": ["ML204"]}


def test_pyproject_without_section_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".meshlint.yml").write_text("select: [ML1]\n")
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "x"\n')
    monkeypatch.chdir(inner)
    assert config.load().select == ["ML1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n", "must be a mapping"),
        ("select: 3\n", "list of strings"),
        ("severity: [ML204]\n", "severity"),
        ("a: [\n", "not valid YAML"),
        ("external-hosts: 3\n", "`external-hosts` must be a list of strings"),
        ("external-namespaces: [1]\n", "`external-namespaces` must be a list of strings"),
        ("root-namespace: ''\n", "`root-namespace` must be a non-empty string"),
        ("trust-domain: [a]\n", "`trust-domain` must be a non-empty string"),
        ("enable-auto-mtls: maybe\n", "`enable-auto-mtls` must be true or false"),
        ("external-host: [a]\n", "did you mean `external-hosts`"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / ".meshlint.yaml"
    path.write_text(text)
    with pytest.raises(config.ConfigError, match=message):
        config.load(path)


def test_no_config_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = config.load()
    assert cfg.path is None or cfg.path.parent not in tmp_path.parents
    assert config.Config().enabled("ML204")


def test_mesh_settings_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / ".meshlint.yaml"
    path.write_text(
        "external-hosts: ['*.example.com']\n"
        "external_namespaces: billing, shared-*\n"
        "extension-providers: [otel]\n"
        "enable-auto-mtls: false\n"
        "root-namespace: mesh-root\n"
        "trust-domain: corp.example\n"
        "cluster-domain: cluster.corp\n"
    )
    settings = config.load(path).mesh_settings()
    assert settings.external_hosts == ("*.example.com",)
    assert settings.external_namespaces == ("billing", "shared-*")
    assert settings.extension_providers == ("otel",)
    assert settings.enable_auto_mtls is False
    assert config.Config().mesh_settings().enable_auto_mtls is None
    assert settings.root_namespace == "mesh-root"
    assert settings.trust_domain == "corp.example"
    assert settings.cluster_domain == "cluster.corp"
