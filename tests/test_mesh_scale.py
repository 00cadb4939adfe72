"""The cross-resource stage does work linear in the resources of a run, copies of one resource
included (overlays rendered for several environments hold many): counted in function calls,
never in time."""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from meshlint import engine
from meshlint.config import Config
from meshlint.mesh import MeshIndex

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rules" / "mesh"
# fixtures whose rules look at the workloads behind hosts and selectors, and at the hosts
# of routes; then those whose rules compare a resource with the others of its namespace,
# host or port, where copies used to be compared with each other
COPIED = (
    "ML930-bad",
    "ML930-good",
    "ML903-bad",
    "ML906-bad",
    "ML955-bad",
    "ML983-bad",
    "ML939-bad",
    "ML985-bad",
    "ML994-bad",
    "ML901-bad",
    "ML933-dr-disable-bad",
    "ML935-bad",
    "ML937-bad",
    "ML958-bad",
    "ML965-good",
    "ML976-bad",
    "ML995-bad",
)


def _run(tmp_path: Path, copies: int, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """(function calls made by the cross-resource stage, findings) over ``copies`` copies of
    each fixture, each copy a file of one folder."""
    folder = tmp_path / str(copies)
    folder.mkdir()
    for name in COPIED:
        text = (FIXTURES / f"{name}.yaml").read_text()
        for i in range(copies):
            (folder / f"{name}-{i}.yaml").write_text(text)
    calls = 0

    def count(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    stage = engine._mesh_stage

    def counted(*args: Any) -> Any:
        sys.setprofile(count)
        try:
            return stage(*args)
        finally:
            sys.setprofile(None)

    monkeypatch.setattr(engine, "_mesh_stage", counted)
    result = engine.lint_paths([str(folder)], Config())
    monkeypatch.setattr(engine, "_mesh_stage", stage)
    return calls, len(result.findings)


def test_copies_of_one_set_of_resources_cost_linear_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small, found_small = _run(tmp_path, 8, monkeypatch)
    large, found_large = _run(tmp_path, 32, monkeypatch)
    assert found_large > found_small > 0
    # four times the copies: four times the work (and some), not sixteen or sixty-four
    assert large < 4.5 * small, (small, large)


def test_peer_modes_are_worked_out_once_per_namespace_labels_and_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    computed = 0
    work = MeshIndex._peer_mode

    def counting(self: MeshIndex, *args: Any) -> Any:
        nonlocal computed
        computed += 1
        return work(self, *args)

    monkeypatch.setattr(MeshIndex, "_peer_mode", counting)
    text = (FIXTURES / "ML930-bad.yaml").read_text()
    asked = []
    for copies in (5, 40):
        computed = 0
        result = engine.lint_text("---\n".join([text] * copies), Config(select=["ML930"]))
        assert len(result.findings) == 2 * copies
        asked.append(computed)
    # the copies ask the same questions: the index answers each once however many there are
    assert asked[0] == asked[1] > 0
