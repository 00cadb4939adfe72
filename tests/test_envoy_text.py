"""The two writers of a bootstrap: whatever the data, the JSON and the YAML read back as the
data without its comments, and the YAML shows each comment above its mapping."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from meshlint.translate import envoy

# strings that trip writers: quotes, backslashes, the comment key itself inside values,
# YAML's reserved words, leading indicators, colons and newlines
TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            '"#":"',
            '\\"#\\"',
            "#",
            "yes",
            "No",
            "null",
            "~",
            "- a",
            ": b",
            "a: b",
            "1.0",
            "0x1F",
            "@x",
            "*",
            "a\nb",
            "",
            " x",
            "x ",
            "'",
            '"',
            "\\",
            "{}",
            "[]",
        ]
    ),
)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)
KEY = TEXT.filter(lambda k: k != envoy.COMMENT)


def _with_comments(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    mapping = st.dictionaries(KEY, children, max_size=4)
    commented = st.tuples(mapping, TEXT, st.integers(0, 4)).map(_comment)
    return st.one_of(st.lists(children, max_size=4), mapping, commented)


def _comment(args: tuple[dict[str, Any], str, int]) -> dict[str, Any]:
    data, text, at = args
    items = list(data.items())
    items.insert(min(at, len(items)), (envoy.COMMENT, text))  # first, middle, last or alone
    return dict(items)


DATA = st.recursive(SCALAR, _with_comments, max_leaves=25)
ROOT = st.dictionaries(KEY, DATA, max_size=4) | st.tuples(
    st.dictionaries(KEY, DATA, max_size=4), TEXT, st.integers(0, 4)
).map(_comment)


@settings(max_examples=300, deadline=None)
@given(ROOT)
def test_json_reads_back_without_comments(data: dict[str, Any]) -> None:
    assert json.loads(envoy.to_json(data)) == envoy.strip_comments(data)


@settings(max_examples=300, deadline=None)
@given(ROOT)
def test_yaml_reads_back_without_comments(data: dict[str, Any]) -> None:
    assert yaml.safe_load(envoy.to_yaml(data)) == (envoy.strip_comments(data) or None)


def test_comments_are_written_above_their_mapping() -> None:
    text = envoy.to_yaml({"a": {envoy.COMMENT: "from VirtualService x", "b": 1, "c": [1, 2]}})
    assert "# from VirtualService x" in text
    assert text.index("# from VirtualService x") < text.index("b:")
    assert envoy.COMMENT not in json.loads(envoy.to_json({envoy.COMMENT: "gone", "a": 1}))
