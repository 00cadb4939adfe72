"""What meshlint finds on the bench's generated corpora is what tests/fixtures/bench/ records:
the findings of the releases before the loader kept places and the engine skipped rules, so
that making a run faster cannot change what it reports. One process and several agree.

    python tests/test_bench_findings.py    # write the records again (after a wanted change)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))

from generate import generate, generate_big_file, generate_one_file  # noqa: E402

from meshlint import loader  # noqa: E402
from meshlint.config import Config  # noqa: E402
from meshlint.engine import lint_paths  # noqa: E402
from meshlint.parallel import lint_in_workers  # noqa: E402

RECORDS = HERE / "fixtures" / "bench"

CORPORA: dict[str, Callable[[Path], object]] = {
    "findings-60": lambda d: generate(60, d, findings=True),
    "clean-60": lambda d: generate(60, d),
    "one-file-60": lambda d: generate_one_file(60, d / "all.yaml", findings=True),
    "big-file-40": lambda d: generate_big_file(40, d / "big.yaml"),
}


def _seen(findings: list[object], folder: Path) -> list[dict[str, object]]:
    """The findings as JSON, the corpus' folder written ``<corpus>``."""
    text = json.dumps([d.to_json() for d in findings])  # type: ignore[attr-defined]
    return json.loads(text.replace(str(folder), "<corpus>"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_findings_on_the_bench_corpora_are_those_recorded(name: str, tmp_path: Path) -> None:
    CORPORA[name](tmp_path)
    want = json.loads((RECORDS / f"{name}.json").read_text(encoding="utf-8"))
    one = lint_paths([str(tmp_path)], Config())
    assert _seen(one.findings, tmp_path) == want
    files, _ = loader.discover([str(tmp_path)])
    if len(files) > 1:
        many = lint_in_workers(files, Config(), 2)
        assert _seen(many.findings, tmp_path) == want
    if name != "clean-60":
        assert want  # (a corpus with findings)


if __name__ == "__main__":
    import tempfile

    RECORDS.mkdir(parents=True, exist_ok=True)
    for name, make in sorted(CORPORA.items()):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            make(folder)
            found = _seen(lint_paths([str(folder)], Config()).findings, folder)
        out = RECORDS / f"{name}.json"
        out.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
        print(f"{out}: {len(found)} findings")
