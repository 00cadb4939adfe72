"""The quick tests that let a rule skip its detailed check may only pass what that check passes.

Several per-resource rules first take a quick look (one regex, a few type tests, a table of
texts already found valid) and run their detailed check only when the quick look says something
may be wrong. Each quick look is held here to its detailed check on generated values, weighted
towards the characters and shapes where the two could part: a quick look that passes a value the
detailed check would report hides a finding.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshlint.rules.lib import grammar
from meshlint.rules.lib.virtualservice import destination, destination_ok
from meshlint.rules.virtualservice import headers as vs_headers
from meshlint.rules.virtualservice import http_match as vs_match

QUICK = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Texts made of the characters where host names, labels, header names and values go wrong.
_TRICKY = "aZ09-.*_:/%%{}[] \t\n\x7f@éHOST"
texts = st.one_of(
    st.text(alphabet=_TRICKY, max_size=12),
    st.sampled_from(
        [
            "",
            "*",
            "host",
            "Host",
            "HOST",
            ":authority",
            ":path",
            "reviews",
            "reviews.shop.svc.cluster.local",
            "*.example.com",
            "*foo.example.com",
            "*-foo.example.com",
            "foo.*.com",
            "10.0.0.1",
            "1.2.3.4.5",
            "::1",
            "a" * 63 + ".com",
            "a" * 64 + ".com",
            ".".join(["a" * 63] * 4) + ".com",
            "example.123",
            "-bad.com",
            "bad-.com",
            "v1",
            "V1",
            "%DOWNSTREAM_REMOTE_ADDRESS%",
            "50%",
            "50%%",
            "a\nb",
        ]
    ),
)
hosts = st.one_of(
    texts,
    st.lists(st.from_regex(r"\A[a-z0-9*-]{1,6}\Z"), min_size=1, max_size=4).map(".".join),
    st.lists(st.from_regex(r"\A[a-zA-Z0-9-]{60,66}\Z"), min_size=2, max_size=5).map(".".join),
)
scalars = st.one_of(texts, st.integers(-2, 70000), st.none(), st.booleans(), st.floats(0, 10))


@QUICK
@given(hosts)
def test_a_host_of_the_plain_shape_is_a_valid_host(host: str) -> None:
    if len(host) <= 255 and grammar._PLAIN_HOST.fullmatch(host):
        for allow_ip in (False, True):
            assert grammar._check_wildcard_host(host, allow_ip) is None, host
    for allow_ip in (False, True):
        for _ in range(2):  # the second time, from the table of verdicts
            assert grammar.check_wildcard_host(
                host, allow_ip=allow_ip
            ) == grammar._check_wildcard_host(host, allow_ip)


@QUICK
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "host": st.one_of(hosts, scalars),
            "subset": scalars,
            "port": st.one_of(scalars, st.fixed_dictionaries({"number": scalars})),
        },
    )
)
def test_a_destination_passed_at_a_glance_has_no_problem(dest: dict[str, Any]) -> None:
    for _ in range(2):  # the second time, from the table of verdicts
        if destination_ok(dest):
            assert list(destination(("d",), dest)) == [], dest


string_matches = st.one_of(
    scalars,
    st.fixed_dictionaries(
        {}, optional={"exact": scalars, "prefix": scalars, "regex": st.one_of(texts, scalars)}
    ),
)
matches = st.fixed_dictionaries(
    {},
    optional={
        "headers": st.one_of(scalars, st.dictionaries(texts, string_matches, max_size=3)),
        "withoutHeaders": st.one_of(scalars, st.dictionaries(texts, string_matches, max_size=3)),
        "uri": string_matches,
        "scheme": string_matches,
        "method": string_matches,
        "authority": string_matches,
        "queryParams": st.one_of(scalars, st.dictionaries(texts, string_matches, max_size=3)),
    },
)


def _match_findings(match: dict[str, Any]) -> list[Any]:
    """What ML410's detailed check finds in one match."""
    found: list[Any] = []
    for field in ("headers", "withoutHeaders"):
        headers = match.get(field)
        if isinstance(headers, dict):
            for name, value in headers.items():
                found += vs_match._string_match(
                    (field, name), value, "h", allow_star_regex=field == "withoutHeaders"
                )
    if match.get("uri") is not None:
        found += vs_match._string_match(("uri",), match["uri"], "uri", allow_empty_prefix=True)
    for field in ("scheme", "method", "authority"):
        if match.get(field) is not None:
            found += vs_match._string_match((field,), match[field], field)
    query = match.get("queryParams")
    if isinstance(query, dict):
        for name, value in query.items():
            found += vs_match._string_match(("queryParams", name), value, "q")
    return found


@QUICK
@given(matches)
def test_an_http_match_passed_at_a_glance_has_no_problem(match: dict[str, Any]) -> None:
    if vs_match._match_ok(match):
        assert _match_findings(match) == [], match


operations = st.fixed_dictionaries(
    {},
    optional={
        "set": st.one_of(scalars, st.dictionaries(texts, scalars, max_size=3)),
        "add": st.one_of(scalars, st.dictionaries(texts, scalars, max_size=3)),
        "remove": st.one_of(scalars, st.lists(st.one_of(texts, scalars), max_size=3)),
    },
)


@QUICK
@given(
    st.one_of(
        scalars,
        st.fixed_dictionaries(
            {}, optional={"request": st.one_of(scalars, operations), "response": operations}
        ),
    )
)
def test_header_operations_passed_at_a_glance_have_no_problem(headers: Any) -> None:
    for _ in range(2):
        if vs_headers._header_ops_ok(headers):
            assert list(vs_headers._header_ops(("headers",), headers)) == [], headers
