"""What the VirtualService rules share: reading the raw spec, the checks of a match's port and
source labels and of a destination, the reachability analysis of route rules, and Envoy's
retry conditions.

Every reader takes the raw ``res.spec`` and skips silently what has the wrong type: the schema
stage (ML206-ML209) reports wrong types, missing required fields, enums and oneOf.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from typing import Any

from meshlint.diagnostics import FieldPath, Finding
from meshlint.resource import Resource
from meshlint.rules.lib.grammar import (
    check_destination,
    check_duration,
    check_label_key,
    check_label_value,
    check_port,
    check_wildcard_host,
    duration_ns,
    is_dns_label,
    is_ip,
)
from meshlint.rules.lib.guards import as_int, as_list, as_map
from meshlint.verdicts import keep_verdict

# Where Istio's webhook validates a VirtualService (istio/istio).
WEBHOOK = "webhook: pkg/config/validation/validation.go"
WEBHOOK_VS = "webhook: pkg/config/validation/virtualservice.go"

# --------------------------------------------------------------------------------------------
# Reading the raw spec


def applies_to_gateway(spec: Mapping[str, Any]) -> bool:
    """Bound to gateways only: ``gateways`` is given and does not name ``mesh``."""
    gateways = as_list(spec.get("gateways"))
    return bool(gateways) and "mesh" not in gateways


def is_empty(value: Any) -> bool:
    """Absent, null or an empty list (a value of another type is the schema's to report)."""
    return value is None or value == []


def is_delegate(spec: Mapping[str, Any]) -> bool:
    """A delegate VirtualService: one without hosts."""
    return is_empty(spec.get("hosts"))


def http_routes(spec: Mapping[str, Any]) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    for i, route in enumerate(as_list(spec.get("http"))):
        if isinstance(route, dict):
            yield ("spec", "http", i), route


def http_routes_of(res: Resource) -> list[tuple[FieldPath, dict[str, Any]]]:
    """:func:`http_routes` of the resource's spec (none when it is not a mapping), read once
    per resource."""
    return res.memo(http_routes_of, lambda: _listed_routes(res.spec_map))


def route_blocks(
    res: Resource, field: str
) -> list[tuple[FieldPath, dict[str, Any], dict[str, Any]]]:
    """``(path, route, block)`` of each HTTP route whose ``field`` (`corsPolicy`, `retries`,
    `redirect`, …) is a mapping, read once per resource and field."""

    def make() -> list[tuple[FieldPath, dict[str, Any], dict[str, Any]]]:
        found: list[tuple[FieldPath, dict[str, Any], dict[str, Any]]] = []
        for base, route in http_routes_of(res):
            block = route.get(field)
            if isinstance(block, dict):
                found.append(((*base, field), route, block))
        return found

    return res.memo((route_blocks, field), make)


def _listed_routes(spec: Mapping[str, Any] | None) -> list[tuple[FieldPath, dict[str, Any]]]:
    routes = spec.get("http") if spec is not None else None
    if not isinstance(routes, list):
        return []
    return [
        (("spec", "http", i), route) for i, route in enumerate(routes) if isinstance(route, dict)
    ]


def http_matches_of(res: Resource) -> list[tuple[FieldPath, dict[str, Any]]]:
    """``(path, match)`` of each match of each HTTP route that is a mapping, read once per
    resource."""
    return res.memo(http_matches_of, lambda: _listed_matches(http_routes_of(res)))


def _listed_matches(
    routes: list[tuple[FieldPath, dict[str, Any]]],
) -> list[tuple[FieldPath, dict[str, Any]]]:
    found: list[tuple[FieldPath, dict[str, Any]]] = []
    for base, route in routes:
        matches = route.get("match")
        if isinstance(matches, list):
            for j, match in enumerate(matches):
                if isinstance(match, dict):
                    found.append(((*base, "match", j), match))
    return found


def route_lists(res: Resource) -> list[tuple[FieldPath, list[tuple[int, dict[str, Any]]]]]:
    """``(path of route, its entries that are mappings, with their index)`` of every http,
    tcp and tls route that has a ``route`` list, read once per resource."""
    return res.memo(route_lists, lambda: _list_routes(res.spec_map))


def _list_routes(
    spec: Mapping[str, Any] | None,
) -> list[tuple[FieldPath, list[tuple[int, dict[str, Any]]]]]:
    found: list[tuple[FieldPath, list[tuple[int, dict[str, Any]]]]] = []
    if spec is None:
        return found
    for section in ("http", "tcp", "tls"):
        routes = spec.get(section)
        if not isinstance(routes, list):
            continue
        for i, route in enumerate(routes):
            if not isinstance(route, dict) or "route" not in route:
                continue
            listed = route["route"]
            entries: list[tuple[int, dict[str, Any]]] = []
            if isinstance(listed, list):
                entries = list(enumerate(listed))
                for entry in listed:
                    if not isinstance(entry, dict):
                        entries = [(k, e) for k, e in entries if isinstance(e, dict)]
                        break
            found.append((("spec", section, i, "route"), entries))
    return found


def duration_problem(value: Any) -> str | None:
    """A duration the webhook validates (>= 1ms, whole ms); syntax errors are ML206's."""
    if type(value) is str:
        if value in _DURATION_PROBLEMS:
            return _DURATION_PROBLEMS[value]
        return keep_verdict(_DURATION_PROBLEMS, value, _duration_problem(value))
    return _duration_problem(value)


def _duration_problem(value: Any) -> str | None:
    if duration_ns(value) is None:
        return None
    return check_duration(value)


# The verdicts of duration_problem on the texts read so far (see keep_verdict).
_DURATION_PROBLEMS: dict[str, str | None] = {}


# --------------------------------------------------------------------------------------------
# Checks that HTTP, TLS and TCP matches and the destinations of routes and mirrors share


def source_labels(base: FieldPath, labels: Any) -> Iterator[Finding]:
    """The problems of a match's ``sourceLabels``."""
    if not isinstance(labels, dict):
        return
    for key, value in labels.items():
        problem = check_label_key(key)
        if problem:
            yield Finding((*base, key), f"sourceLabels key: {problem}", key=True)
        problem = check_label_value(value)
        if problem:
            yield Finding((*base, key), f"sourceLabels value: {problem}")


def match_port(base: FieldPath, match: Mapping[str, Any]) -> Iterator[Finding]:
    """The problem of a match's ``port`` (0 or absent: any port)."""
    port = as_int(match.get("port"))
    if port:
        problem = check_port(port)
        if problem:
            yield Finding((*base, "port"), f"{problem}: omit the port to match any")


def destination(base: FieldPath, dest: Any) -> Iterator[Finding]:
    """The problems of a route or mirror destination (a missing host is the schema's)."""
    if not isinstance(dest, dict) or dest.get("host") is None:
        return
    for where, message in check_destination(dest):
        yield Finding((*base, *where), message)


def destination_ok(dest: dict[str, Any]) -> bool:
    """Whether :func:`destination` finds nothing in the mapping ``dest`` because its host is
    missing or valid and its subset and port are valid or absent (False: it may find
    something)."""
    host = dest.get("host")
    if host is None:
        return True
    if type(host) is not str:
        return False
    # A host valid where IP addresses are allowed too, and not one, is valid here: that verdict
    # is often known already, a VirtualService's own hosts (ML401) being routed to.
    if host == "*" or check_wildcard_host(host, allow_ip=True) is not None or is_ip(host):
        return False
    subset = dest.get("subset")
    if subset is not None and (type(subset) is not str or not is_dns_label(subset)):
        return False
    port = dest.get("port")
    if port is not None:
        if type(port) is not dict:
            return False
        number = port.get("number")
        if type(number) is not int or not 1 <= number <= 65535:
            return False
    return True


# --------------------------------------------------------------------------------------------
# Rule reachability (Istio's analyzeUnreachable*Rules)


def _match_key(match: Any) -> str:
    """What identifies a match for Istio's duplicate check: everything but its name."""
    if isinstance(match, dict):
        match = {k: v for k, v in match.items() if k != "name" and v is not None}
    return _MATCH_KEY.encode(match)


_MATCH_KEY = json.JSONEncoder(sort_keys=True, default=str)  # as json.dumps(…) with these


def rule_name(route: Mapping[str, Any], i: int) -> str:
    """How a message names an HTTP route rule: its name, else its index."""
    name = route.get("name")
    return f"{name!r}" if isinstance(name, str) and name else f"#{i}"


def reachability(res: Resource) -> list[tuple[bool, FieldPath, str]]:
    """(unreachable rule?, path, message) for the http, tcp and tls rules of the resource's
    spec, as Istio's ``analyzeUnreachable*Rules``; False marks an ineffective match (IST0131).

    ML408, ML409 and ML430 read it: it is worked out once per resource."""
    spec = res.spec_map
    if spec is None:
        return []
    return res.memo(reachability, lambda: _analyze_reachability(spec))


def _analyze_reachability(spec: Mapping[str, Any]) -> list[tuple[bool, FieldPath, str]]:
    found: list[tuple[bool, FieldPath, str]] = []
    for section in ("http", "tcp", "tls"):
        routes = spec.get(section)
        if not isinstance(routes, list) or not routes:
            continue
        http = section == "http"
        seen: dict[str, int] = {}  # the key of each match so far: the rule that has it first
        # By the number of fields a match sets (equal keys have it equal): the match of each
        # size whose key is not worked out yet (the only one of its size so far), or None.
        first_of_size: dict[int, tuple[Any, int] | None] = {}
        catch_all = -1
        # (rule, match, the route, the match, its uri prefix) of the HTTP matches with a uri
        # prefix
        prefixes: list[tuple[int, int, dict[str, Any], dict[str, Any], str]] = []
        for i, route in enumerate(routes):
            if not isinstance(route, dict):
                continue
            matches = route.get("match")
            if not isinstance(matches, list) or not matches:
                if catch_all >= 0:
                    found.append(
                        (
                            True,
                            ("spec", section, i),
                            f"{section} rule {_name(route, i, http)} is never used: rule "
                            f"#{catch_all} before it has no match and takes all traffic; only "
                            "the last rule may have no match",
                        )
                    )
                catch_all = i
                continue
            if catch_all >= 0:
                found.append(
                    (
                        True,
                        ("spec", section, i, "match"),
                        f"{section} rule {_name(route, i, http)} is never used: rule "
                        f"#{catch_all} before it has no match and takes all traffic; move this "
                        "rule above it",
                    )
                )
                continue
            duplicates: list[tuple[int, int]] | None = None
            for j, match in enumerate(matches):
                # How many fields _match_key keeps of the match (-1 for a match that is no
                # mapping): matches with equal keys have the same size.
                if isinstance(match, dict):
                    size = len(match)
                    if None in match.values():
                        size -= [*match.values()].count(None)
                    if match.get("name") is not None:
                        size -= 1  # `name` is left out (a null one is already counted out)
                else:
                    size = -1
                if size not in first_of_size:
                    # The first match of its size cannot repeat an earlier one: its key is
                    # worked out only when another match of that size comes.
                    first_of_size[size] = (match, i)
                else:
                    first = first_of_size[size]
                    if first is not None:
                        seen[_match_key(first[0])] = first[1]
                        first_of_size[size] = None
                    key = _match_key(match)
                    if key in seen:
                        if duplicates is None:
                            duplicates = []
                        duplicates.append((j, seen[key]))
                        continue
                    seen[key] = i
                if http and size > 0:
                    uri = match.get("uri")
                    if isinstance(uri, dict):
                        prefix = uri.get("prefix")
                        if isinstance(prefix, str) and prefix:
                            prefixes.append((i, j, route, match, prefix))
            if duplicates is None:
                continue
            if len(duplicates) == len(matches):
                found.append(
                    (
                        True,
                        ("spec", section, i, "match"),
                        f"{section} rule {_name(route, i, http)} is never used: every match "
                        "of it is already matched by an earlier rule",
                    )
                )
                continue
            for j, earlier in duplicates:
                found.append(
                    (
                        False,
                        ("spec", section, i, "match", j),
                        f"match #{j} of {section} rule {_name(route, i, http)} is never used: "
                        f"rule #{earlier} has the same match",
                    )
                )
        if len(prefixes) > 1:  # two prefix matches at least, or there is nothing to compare
            found.extend(_covered_prefixes(prefixes))
    return found


def _name(route: Mapping[str, Any], i: int, http: bool) -> str:
    return rule_name(route, i) if http else f"#{i}"


def _covered_prefixes(
    prefixes: list[tuple[int, int, dict[str, Any], dict[str, Any], str]],
) -> Iterator[tuple[bool, FieldPath, str]]:
    """The HTTP matches whose uri prefix an earlier match covers, with the same other
    conditions (Istio's ``coveredValidation``)."""
    compared = [_prefix_match(m, p) for _, _, _, m, p in prefixes]
    for a in range(len(compared)):
        i_a, j_a, route_a, _, _ = prefixes[a]
        pa = compared[a]
        for b in range(a + 1, len(compared)):
            pb = compared[b]
            if pb.prefix == pa.prefix:
                continue
            if _covers(pa, pb):
                i_b, j_b = prefixes[b][:2]
                yield (
                    False,
                    ("spec", "http", i_b, "match", j_b, "uri", "prefix"),
                    f"this match is never used: the uri prefix {pa.prefix!r} of rule "
                    f"{rule_name(route_a, i_a)} (match #{j_a}) comes first and covers "
                    f"{pb.prefix!r} with the same other conditions",
                )


@dataclasses.dataclass(frozen=True, slots=True)
class _PrefixMatch:
    prefix: str
    port: int
    method: str
    authority: str
    headers: dict[str, str]
    query: dict[str, str]
    without: dict[str, str]


def _exact_or_prefix(sm: Any) -> str:
    sm = as_map(sm)
    exact, prefix = sm.get("exact"), sm.get("prefix")
    if isinstance(exact, str) and exact:
        return "exact:" + exact
    if isinstance(prefix, str) and prefix:
        return "prefix:" + prefix
    return ""


def _prefix_match(match: dict[str, Any], prefix: str) -> _PrefixMatch:
    """Istio's ``genMatchHTTPRoutes``, for a match with the non-empty uri prefix ``prefix``."""
    return _PrefixMatch(
        prefix,
        as_int(match.get("port")) or 0,
        _exact_or_prefix(match.get("method")) or "exact:GET",
        _exact_or_prefix(match.get("authority")),
        {str(k): _exact_or_prefix(v) for k, v in as_map(match.get("headers")).items()},
        {str(k): _exact_or_prefix(v) for k, v in as_map(match.get("queryParams")).items()},
        {str(k): _exact_or_prefix(v) for k, v in as_map(match.get("withoutHeaders")).items()},
    )


def _covers(a: _PrefixMatch, b: _PrefixMatch) -> bool:
    """Istio's ``coveredValidation``: whether the earlier match ``a`` shadows ``b``."""
    if not b.prefix.startswith(a.prefix) or a.port != b.port:
        return False
    for va, vb in ((a.method, b.method), (a.authority, b.authority)):
        if va != vb and not va.startswith(vb):
            return False
    for ma, mb in ((a.headers, b.headers), (a.query, b.query), (a.without, b.without)):
        if len(ma) != len(mb):
            return False
        for k, va in ma.items():
            if k not in mb:
                return False
            if va != mb[k] and not va.startswith(mb[k]):
                return False
    return True


# --------------------------------------------------------------------------------------------
# Envoy's retry conditions (x-envoy-retry-on, and the gRPC ones) that Istio accepts in retryOn

RETRY_ON = frozenset(
    (
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "envoy-ratelimited",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    )
)

# The status codes Go's net/http names (http.StatusText is not empty).
_HTTP_STATUS = frozenset(
    (
        *range(100, 104),
        *range(200, 209),
        226,
        *range(300, 306),
        307,
        308,
        *range(400, 419),
        *range(421, 427),
        428,
        429,
        431,
        451,
        *range(500, 509),
        510,
        511,
    )
)


def retry_on_ok(token: str) -> bool:
    """Whether Istio accepts one comma-separated token of ``retryOn``: a retry condition or an
    HTTP status code (not trimmed: Istio does not strip spaces)."""
    if token in RETRY_ON:
        return True
    # Go's strconv.Atoi: an optional sign, then ASCII digits.
    digits = token[1:] if token[:1] in "+-" else token
    return digits.isascii() and digits.isdigit() and int(token) in _HTTP_STATUS
