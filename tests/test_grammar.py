"""meshlint.rules.lib.grammar: Istio's shared value grammars.

Two sources of cases: Istio's own test tables, carried over as data in fixtures/grammar (each
case must reach Istio's verdict), and the corner cases the rules catalogue names (section 2), with
the messages users see.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshlint.rules.lib import grammar as g

GRAMMAR_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "grammar"
HAS_RE2 = importlib.util.find_spec("re2") is not None
needs_re2 = pytest.mark.skipif(not HAS_RE2, reason="google-re2 is not installed")
CASE_KEYS = {"name", "value", "args", "repeat", "kwargs", "check", "valid", "expect", "warns"}
VERDICT_KEYS = {"valid", "expect", "warns"}
TABLE_KEYS = {"test", "check", "kwargs", "note", "cases"}


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DOCS = {
    path: yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    for path in sorted(GRAMMAR_FIXTURES.glob("*.yaml"))
}


def _cases() -> Iterator[Any]:
    for path, doc in DOCS.items():
        for table in doc["tables"]:
            for i, case in enumerate(table["cases"]):
                name = case.get("name", "")
                yield pytest.param(
                    table, case, id=f"{path.stem}:{table['test']}[{i}]{' ' + name if name else ''}"
                )


ISTIO_CASES = list(_cases())

# Words that would give away where a message came from; users should not see them.
_FOREIGN = re.compile(r"\b(Validate\w*|golang|Go|nil|func|err)\b")


def _assert_message(message: object) -> None:
    assert isinstance(message, str) and message.strip(), message
    assert not _FOREIGN.search(message), message


def _assert_problems(result: object) -> None:
    if isinstance(result, list):
        assert result
        for item in result:
            assert isinstance(item, tuple) and len(item) == 2, item
            _assert_message(item[1])
    else:
        _assert_message(result)


def test_fixture_files_are_well_formed() -> None:
    assert len(DOCS) >= 6
    for path, doc in DOCS.items():
        assert doc["source"].startswith("istio/istio "), path
        assert re.fullmatch(r"[0-9a-f]{40}", doc["commit"]), path
        for table in doc["tables"]:
            assert set(table) <= TABLE_KEYS, (path, table["test"])
            assert table["test"].startswith("Test"), path
            for case in table["cases"]:
                assert set(case) <= CASE_KEYS, (path, table["test"], case)
                assert len(set(case) & VERDICT_KEYS) == 1, (path, table["test"], case)
                assert ("value" in case) + ("args" in case) + ("repeat" in case) == 1, case
                assert callable(getattr(g, case.get("check", table["check"]))), case


def test_istio_case_count() -> None:
    # The count the report quotes; update both when tables are added.
    assert len(ISTIO_CASES) == 360


@pytest.mark.parametrize(("table", "case"), ISTIO_CASES)
def test_istio_verdicts(table: dict[str, Any], case: dict[str, Any]) -> None:
    check = getattr(g, case.get("check", table["check"]))
    if (
        not HAS_RE2
        and not case.get("valid", True)
        and ("regex" in check.__name__ or "regex" in str(case.get("value")))
    ):
        pytest.skip("only RE2 itself rejects this regex")
    # A case with a checker of its own does not take the table's options.
    kwargs = {} if "check" in case else dict(table.get("kwargs", {}))
    kwargs.update(case.get("kwargs", {}))
    if "args" in case:
        args = case["args"]
    elif "repeat" in case:
        text, times = case["repeat"]
        args = [text * times]
    else:
        args = [case["value"]]
    result = check(*args, **kwargs)
    if "expect" in case:
        assert result == case["expect"]
    elif "warns" in case:
        assert (result is not None) == case["warns"], result
        if result is not None:
            _assert_message(result)
    else:
        accepted = result is None or result == []
        assert accepted == case["valid"], result
        if not accepted:
            _assert_problems(result)


# --------------------------------------------------------------------------------------------
# Durations


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("0s", {}, "0s is below Istio's minimum of 1ms (0 is not allowed here)"),
        ("0", {}, "0 is below Istio's minimum of 1ms (0 is not allowed here)"),
        ("0s", {"allow_zero": True}, None),
        ("500us", {"allow_zero": True}, None),  # Istio counts anything under 1ms as 0 there
        ("1500us", {"allow_zero": True}, "1500us is not a whole number of milliseconds"),
        ("0.5ms", {}, "0.5ms is below Istio's minimum of 1ms"),
        ("1500us", {}, "1500us is not a whole number of milliseconds"),
        ("2.5ms", {}, "e.g. 2ms or 3ms"),
        ("1d", {}, "'1d' is not a duration: use a number with a unit h, m, s, ms, us or ns"),
        ("5", {}, "'5' is not a duration"),
        ("10 s", {}, "'10 s' is not a duration"),
        ("1w", {}, "is not a duration"),
        ("1h 30m", {}, "is not a duration"),
        ("", {}, "is not a duration"),
        ("-1s", {}, "-1s is negative"),
        ("2562048h", {}, "too long a duration"),
        ("2h", {"max_ms": 3_600_000}, "2h is above the maximum of 1h"),
        ("1h30m", {}, None),
        ("1.5s", {}, None),
        (".5s", {}, None),
        ("1.s", {}, None),
        ("+1s", {}, None),
        ("1µs1ms", {"whole_ms": False}, None),  # MICRO SIGN
        ("1μs1ms", {"whole_ms": False}, None),  # GREEK SMALL LETTER MU
        ("1.0000000001s", {}, None),  # digits past the nanosecond are dropped, as Istio does
        ("2562047h", {}, None),
    ],
)
def test_check_duration(text: str, kwargs: dict[str, Any], message: str | None) -> None:
    result = g.check_duration(text, **kwargs)
    if message is None:
        assert result is None
    else:
        assert result is not None and message in result, result
        _assert_message(result)


def test_parse_duration() -> None:
    assert g.parse_duration("1h30m") == 5400.0
    assert g.parse_duration("1.5s") == 1.5
    assert g.parse_duration("250ms") == 0.25
    assert g.parse_duration("-1m") == -60.0
    assert g.parse_duration("0") == 0.0
    assert g.duration_ns("1ns") == 1
    assert g.duration_ns("1.5us") == 1500
    for bad in ("1d", "5", "10 s", "", ".", "1.5", "s", "-", "1e3s", 5, None):
        assert g.parse_duration(bad) is None, bad
    assert g.check_duration(30) is None  # a wrong type is the schema's business


def test_duration_syntax_agrees_with_the_models_pattern() -> None:
    from meshlint.models.common import DURATION_PATTERN

    pattern = re.compile(DURATION_PATTERN)
    samples = [
        "0", "-0", "+0", "00", "0s", "1h30m", "1.5s", ".5s", "5.s", ".s", "1", "1d", "1 s",
        " 1s", "1s ", "1S", "1Ms", "1ms1", "1h1h", "-1.5h", "+.1ns", "1us", "1µs", "1μs",
        "1e3s", "1.2.3s", "--1s", "1..2s", "", "ms", "1mss", "١s",
    ]  # fmt: skip
    for text in samples:
        assert (g.duration_ns(text) is not None) == bool(pattern.match(text)), text


# --------------------------------------------------------------------------------------------
# Ports, protocols


def test_ports_and_protocols() -> None:
    assert g.check_port(70000) == "port 70000 is outside 1-65535"
    assert g.check_port(0) == "port 0 is outside 1-65535"
    assert g.check_port(1) is None and g.check_port(65535) is None
    assert g.check_port(True) is None and g.check_port("80") is None
    assert g.check_protocol("") is None
    assert "required" in (g.check_protocol("", allow_empty=False) or "")
    assert "HTTP3" in (g.check_protocol("HTTP3") or "")
    assert g.check_protocol("gRPC-Web") is None
    assert g.parse_protocol("DoubleHBONE") is None
    assert "UDP" in (g.protocol_warning("udp") or "")
    assert "Sidecar egress" in (g.protocol_warning("http_proxy") or "")
    assert g.protocol_warning("HTTP_PROXY", sidecar_egress=True) is None
    assert g.protocol_warning("http") is None and g.protocol_warning("bogus") is None


# --------------------------------------------------------------------------------------------
# Host names


@pytest.mark.parametrize(
    ("host", "fqdn", "wildcard"),
    [
        ("*foo", False, True),
        ("*-foo", False, True),
        ("*-foo.example.com", False, True),
        ("*.example.com", False, True),
        ("*", False, True),
        ("*.", False, True),  # a lone trailing dot after the wildcard label, as Istio reads it
        ("foo*", False, False),
        ("**.com", False, False),
        ("*.*.com", False, False),
        ("foo-.com", False, False),
        ("istio.io.", True, True),
        ("istio.io..", False, False),
        (".istio.io", False, False),
        ("foo.123", False, False),
        ("foo.-1", False, False),
        ("foo.99999999999999999999", True, True),  # too big to be a number, so a label
        ("1.1.1.1", False, False),
        ("a" * 63 + ".com", True, True),
        ("a" * 64 + ".com", False, False),
        ("UPPER.Case.COM", True, True),
        ("ünï.com", False, False),
        ("a." * 127 + "b", True, True),
        ("a." * 127 + "bc", False, False),
    ],
)
def test_host_grammar(host: str, fqdn: bool, wildcard: bool) -> None:
    for result, valid in ((g.check_fqdn(host), fqdn), (g.check_wildcard_host(host), wildcard)):
        assert (result is None) == valid, result
        if result is not None:
            _assert_message(result)


def test_host_messages() -> None:
    assert "IP address" in (g.check_wildcard_host("1.1.1.1") or "")
    assert g.check_wildcard_host("1.1.1.1", allow_ip=True) is None
    assert g.check_wildcard_host("2001:db8::1", allow_ip=True) is None
    assert "wildcards ('*') are not allowed" in (g.check_fqdn("*.foo.com") or "")
    assert "'*' may only start the first label" in (g.check_wildcard_host("foo.*.com") or "")
    assert "empty label" in (g.check_fqdn("a..b") or "")
    assert "last label '123' is a number" in (g.check_fqdn("foo.123") or "")
    assert "longer" in (g.check_fqdn("a" * 64 + ".com") or "") or "63" in (
        g.check_fqdn("a" * 64 + ".com") or ""
    )
    assert g.check_partial_wildcard("*") is None
    assert g.check_partial_wildcard("*.foo.com") is None
    for partial in ("*foo.com", "foo*.com", "foo.*.com"):
        assert "partial wildcard" in (g.check_partial_wildcard(partial) or ""), partial


@pytest.mark.parametrize(
    ("value", "require_slash", "fragment"),
    [
        ("ns/foo", True, "short name"),
        ("foo.com", True, "has no namespace"),
        ("/foo.com", True, "empty namespace"),
        ("ns/", True, "empty"),
        ("ns/1.2.3.4", True, "IP address"),
        ("ns1/1.2.3.4", False, None),
        ("1.2.3.4", False, None),
        ("*/*", True, None),
        ("~ns/*", True, None),
        ("~/*", False, "not a valid namespace"),
        ("Bad_NS/foo.com", False, "not a valid namespace"),
        ("ns/*foo.com", False, "partial wildcard"),
        ("ns/*.foo.com", False, None),
        ("foo", False, "short name"),
    ],
)
def test_ns_slash_host(value: str, require_slash: bool, fragment: str | None) -> None:
    result = g.check_ns_slash_host(value, require_slash=require_slash)
    if fragment is None:
        assert result is None
    else:
        assert result is not None and fragment in result, result
        _assert_message(result)


def test_gateway_hosts_and_names() -> None:
    assert g.check_gateway_vs_host("outbound_.80_._.foo.com", sni=False) is not None
    assert g.check_gateway_vs_host("outbound_.80_._.foo.com", sni=True) is None
    assert g.check_gateway_name("mesh") is None
    assert "both the namespace and the name" in (g.check_gateway_name("ns/") or "")
    assert g.gateway_name_warning("gw.istio-system.svc.cluster.local") == (
        "'gw.istio-system.svc.cluster.local' uses the older gateway-name form: prefer "
        "namespace/name, here 'istio-system/gw'"
    )
    assert g.gateway_name_warning("mesh") is None


def test_dns_names() -> None:
    assert g.check_dns_label("v1") is None
    assert g.check_dns_label("V1") is None  # Istio accepts upper case
    assert "lower case" in (g.check_dns_label("V1", kube_name=True) or "")
    assert "63" in (g.check_dns_label("a" * 64) or "")
    assert "empty" in (g.check_dns_label("") or "")
    assert g.check_dns_label("v1_x") is not None
    assert g.check_dns_subdomain("gateway.networking.k8s.io") is None
    assert g.check_dns_subdomain("Gateway.io") is not None
    assert "253" in (g.check_dns_subdomain("a" * 254) or "")
    assert g.check_trust_domain("cluster.local") is None


def test_host_matching() -> None:
    assert g.host_matches("*.example.com", "api.example.com")
    assert g.host_subset_of("api.example.com", "*.example.com")
    assert not g.host_subset_of("*.example.com", "api.example.com")
    assert g.host_matches("*foo.com", "barfoo.com")  # Istio matches wildcards by suffix


# --------------------------------------------------------------------------------------------
# IP addresses and CIDR blocks


@pytest.mark.parametrize(
    ("text", "ip", "cidr"),
    [
        ("1.2.3.4", True, True),
        ("01.2.3.4", False, False),
        ("1.2.3.04", False, False),
        ("1.2.3", False, False),
        ("256.1.1.1", False, False),
        ("::1", True, True),
        ("::ffff:1.2.3.4", True, True),
        ("::ffff:01.2.3.4", False, False),
        ("fe80::1%eth0", True, True),
        ("fe80::1%", False, False),
        ("1.2.3.4%eth0", False, False),
        (" 1.2.3.4", False, False),
        ("1.2.3.4/8", False, True),
        ("1.2.3.4/0", False, True),
        ("1.2.3.4/32", False, True),
        ("1.2.3.4/33", False, False),
        ("1.2.3.4/08", False, False),
        ("1.2.3.4/+8", False, False),
        ("1.2.3.4/", False, False),
        ("1.2.3.4/255.0.0.0", False, False),
        ("10.0.0.0/8/8", False, False),
        ("::/0", False, True),
        ("::ffff:1.2.3.4/120", False, True),
        ("fe80::1%eth0/64", True, False),  # an address whose zone is "eth0/64"
        ("2001:db8::/129", False, False),
        ("", False, False),
    ],
)
def test_ip_and_cidr(text: str, ip: bool, cidr: bool) -> None:
    for result, valid in ((g.check_ip(text), ip), (g.check_cidr(text), cidr)):
        assert (result is None) == valid, result
        if result is not None:
            _assert_message(result)


def test_ip_messages() -> None:
    assert "leading zeros" in (g.check_ip("01.2.3.4") or "")
    assert "CIDR block" in (g.check_ip("10.0.0.0/8") or "")
    assert "prefix length" in (g.check_cidr("1.2.3.4/33") or "")
    assert "zone" in (g.check_cidr("fe80::1%eth0/64") or "")
    assert g.cidr_host_bits_set("10.1.2.3/8")
    assert g.cidr_host_bits_set("172.1.2.16/16")
    assert g.cidr_host_bits_set("2001:db8::1/64")
    assert not g.cidr_host_bits_set("10.0.0.0/8")
    assert not g.cidr_host_bits_set("0.0.0.0/0")
    assert not g.cidr_host_bits_set("1.2.3.4/32")
    assert not g.cidr_host_bits_set("1.2.3.4")
    assert not g.cidr_host_bits_set("bogus/8")


# --------------------------------------------------------------------------------------------
# Labels, selectors, target references


def test_labels() -> None:
    assert g.check_label_key("app.kubernetes.io/name") is None
    assert "253" in (g.check_label_key("a" * 254 + "/name") or "")
    assert "63" in (g.check_label_key("a" * 64) or "")
    assert g.check_label_key("a" * 63) is None
    assert g.check_label_value("a" * 100) is None  # no length limit in Istio's label check
    assert g.check_label_value("") is None
    assert g.check_labels({"ok": "v", "bad key": "v", "k": "bad value"}) == [
        ("bad key", g.check_label_key("bad key")),
        ("k", g.check_label_value("bad value")),
    ]


def test_workload_selector() -> None:
    assert g.check_workload_selector({"app": "a" * 63}, kind="security") == []
    problems = g.check_workload_selector({"app": "a" * 64, "": "x", "v*": "y*"}, kind="security")
    assert [key for key, _ in problems] == ["app", "", "v*", "v*"]
    big = {f"k{i}": "v" for i in range(4097)}
    assert g.check_workload_selector(big, kind="security")[0][0] is None
    assert g.check_workload_selector(dict(list(big.items())[:4096]), kind="security") == []
    assert g.check_workload_selector(dict(list(big.items())[:257]), kind="networking")[0][0] is None
    assert g.check_workload_selector(dict(list(big.items())[:256]), kind="networking") == []
    assert g.check_workload_selector(None, kind="security") == []
    assert "every workload" in g.empty_selector_warning("networking")


def test_target_refs() -> None:
    gw = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}
    assert (
        g.check_target_refs({"targetRef": {"group": "core", "kind": "Service", "name": "a"}}) == []
    )
    assert g.check_target_refs({"targetRefs": [{"kind": "Service", "name": "a"}]}) == []
    assert (
        g.check_target_refs(
            {"targetRef": {"group": "networking.istio.io", "kind": "ServiceEntry", "name": "a"}}
        )
        == []
    )
    assert g.check_target_refs({"targetRef": {**gw, "kind": "GatewayClass"}}) == []
    assert g.check_target_refs({"selector": {}, "targetRefs": []}) == []

    ((where, message),) = g.check_target_refs({"targetRefs": [gw] * 17})
    assert where == ("targetRefs",) and "16" in message
    ((where, message),) = g.check_target_refs({"targetRef": {**gw, "group": ""}})
    assert where == ("targetRef", "group") and "gateway.networking.k8s.io" in message
    ((where, message),) = g.check_target_refs({"targetRefs": [gw, {**gw, "name": ""}]})
    assert where == ("targetRefs", 1, "name")
    ((where, message),) = g.check_target_refs(
        {"targetRef": {"kind": "Gateway", "group": gw["group"]}}
    )
    assert where == ("targetRef",) and "name" in message
    ((where, message),) = g.check_target_refs({"targetRef": {**gw, "namespace": "other"}})
    assert where == ("targetRef", "namespace")
    ((where, message),) = g.check_target_refs({"targetRef": {**gw, "kind": "Pod"}})
    assert where == ("targetRef", "kind") and "'Pod' cannot be targeted" in message
    ((where, message),) = g.check_target_refs({"selector": {}, "targetRef": gw})
    assert where == ("targetRef",) and message.endswith("this sets selector and targetRef")
    ((where, _),) = g.check_target_refs(
        {"workloadSelector": {}, "targetRefs": [gw]}, selector_key="workloadSelector"
    )
    assert where == ("targetRefs",)


# --------------------------------------------------------------------------------------------
# exportTo


def test_export_to() -> None:
    def check(values: list[str], **kwargs: Any) -> list[tuple[int, str]]:
        options: dict[str, Any] = {"allow_none": False, "own_namespace": "shop", **kwargs}
        return g.check_export_to(values, **options)

    ((index, message),) = check(["~"])
    assert index == 0 and "only allowed on a ServiceEntry" in message
    assert check(["~"], allow_none=True) == []
    ((index, message),) = check(["ns1", "*"])
    assert index == 1 and "'*'" in message
    ((index, message),) = check(["a", "b", "a"])
    assert index == 2 and "listed twice" in message
    ((index, message),) = check(["shop", "."])
    assert index == 1 and "own namespace" in message
    assert check([".", "shop"], own_namespace=None) == []  # without the namespace, no telling
    ((index, message),) = check([".", "."], own_namespace=None)
    assert index == 1
    ((index, message),) = check(["Bad_NS"])
    assert "namespace name" in message
    ((index, message),) = check(["other"], workload_selector=True)
    assert index == 0 and "workloadSelector" in message
    ((index, message),) = check([".", "other"], workload_selector=True)
    assert index == 1
    assert check(["shop"], workload_selector=True) == []
    assert check([]) == [] and check("not a list") == []  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# String matches and regexes


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("a(?=b)", "look-ahead `(?=` is not supported by RE2, which Envoy uses"),
        ("a(?!b)", "negative look-ahead `(?!`"),
        ("(?<=a)b", "look-behind `(?<=`"),
        ("(?<!a)b", "negative look-behind `(?<!`"),
        ("(a)\\1", "back-reference `\\1`"),
        ("(?P<x>a)(?P=x)", "named back-reference `(?P=`"),
        ("(?<x>a)\\k<x>", "named back-reference `\\k`"),
        ("a++", "possessive quantifier `++`"),
        ("a*+", "possessive quantifier `*+`"),
        ("a{2,3}+", "possessive quantifier `{2,3}+`"),
        ("(?>a)", "atomic group"),
        ("(?(1)a|b)", "conditional"),
        ("(?R)", "recursion"),
        ("*", "`*` at position 1 has nothing to repeat"),
        ("(+)", "`+` at position 2 has nothing to repeat"),
        ("a**", "`**` repeats a repetition"),
        ("x{2}{3}", "`{2}{3}` repeats a repetition"),
        ("a\\Cb", "`\\C`"),
        ("a\\Z", "use `\\z` or `$`"),
        pytest.param("(", "not a valid RE2 regular expression: missing )", marks=needs_re2),
        ("?", "`?` at position 1 has nothing to repeat"),
        pytest.param("a{1001}", "not a valid RE2 regular expression", marks=needs_re2),
        ("x" * 1025, "at most 1024"),
        ("é" * 513, "1026 bytes"),
        ("[(?=]", None),
        ("\\(?=", None),
        pytest.param("[\\1]", "invalid escape sequence", marks=needs_re2),
        ("\\12", None),  # an octal escape, not a back-reference
        ("\\Q(?=\\E", None),
        ("(?<name>x)", None),
        ("(?P<name>x)", None),
        ("(?i)^/api/v[0-9]+/.*$", None),
        ("\\pL+\\p{Greek}", None),
        ("[[:alpha:]]+", None),
        ("a+?b*?", None),
        ("x{2}?y{2,}z{2,5}", None),
        ("a{,3}", None),  # not a repetition: a literal brace
        ("x" * 1024, None),
    ],
)
def test_check_regex(pattern: str, fragment: str | None) -> None:
    result = g.check_regex(pattern)
    if fragment is None:
        assert result is None
    else:
        assert result is not None and fragment in result, result
        _assert_message(result)


def test_regex_fallback_without_re2(monkeypatch: pytest.MonkeyPatch) -> None:
    assert g.regex_engine() == ("re2" if HAS_RE2 else "fallback")
    g._check_regex.cache_clear()
    monkeypatch.setattr(g, "_RE2", False)
    try:
        assert g.regex_engine() == "fallback"
        assert "look-ahead" in (g.check_regex("a(?=b)") or "")
        assert "possessive" in (g.check_regex("a++") or "")
        assert "1024" in (g.check_regex("x" * 2000) or "")
        assert "nothing to repeat" in (g.check_regex("*") or "")
        assert "repeats a repetition" in (g.check_regex("a**") or "")
        assert g.check_regex("(") is None  # conservative: only what is surely wrong
        assert g.check_regex("(?i)*") is None
        assert g.check_regex("^/api/.*$") is None
    finally:
        g._check_regex.cache_clear()


def test_string_match() -> None:
    assert g.check_string_match({"exact": "a", "prefix": "b"}) == [
        (("prefix",), "set only one of exact, prefix or regex; this sets exact and prefix")
    ]
    ((where, message),) = g.check_string_match({"regex": "a(?=b)"})
    assert where == ("regex",) and "look-ahead" in message
    assert g.check_string_match({"prefix": ""}, allow_empty_prefix=True) == []
    assert g.check_string_match({"regex": "*"}) != []
    assert g.check_string_match({"regex": "*"}, allow_star_regex=True) == []
    assert g.check_string_match({"exact": ""}) == []
    assert g.check_string_match(None) == []
    assert g.check_regex(["not", "a", "string"]) is None


# --------------------------------------------------------------------------------------------
# Headers


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("100%", "single '%'"),
        ("%", "single '%'"),
        ("%%", None),
        ("50%% off", None),
        ("%REQ(x-user)%", None),
        ('%REQ(["a", "b"])%', None),
        ('%REQ( ["a"] ) %', None),
        ("%REQ()%", "unterminated"),
        ('%REQ(["a" "b"])%', "expected ',' or ']'"),
        ("%REQ([a])%", "expected '\"'"),
        ('%REQ(["a"]x)%', "expected ')'"),
        ("%REQ(x)y%", "expected '%'"),
        ('%REQ(["a\\', "backslash"),
        ("%START_TIME%%", "single '%'"),
        ("%START_TIME", "unterminated"),
        ("line\nbreak", "a line feed"),
        ("nul\x00", "a NUL character"),
        ("del\x7f", "U+007F"),
        ("tab\tis fine", None),
        ("ünïcode is fine", None),
    ],
)
def test_header_values(value: str, fragment: str | None) -> None:
    result = g.check_header_value(value)
    if fragment is None:
        assert result is None
    else:
        assert result is not None and fragment in result, result
        _assert_message(result)


def test_header_names() -> None:
    match, set_, other = (
        g.check_header_name_for_match,
        g.check_header_name_for_set,
        g.check_header_name_other,
    )
    assert match(":path") is None and match(":status") is None
    assert "pseudo-header" in (match(":foo") or "")
    assert match("@request.auth.claims.group") is None
    assert match("@request.auth.claims[a][b]") is None
    assert match("@Request.Auth.Claims.group") is None
    assert "JWT claim" in (match("@request.auth.claims.") or "")
    assert match("@request.auth.claims[]") is not None
    assert "letters, digits" in (match("x y") or "")
    assert set_(":authority") is None and set_(":Authority") is None and set_("host") is None
    assert "only :authority" in (set_(":path") or "")
    assert other("x-remove-me") is None
    assert "cannot be changed here" in (other("Host") or "")
    assert other("hoſt") is not None  # the long s folds to s, as Istio compares
    assert "pseudo-headers" in (other(":authority") or "")
    assert g.check_header_name_cors("*") is None
    assert g.check_header_name_strict("x.y") is not None


# --------------------------------------------------------------------------------------------
# Percentages, destinations, unix sockets


def test_percentage() -> None:
    for ok in (0, 0.0, 0.0001, 50, 100, 100.0):
        assert g.check_percentage(ok) is None, ok
    for bad in (-1, 0.00009, 100.5, math.nan, math.inf):
        result = g.check_percentage(bad)
        assert result is not None, bad
        _assert_message(result)
    assert g.check_percentage(True) is None and g.check_percentage("5") is None


def test_destination() -> None:
    ((where, message),) = g.check_destination({"host": "*"})
    assert where == ("host",) and "'*' is not a valid destination host" in message
    ((where, message),) = g.check_destination({"host": "reviews", "subset": "v1_x"})
    assert where == ("subset",)
    ((where, message),) = g.check_destination({"host": "reviews", "port": {"number": 70000}})
    assert where == ("port", "number") and message == "port 70000 is outside 1-65535"
    ((where, message),) = g.check_destination({"subset": "v1"})
    assert where == ()
    assert g.check_destination({"host": "*.reviews.svc", "subset": "V1"}) == []


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("unix:///var/run/app.sock", None),
        ("/var/run/app.sock", None),
        ("unix://@abstract", None),
        ("unix://", "empty"),
        ("unix://relative/app.sock", "not an absolute path"),
        ("unix:///var/run/", "names a directory"),
        ("unix://@abstract/", "names a directory"),  # the CRD's rule
    ],
)
def test_unix_address(address: str, fragment: str | None) -> None:
    result = g.check_unix_address(address)
    if fragment is None:
        assert result is None
    else:
        assert result is not None and fragment in result, result


def test_every_exported_name_exists() -> None:
    for name in g.__all__:
        assert hasattr(g, name), name


def test_catalogue_rows_name_real_functions() -> None:
    from meshlint.rules.lib import grammar

    for row, name in grammar.CATALOGUE.items():
        assert row.startswith("g-")
        assert callable(getattr(grammar, name)), (row, name)
