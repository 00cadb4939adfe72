"""How many processes a run gets, how its files are sliced among them, and that together they
find what one process finds."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshlint.engine import BYTES_PER_WORKER, LintResult, workers_for
from meshlint.loader import input_sizes
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
        assert input_sizes([*big, str(pipe)]) is None
    assert input_sizes(big) == [BYTES_PER_WORKER // 2] * 7
    assert input_sizes([*big, str(tmp_path / "gone.yaml")]) == [BYTES_PER_WORKER // 2] * 7 + [0]
    assert input_sizes([*big, "-"]) is None


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
        assert all(parts) and len(parts) <= jobs * 8
    parts = _slices(files, 2)
    assert _slices(files, 2, input_sizes(files)) == parts  # sizes measured once, by the caller
    weights = [sum(Path(f).stat().st_size for f in part) for part in parts]
    # no slice but the one of the big file holds much more than its share (the first ones
    # hold 1.5 times the mean, the last ones half of it)
    share = sum(sizes) / len(parts)
    assert all(w <= share * 2 or len(p) == 1 for w, p in zip(weights, parts, strict=True))
    # equal files: the slices shrink, the last ones about a third of the first ones
    (tmp_path / "even").mkdir()
    even = [len(p) for p in _slices(_files(tmp_path / "even", [1000] * 1600), 2)]
    assert len(even) == 16 and even == sorted(even, reverse=True)
    assert 2.5 <= even[0] / even[-1] <= 3.5


def _repository(tmp_path: Path) -> list[str]:
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "bench"))
    from generate import generate

    generate(40, tmp_path, findings=True)
    from meshlint import loader

    return loader.discover([str(tmp_path)])[0]


def _seen(result: LintResult) -> list[tuple[str, int, int, str, str]]:
    return [(d.file, d.line, d.column, d.code, d.message) for d in result.findings]


@pytest.mark.parametrize("jobs", [2, 3])
def test_this_process_and_its_helpers_find_what_one_process_finds(
    tmp_path: Path, jobs: int
) -> None:
    from meshlint.config import Config
    from meshlint.engine import lint_files
    from meshlint.parallel import lint_in_workers

    files = _repository(tmp_path)
    one = lint_files(files, Config())
    many = lint_in_workers(files, Config(), jobs)
    assert _seen(many) == _seen(one)
    assert (many.resources, many.files) == (one.resources, one.files)
    assert [(r.file, r.doc, r.name) for r in many.records] == [
        (r.file, r.doc, r.name) for r in one.records
    ]


def test_the_slices_of_a_helper_that_dies_are_linted_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from meshlint import parallel
    from meshlint.config import Config
    from meshlint.engine import lint_files

    if parallel._context().get_start_method() != "fork":
        pytest.skip("the helper must inherit the patched function (fork)")
    files = _repository(tmp_path)
    parent = os.getpid()
    work = parallel._work

    def dies_in_a_helper(part: list[str], config: Config) -> LintResult:
        if os.getpid() != parent:
            os._exit(3)
        return work(part, config)

    monkeypatch.setattr(parallel, "_work", dies_in_a_helper)
    one = lint_files(files, Config())
    many = parallel.lint_in_workers(files, Config(), 2)
    assert _seen(many) == _seen(one)
    assert many.resources == one.resources


def test_the_rules_of_a_child_that_dies_are_run_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With helpers, the cross-resource rules are shared with a forked child.
    import os

    from meshlint import parallel
    from meshlint.config import Config
    from meshlint.engine import lint_files

    if parallel._context().get_start_method() != "fork":
        pytest.skip("the child must inherit the patched function (fork)")
    files = _repository(tmp_path)
    parent = os.getpid()
    run = parallel.run_mesh_rules
    children = []

    def dies_in_the_child(index: object, todo: list[object]) -> object:
        if os.getpid() != parent:
            os._exit(3)
        children.append(len(todo))
        return run(index, todo)  # type: ignore[arg-type]

    monkeypatch.setattr(parallel, "run_mesh_rules", dies_in_the_child)
    one = lint_files(files, Config())
    many = parallel.lint_in_workers(files, Config(), 2)
    assert _seen(many) == _seen(one)
    assert any(d.code.startswith("ML9") for d in one.findings)
    # every rule ran here: those this process took, then those the child had taken
    from meshlint import rules

    assert sum(children) == len(rules.mesh_rules(Config().enabled))
