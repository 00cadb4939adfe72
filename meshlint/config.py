"""Project configuration: ``.meshlint.yaml`` or ``[tool.meshlint]`` in pyproject.toml.

Looked for from the current folder upwards; the first folder that has either wins (the YAML file
first). Every key is checked: an unknown key or a wrong type is a usage error, not a silent no-op.

```yaml
select: [ML]                 # codes, code prefixes (ML2) or rule names; default: every rule
ignore: [ML204]
severity: {ML204: warning}   # change the severity of a rule
per-file-ignores:            # glob (relative to the config file's folder) → codes
  "legacy/**": [ML206]
exclude: ["charts/**/templates"]
fail-on: error               # error | warning | info | none
cluster-domain: cluster.local
schema-locations: ["schemas/{kind}-{version}.json"]
# What exists outside the linted files (the cross-resource rules take references to it as
# resolved): host patterns, namespaces, and MeshConfig extension provider names.
external-hosts: ["*.payments.svc.cluster.local", "api.example.com"]
external-namespaces: [istio-system, "shared-*"]
extension-providers: [otel, zipkin]
enable-auto-mtls: false       # MeshConfig enableAutoMtls, when Istio's ConfigMap is not linted
root-namespace: istio-system  # Istio's root (config) namespace
trust-domain: cluster.local
options:                     # settings of single rules (`meshlint explain CODE` lists them)
  ML519: {min-connect-timeout: 50ms}
```

An old rule code (of rules merged into one, or of a rule split in several) stands for the rules
that took it over, in every place a code is written.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshlint.diagnostics import ConfigError, Severity

if TYPE_CHECKING:
    from meshlint.mesh import MeshSettings

CONFIG_FILES = (".meshlint.yaml", ".meshlint.yml")


@dataclass
class Config:
    select: list[str] = field(default_factory=lambda: ["ML"])
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)
    fail_on: Severity | None = Severity.ERROR  # None: never fail on findings
    cluster_domain: str = "cluster.local"
    schema_locations: list[str] = field(default_factory=list)
    external_hosts: list[str] = field(default_factory=list)
    external_namespaces: list[str] = field(default_factory=list)
    extension_providers: list[str] = field(default_factory=list)
    enable_auto_mtls: bool | None = None  # None: as Istio's ConfigMap says, else on
    root_namespace: str = "istio-system"
    trust_domain: str = "cluster.local"
    # Rule options as written: rule code → {option name: value} (checked by from_mapping).
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    root: Path = field(default_factory=Path.cwd)  # folder of the config file
    path: Path | None = None  # the config file, if any

    def enabled(self, code: str) -> bool:
        return _matches(code, self.select) and not _matches(code, self.ignore)

    def options_for(self, code: str) -> dict[str, Any]:
        """The options the configuration gives rule ``code`` (not its defaults)."""
        return self.options.get(code, {})

    def ignored_in(self, file: str, code: str) -> bool:
        if not self.per_file_ignores:
            return False
        rel = _relative(file, self.root)
        return any(
            (fnmatch(rel, glob) or fnmatch(rel, glob.rstrip("/") + "/*")) and _matches(code, codes)
            for glob, codes in self.per_file_ignores.items()
        )

    def severity_of(self, code: str, default: Severity) -> Severity:
        return self.severity.get(code, default)

    def mesh_settings(self) -> MeshSettings:
        from meshlint.mesh import MeshSettings

        return MeshSettings(
            cluster_domain=self.cluster_domain,
            root_namespace=self.root_namespace,
            external_hosts=tuple(self.external_hosts),
            external_namespaces=tuple(self.external_namespaces),
            extension_providers=tuple(self.extension_providers),
            enable_auto_mtls=self.enable_auto_mtls,
            trust_domain=self.trust_domain,
        )


def _relative(file: str, root: Path) -> str:
    try:
        return Path(os.path.abspath(file)).relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(file).as_posix()


def _matches(code: str, selectors: list[str]) -> bool:
    return any(sel == "ALL" or code.startswith(sel) or code in _codes_of(sel) for sel in selectors)


@functools.lru_cache(maxsize=1024)
def _codes_of(selector: str) -> frozenset[str]:
    """The codes a rule name or an old code stands for."""
    from meshlint import rules

    return frozenset(r.code for r in rules.lookup(selector))


def check_selectors(selectors: list[str], where: str) -> list[str]:
    """``selectors`` when each is a rule code, a code prefix or a rule name; else ConfigError."""
    for sel in selectors:
        if not _known_selector(sel):
            raise ConfigError(
                f"{where} names `{sel}`, which is no rule code, prefix or name "
                "(see `meshlint rules`)"
            )
    return selectors


def _known_selector(sel: str) -> bool:
    from meshlint import rules

    if sel == "ALL" or rules.lookup(sel):
        return True
    return any(r.code.startswith(sel) for r in rules.all_rules())


_KEYS = {
    "select",
    "ignore",
    "severity",
    "per-file-ignores",
    "exclude",
    "fail-on",
    "cluster-domain",
    "schema-locations",
    "external-hosts",
    "external-namespaces",
    "extension-providers",
    "enable-auto-mtls",
    "root-namespace",
    "trust-domain",
    "options",
}


def find(start: Path | None = None) -> Path | None:
    folder = (start or Path.cwd()).resolve()
    for d in (folder, *folder.parents):
        for name in CONFIG_FILES:
            if (d / name).is_file():
                return d / name
        py = d / "pyproject.toml"
        if py.is_file() and _has_tool_section(py):
            return py
    return None


def _has_tool_section(py: Path) -> bool:
    try:
        return "[tool.meshlint" in py.read_text(encoding="utf-8")
    except OSError:
        return False


def load(path: Path | None = None, *, discover: bool = True) -> Config:
    if path is None and discover:
        path = find()
    if path is None:
        return Config()
    raw = _read(path)
    return from_mapping(raw, root=path.parent.resolve(), path=path)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc}") from None
    if path.name == "pyproject.toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        section = doc.get("tool", {}).get("meshlint", {})
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [tool.meshlint] must be a table")
        return section
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of settings")
    return data


def _str_list(value: Any, key: str, where: Path | None) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: `{key}` must be a list of strings")
    return list(value)


def _severity(value: Any, key: str, where: Path | None) -> Severity:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: `{key}` must be one of error, warning, info")
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: `{key}`: {exc}") from None


def _rule_options(value: Any, where: Path | None) -> dict[str, dict[str, Any]]:
    """``options: {CODE or name: {option: value}}``, each checked against the rule's options."""
    from meshlint import rules

    if not isinstance(value, dict):
        raise ConfigError(f"{where}: `options` must map rule codes to their options")
    out: dict[str, dict[str, Any]] = {}
    for key, given in value.items():
        r = rules.get(str(key))
        if r is None:
            raise ConfigError(f"{where}: `options` names `{key}`, which is no rule")
        if not isinstance(given, dict):
            raise ConfigError(f"{where}: `options.{key}` must map option names to values")
        try:
            r.option_values(given)
        except ValueError as exc:
            raise ConfigError(f"{where}: `options.{key}`: {exc}") from None
        out[r.code] = {str(k).replace("_", "-"): v for k, v in given.items()}
    return out


