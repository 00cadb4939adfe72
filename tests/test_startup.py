"""The start-up path of `meshlint lint` loads only what linting needs.

A pre-commit hook runs meshlint on one file many times a day: the kubernetes client, jsonschema,
the parallel runner, the other reporters and rich (for machine-readable formats) must stay out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO

PROBE = """
import json, sys
from meshlint.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
sys.stdout.flush()
sys.stderr.write(json.dumps(sorted(sys.modules)))
"""

NEVER = (
    "kubernetes",
    "jsonschema",
    "meshlint.parallel",
    "meshlint.report.sarif",
    "ruamel",
    "urllib3",
    "requests",
    "pydantic",
    "pydantic_core",
)


def modules_after(*args: str) -> set[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


def test_lint_json_imports_only_what_it_needs() -> None:
    modules = modules_after("lint", "--no-config", "--format", "json", "examples/mesh")
    assert "meshlint.engine" in modules and "yaml" in modules
    for name in (*NEVER, "rich"):
        assert not _loaded(modules, name), f"`meshlint lint --format json` imported {name}"


def test_lint_text_may_use_rich_but_not_the_rest() -> None:
    modules = modules_after("lint", "--no-config", "examples/broken/names.yaml")
    assert "rich.console" in modules
    for name in NEVER:
        assert not _loaded(modules, name), f"`meshlint lint` imported {name}"


def test_version_is_light() -> None:
    modules = modules_after("version")
    for name in (*NEVER, "rich", "meshlint.engine", "meshlint.models.networking", "yaml"):
        assert not _loaded(modules, name), f"`meshlint version` imported {name}"


def test_cel_and_certificate_libraries_load_only_for_what_needs_them() -> None:
    modules = modules_after("lint", "--no-config", "--format", "json", "examples/mesh")
    for name in ("celpy", "lark", "cryptography"):
        assert not _loaded(modules, name), f"`meshlint lint` imported {name}"
    cel = modules_after(
        "lint", "--no-config", "--format", "json", "tests/fixtures/rules/telemetry/filter-cel.yaml"
    )
    assert _loaded(cel, "celpy") and not _loaded(cel, "cryptography")
    certs = modules_after(
        "lint", "--no-config", "--format", "json", "tests/fixtures/rules/mesh/ML957-certs.yaml"
    )
    assert _loaded(certs, "cryptography") and not _loaded(certs, "celpy")
