from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


# Best-practice rules of the per-kind families (they judge no Istio verdict); their fixtures
# and tests are tests/fixtures/practice and tests/test_rules_practice.py, not the family's.
PRACTICE_CODES = frozenset(p.name.split("-")[0] for p in (FIXTURES / "practice").glob("ML*.yaml"))