def parse_fail_on(value: str) -> Severity | None:
    if value.strip().lower() == "none":
        return None
    return Severity.parse(value)


def from_mapping(
    raw: dict[str, Any], *, root: Path | None = None, path: Path | None = None
) -> Config:
    cfg = Config(root=root or Path.cwd(), path=path)
    normalized = {str(k).replace("_", "-"): v for k, v in raw.items()}
    unknown = sorted(set(normalized) - _KEYS)
    if unknown:
        from meshlint.suggest import closest

        hints = []
        for k in unknown:
            close = closest(k, _KEYS, cutoff=0.6)
            hints.append(f"`{k}`" + (f" (did you mean `{close}`?)" if close else ""))
        raise ConfigError(
            f"{path}: unknown setting {', '.join(hints)}; known: {', '.join(sorted(_KEYS))}"
        )
    if "select" in normalized:
        cfg.select = _str_list(normalized["select"], "select", path)
    if "ignore" in normalized:
        cfg.ignore = _str_list(normalized["ignore"], "ignore", path)
    for key in ("select", "ignore"):
        check_selectors(getattr(cfg, key), f"{path}: `{key}`")
    sev = normalized.get("severity", {})
    if not isinstance(sev, dict):
        raise ConfigError(f"{path}: `severity` must map rule codes to error, warning or info")
    from meshlint import rules

    for code, level in sev.items():
        found = rules.lookup(str(code))
        if not found:
            raise ConfigError(f"{path}: `severity` names `{code}`, which is no rule")
        for r in found:
            cfg.severity[r.code] = _severity(level, f"severity.{code}", path)
    pfi = normalized.get("per-file-ignores", {})
    if not isinstance(pfi, dict):
        raise ConfigError(f"{path}: `per-file-ignores` must map file globs to lists of codes")
    cfg.per_file_ignores = {
        str(g): _str_list(c, f"per-file-ignores.{g}", path) for g, c in pfi.items()
    }
    if "exclude" in normalized:
        cfg.exclude = _str_list(normalized["exclude"], "exclude", path)
    if "fail-on" in normalized:
        value = normalized["fail-on"]
        if not isinstance(value, str):
            raise ConfigError(f"{path}: `fail-on` must be one of error, warning, info, none")
        try:
            cfg.fail_on = parse_fail_on(value)
        except ValueError as exc:
            raise ConfigError(f"{path}: `fail-on`: {exc}") from None
    if "cluster-domain" in normalized:
        value = normalized["cluster-domain"]
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path}: `cluster-domain` must be a domain such as cluster.local")
        cfg.cluster_domain = value
    for key in ("external-hosts", "external-namespaces", "extension-providers"):
        if key in normalized:
            setattr(cfg, key.replace("-", "_"), _str_list(normalized[key], key, path))
    if "enable-auto-mtls" in normalized:
        value = normalized["enable-auto-mtls"]
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: `enable-auto-mtls` must be true or false")
        cfg.enable_auto_mtls = value
    for key in ("root-namespace", "trust-domain"):
        if key in normalized:
            value = normalized[key]
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{path}: `{key}` must be a non-empty string")
            setattr(cfg, key.replace("-", "_"), value)
    if "options" in normalized:
        cfg.options = _rule_options(normalized["options"], path)
    if "schema-locations" in normalized:
        # Relative to the configuration file's folder, as every path in it; URLs stay as given.
        cfg.schema_locations = [
            loc if "://" in loc or os.path.isabs(loc) or path is None else str(cfg.root / loc)
            for loc in _str_list(normalized["schema-locations"], "schema-locations", path)
        ]
    return cfg
