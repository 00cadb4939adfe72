"""The start-up path of `meshlint lint` loads only what linting needs.

A pre-commit hook runs meshlint on one file many times a day: the kubernetes client, jsonschema,
the parallel runner, the other reporters, rich (for machine-readable formats) and the command
line's framework (Typer, Click: a plain lint command line does not build the application) must
stay out. The plain command line gives what the application gives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
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
    "typer",
    "click",
    "hashlib",
    "meshlint.cli.common",
    "meshlint.fix",
    "meshlint.watch",
    "meshlint.translate",
    "meshlint.report.junit",
    "meshlint.report.gitlab",
    "meshlint.report.github",
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


def test_lint_text_builds_its_own_text_but_imports_not_the_rest() -> None:
    modules = modules_after("lint", "--no-config", "examples/broken/names.yaml")
    assert "meshlint.report.text" in modules
    assert not _loaded(modules, "rich.console")  # colours off: rich is not rendering
    for name in NEVER:
        assert not _loaded(modules, name), f"`meshlint lint` imported {name}"


def test_lint_with_the_common_options_stays_light() -> None:
    modules = modules_after(
        "--no-config", "--select", "ML4,ML9", "--ignore", "ML451", "--fail-on=warning",
        "--format", "json", "-j", "2", "--exclude", "nothing", "examples/mesh",
    )  # fmt: skip
    for name in (*NEVER, "rich"):
        assert not _loaded(modules, name), f"this `meshlint lint` imported {name}"


def test_other_command_lines_build_the_application() -> None:
    for args in (("version",), ("lint", "--no-config", "--statistics", "examples/mesh")):
        assert "typer" in modules_after(*args), args


def test_version_is_light() -> None:
    modules = modules_after("version")
    light = ("kubernetes", "jsonschema", "meshlint.parallel", "pydantic", "rich")
    for name in (*light, "meshlint.engine", "meshlint.models.networking", "yaml"):
        assert not _loaded(modules, name), f"`meshlint version` imported {name}"


TYPER = """
import sys
from meshlint.cli import common, lint
try:
    common.main(sys.argv[1:])
except SystemExit as exc:
    sys.exit(exc.code)
"""


@pytest.mark.parametrize(
    "args",
    [
        ("lint", "--no-config", "--format", "json", "examples/mesh"),
        ("--no-config", "--select", "ML9", "--format=json", "examples/mesh"),
        ("lint", "--no-config", "--fail-on", "warning", "--color", "never", "examples/mesh"),
        ("--no-config", "--format", "github", "examples/broken/names.yaml", "-f", "examples/mesh"),
        ("--no-config", "--ignore", "ML1,ML2", "--exclude", "*.json", "--format", "json",
         "tests/fixtures/loader"),
        ("--no-config", "--color", "never", "examples/broken/names.yaml"),
        ("--no-config", "--format", "json", "--", "examples/broken/names.yaml"),
        ("--no-config", "--select", "NOPE", "examples/mesh"),  # a usage error: the app says it
        ("--no-config", "no/such/file.yaml"),
        ("--no-config", "--format", "JSON", "examples/mesh"),
        ("--no-config", "-j", "0", "examples/mesh"),
    ],
)  # fmt: skip
def test_a_plain_command_line_gives_what_the_application_gives(args: tuple[str, ...]) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), NO_COLOR="1")

    def run(*cmd: str) -> tuple[int, str, str]:
        proc = subprocess.run(
            [sys.executable, *cmd, *args], capture_output=True, text=True, env=env, cwd=REPO,
            timeout=120,
        )  # fmt: skip
        return proc.returncode, proc.stdout, proc.stderr

    assert run("-m", "meshlint") == run("-c", TYPER)


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


def test_a_lint_loads_the_rules_of_the_kinds_it_meets() -> None:
    # A VirtualService alone: its folder, the folders of every kind, the cross-resource rules.
    modules = modules_after(
        "lint", "--no-config", "--format", "json", "tests/fixtures/rules/virtualservice"
    )
    folders = {m.split(".")[2] for m in modules if m.count(".") >= 3 and ".rules.lib." not in m}
    folders = {f for f in folders if f"meshlint.rules.{f}" in modules}
    assert {"virtualservice", "metadata", "schema", "mesh"} <= folders
    for other in ("destinationrule", "gateway", "serviceentry", "sidecar", "security"):
        assert other not in folders, f"a lint of VirtualServices loaded the {other} rules"
    everything = modules_after("lint", "--no-config", "--format", "json", "examples/mesh")
    assert "meshlint.rules.destinationrule" in everything


HOLD_PROBE = """
import atexit, gc, sys, weakref
from meshlint.cli import fastpath, main

seen = []
status = fastpath.exit_status


def spy(result, cfg):
    seen.append(weakref.ref(result))
    return status(result, cfg)


fastpath.exit_status = spy
atexit.register(lambda: sys.stderr.write("exit handlers ran\\n"))
if sys.argv[1] == "as-the-program":
    sys.argv[1:] = sys.argv[2:]
    argv = None
else:
    argv = sys.argv[2:]
try:
    main(argv)
except SystemExit as exc:
    gc.collect()
    sys.stderr.write(f"status {exc.code}, result {'held' if seen[0]() else 'freed'}\\n")
    raise
"""


@pytest.mark.parametrize(
    ("how", "held"), [("as-the-program", "held"), ("called-with-its-arguments", "freed")]
)
def test_a_run_as_the_program_leaves_its_objects_to_the_exit(how: str, held: str) -> None:
    """Called as the program (no arguments given: they are the process's), a lint keeps what
    it holds to the end of the process, as freeing it object by object costs a tenth of a
    second at 5,000 services; the exit handlers run and the status is kept all the same.
    Called with its arguments, by another program, it holds on to nothing."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    manifest = REPO / "examples"
    proc = subprocess.run(
        [sys.executable, "-c", HOLD_PROBE, how, "lint", "--no-config", "--format", "json",
         str(manifest)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert f"result {held}" in proc.stderr, proc.stderr
    assert "exit handlers ran" in proc.stderr
    report = json.loads(proc.stdout)
    assert proc.returncode == (1 if report["findings"] else 0)
    assert f"status {proc.returncode}," in proc.stderr
