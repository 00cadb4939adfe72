"""--watch lints again when a file changes, appears or goes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from meshlint.cli import app
from meshlint.watch import snapshot, watch


def test_watch_runs_again_after_each_change(tmp_path: Path) -> None:
    f = tmp_path / "vs.yaml"
    f.write_text("kind: A\n")
    runs: list[int] = []
    changes = [
        lambda: f.write_text("kind: B\nmetadata: {}\n"),  # edited
        lambda: (tmp_path / "new.yaml").write_text("kind: C\n"),  # appears
        lambda: f.unlink(),  # goes
    ]
    polls = 0

    def fake_sleep(_: float) -> None:
        nonlocal polls
        polls += 1
        assert polls < 50, "no change was noticed"
        if polls % 3 == 0 and changes:  # a few idle polls, then the next change
            changes.pop(0)()

    count = watch([str(tmp_path)], [], lambda: runs.append(1), max_runs=4, sleep=fake_sleep)
    assert count == 4 and len(runs) == 4
    assert not changes


def test_snapshot_follows_excludes(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("kind: A\n")
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / "b.yaml").write_text("kind: B\n")
    assert [Path(p).name for p in snapshot([str(tmp_path)], ["skip"])] == ["a.yaml"]


def test_watch_refuses_stdin_and_cluster() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["lint", "--no-config", "--watch", "-"])
    assert result.exit_code == 2 and "--watch" in result.output
