"""What the command line does with unusual inputs: pipes, folders without manifests, files
whose fixes cannot be written, and what ``lint --help`` says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from typer.testing import CliRunner

from meshlint import fix as fix_mod
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

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")


def run(
    *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "meshlint", *args],
        text=True,
        capture_output=True,
        cwd=cwd or REPO,
        env=env,
        timeout=timeout,  # a run that waits on a pipe fails the test instead of hanging it
        stdin=subprocess.DEVNULL,
    )


@needs_fifo
def test_a_pipe_named_like_a_manifest_in_a_folder_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "vs.yaml").write_text(OLD_VS)
    os.mkfifo(tmp_path / "stream.yaml")  # nobody ever writes to it
    proc = run("lint", "--no-config", "--select", "ML204", "--format", "json", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert '"files": 1' in proc.stdout
    assert "stream.yaml" not in proc.stdout


@needs_fifo
def test_a_pipe_named_explicitly_is_read_as_a_stream(tmp_path: Path) -> None:
    pipe = tmp_path / "rendered.yaml"
    os.mkfifo(pipe)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meshlint",
            "lint",
            "--no-config",
            "--select",
            "ML204",
            "--fail-on",
            "info",
            str(pipe),
        ],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    try:
        with open(pipe, "w") as writer:  # waits for meshlint to open it
            writer.write(OLD_VS)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    assert "ML204" in out and str(pipe) in out
    assert f"reading {pipe} as a stream" in err


@needs_fifo
def test_fix_refuses_a_pipe(tmp_path: Path) -> None:
    pipe = tmp_path / "rendered.yaml"
    os.mkfifo(pipe)
    proc = run("lint", "--no-config", "--fix", str(pipe))
    assert proc.returncode == 2
    assert "is a pipe or device" in proc.stderr and "stdin ('-')" in proc.stderr


def test_a_folder_without_manifests_says_so(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("nothing here\n")
    proc = run("lint", "--no-config", str(tmp_path))
    # a warning on stderr, and nothing failed
    assert proc.returncode == 0
    assert "nothing to lint" in proc.stderr and str(tmp_path) in proc.stderr
    assert "in 0 files" in proc.stdout


def test_fix_goes_on_past_a_file_it_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [tmp_path / f"{name}.yaml" for name in ("a", "b", "c")]
    for f in files:
        f.write_text(OLD_VS)
    write = fix_mod.write_fixed

    def refuse_b(path: str, text: str, bom: bytes) -> None:
        if path.endswith("b.yaml"):
            raise PermissionError(13, "Permission denied")
        write(path, text, bom)

    monkeypatch.setattr(fix_mod, "write_fixed", refuse_b)
    result = runner.invoke(app, ["lint", "--no-config", "--fix", *map(str, files)])
    assert result.exit_code == 2  # as an I/O error: the run could not do all it was asked
    assert f"cannot write the fixes of {files[1]}: Permission denied" in result.stderr
    assert "fixed 2 findings in 2 files; 1 file could not be written" in result.stderr
    assert "v1alpha3" not in files[0].read_text()
    assert "v1alpha3" in files[1].read_text()
    assert "v1alpha3" not in files[2].read_text()  # the file after it is fixed too


def test_lint_help_describes_paths_and_fail_on_choices() -> None:
    result = runner.invoke(app, ["lint", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = re.sub(r"\s+", " ", result.output)
    assert "Files or folders to lint" in text
    assert "[error|warning|info|none]" in text
    assert runner.invoke(app, ["lint", "--no-config", "--fail-on", "often", "."]).exit_code == 2
