""" "Did you mean …?": the one way every stage suggests the name a user probably meant."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

_SEPARATORS = re.compile(r"[-_]")


def closest(word: str, choices: Iterable[str], *, cutoff: float = 0.75) -> str | None:
    """The choice ``word`` most likely stands for: the same name in another case or without
    ``-``/``_``, else the closest spelling at least ``cutoff`` alike (difflib's ratio), compared
    as written and then in lower case; None when nothing is close enough."""
    names = sorted({c for c in choices if isinstance(c, str)})
    if not names:
        return None
    squashed = {_SEPARATORS.sub("", c).lower(): c for c in names}
    same = squashed.get(_SEPARATORS.sub("", word).lower())
    if same is not None:
        return same
    found = difflib.get_close_matches(word, names, n=1, cutoff=cutoff)
    if found:
        return found[0]
    lowered = {c.lower(): c for c in names}
    found = difflib.get_close_matches(word.lower(), sorted(lowered), n=1, cutoff=cutoff)
    return lowered[found[0]] if found else None


def did_you_mean(word: str, choices: Iterable[str], *, cutoff: float = 0.75) -> str:
    """``; did you mean `x`?`` for the closest choice, or "" when there is none (or it is
    ``word`` itself)."""
    found = closest(word, choices, cutoff=cutoff)
    return f"; did you mean `{found}`?" if found is not None and found != word else ""
