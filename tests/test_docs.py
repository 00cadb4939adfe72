"""docs/rules.md is generated from the rule registry and must be current."""

from __future__ import annotations

from conftest import REPO

from meshlint.docs import rules_markdown


def test_rules_doc_is_current() -> None:
    committed = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == rules_markdown(), "docs/rules.md is stale: run `make docs`"
