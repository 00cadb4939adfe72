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
    if hasattr(os, "mkfifo"):
        pipe = tmp_path / "rendered.yaml"
        os.mkfifo(pipe)
        assert workers_for([*big, str(pipe)], 8) == 1  # so is a pipe, read once


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
