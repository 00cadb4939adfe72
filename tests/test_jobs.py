"""How many worker processes a run gets, and how its files are sliced among them."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshlint.engine import BYTES_PER_WORKER, workers_for
from meshlint.parallel import _slices


def _files(tmp_path: Path, sizes: list[int]) -> list[str]:
    out = []
    for i, size in enumerate(sizes):
        f = tmp_path / f"f{i:03d}.yaml"
        f.write_bytes(b"#" * size)
        out.append(str(f))
    return out


def test_workers_follow_the_input_size_not_the_file_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    small = _files(tmp_path, [1000] * 200)  # many files, little input: one process
    assert workers_for(small, 8) == 1
    (tmp_path / "big").mkdir()
    big = _files(tmp_path / "big", [BYTES_PER_WORKER // 2] * 7)  # 3.5 MiB: three workers
    assert workers_for(big, 8) == 3
    assert workers_for(big, 2) == 2
    assert workers_for(big, 1) == 1
    assert workers_for([*big, "-"], 8) == 1  # stdin is read by this process


def test_workers_never_outnumber_the_cores_or_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    files = _files(tmp_path, [BYTES_PER_WORKER * 2] * 43)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert workers_for(files, 500) == 2
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert workers_for(files, 500) == 43
    assert workers_for(files[:1], 500) == 1


def test_slices_keep_the_order_and_share_the_bytes(tmp_path: Path) -> None:
    sizes = [50_000] + [1000] * 99 + [200_000, 10]
    files = _files(tmp_path, sizes)
    for jobs in (1, 2, 3, 30):
        parts = _slices(files, jobs)
        assert [f for part in parts for f in part] == files
        assert all(parts) and len(parts) <= jobs * 4
    parts = _slices(files, 2)
    weights = [sum(Path(f).stat().st_size for f in part) for part in parts]
    # no slice but the one of the big file holds much more than its share
    share = sum(sizes) / len(parts)
    assert all(w <= share * 1.5 or len(p) == 1 for w, p in zip(weights, parts, strict=True))


@pytest.fixture(scope="module")
def mesh_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "bench"))
    from generate import generate

    folder = tmp_path_factory.mktemp("mesh")
    generate(40, folder, findings=True)
    return sorted(str(p) for p in folder.rglob("*.yaml"))


def test_the_cross_resource_rules_shared_with_a_child_give_the_findings_of_one_process(
    mesh_files: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshlint import engine, parallel
    from meshlint.config import Config

    one = engine.lint_files(mesh_files, Config())
    shared: list[int] = []
    elsewhere = parallel._rules_elsewhere

    def spy(index: object, theirs: list[object], config: Config) -> object:
        shared.append(len(theirs))
        return elsewhere(index, theirs, config)  # type: ignore[arg-type]

    monkeypatch.setattr(parallel, "_rules_elsewhere", spy)
    many = parallel.lint_in_workers(mesh_files, Config(), 2)
    assert shared and shared[0] >= 10  # half of the cross-resource rules went to the child
    assert [d.to_json() for d in many.findings] == [d.to_json() for d in one.findings]
    assert any(d.code.startswith("ML9") for d in one.findings)


def test_a_child_that_fails_leaves_its_rules_to_the_parent(
    mesh_files: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from meshlint import engine, parallel
    from meshlint.config import Config

    one = engine.lint_files(mesh_files, Config())
    monkeypatch.setattr(parallel, "_rules_child", lambda *args: os._exit(3))
    many = parallel.lint_in_workers(mesh_files, Config(), 2)
    assert [d.to_json() for d in many.findings] == [d.to_json() for d in one.findings]
