"""Verdicts kept on short texts that a run repeats (ports and durations such as ``9080`` and
``5s``, hosts, names, label keys), so that each is judged once.

Every table is bounded the same way: at most :data:`KEPT` entries (a full table starts again)
on texts of at most :data:`LONGEST_KEPT` characters. The loader, the schema check and the rules
library keep their tables through :func:`keep_verdict`.
"""

from __future__ import annotations

from typing import TypeVar

KEPT = 4096
LONGEST_KEPT = 256
V = TypeVar("V")


def keep_verdict(table: dict[str, V], text: str, verdict: V) -> V:
    """``verdict``, kept in ``table`` for ``text`` (a table that is full starts again)."""
    if len(text) <= LONGEST_KEPT:
        if len(table) >= KEPT:
            table.clear()
        table[text] = verdict
    return verdict
