"""The value grammars Istio's admission webhook shares between kinds, as pure functions.

Per-kind rule modules call these; they know nothing of resources, spans or the registry. Every
``check_*`` function returns ``None`` when Istio accepts the value, else one message in the user's
terms that says what is wrong and what is accepted. The ``check_*`` functions that look at a whole
object return a list of ``(where, message)`` pairs instead, ``where`` being relative to the object
they were given, so the caller can point at the exact key or item.

The verdicts are Istio's (its webhook, plus the CRD's CEL rules where those are stricter);
tests/fixtures/grammar holds the cases of Istio's own test tables they are checked against. Two
conventions hold throughout:

* A value of the wrong type (a number where a string belongs, a list where a map belongs) is the
  schema rules' business: checkers accept it silently instead of reporting it twice.
* Lengths and character classes follow Istio's: DNS names are ASCII, so code points and bytes
  agree wherever a verdict depends on a length.

Everything here is cheap: regexes are compiled once, at import; RE2 (``google-re2``) is imported on
the first regex check only, and regex verdicts are cached.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from meshlint.verdicts import keep_verdict

__all__ = [
    "DURATION_UNITS",
    "HTTP_PROTOCOLS",
    "MAX_REGEX_LENGTH",
    "MAX_TARGET_REFS",
    "PROTOCOLS",
    "TLS_PROTOCOLS",
    "UNIX_PREFIX",
    "Where",
    "check_cidr",
    "check_destination",
    "check_dns_label",
    "check_dns_subdomain",
    "check_duration",
    "check_export_to",
    "check_fqdn",
    "check_gateway_name",
    "check_gateway_vs_host",
    "check_header_name_cors",
    "check_header_name_for_match",
    "check_header_name_for_set",
    "check_header_name_other",
    "check_header_name_strict",
    "check_header_value",
    "check_ip",
    "check_label_key",
    "check_label_value",
    "check_labels",
    "check_ns_slash_host",
    "check_partial_wildcard",
    "check_percentage",
    "check_port",
    "check_port_name",
    "check_protocol",
    "check_regex",
    "check_string_match",
    "check_target_refs",
    "check_trust_domain",
    "check_unix_address",
    "check_wildcard_host",
    "check_workload_selector",
    "cidr_host_bits_set",
    "duration_ns",
    "empty_selector_warning",
    "gateway_name_warning",
    "host_matches",
    "host_subset_of",
    "is_dns_label",
    "is_ip",
    "is_wildcard_dns_label",
    "is_wildcarded",
    "parse_duration",
    "parse_protocol",
    "protocol_warning",
    "regex_engine",
]

Where = tuple[str | int, ...]
"""A path relative to the object a checker was given, e.g. ``("targetRefs", 0, "name")``."""


# Protocols as Istio's protocol.Parse names them (case-insensitive on input): those a server or
# listener serves HTTP on, and those it serves TLS on.
HTTP_PROTOCOLS = frozenset(("HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web"))
TLS_PROTOCOLS = frozenset(("HTTPS", "TLS"))


def _q(value: str, limit: int = 80) -> str:
    """``value`` quoted for a message: control characters escaped, long values shortened."""
    text = value if len(value) <= limit else value[: limit - 1] + "…"
    if not text.isprintable():
        text = "".join(
            c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
            for c in text
        )
    return f"'{text}'"


# --------------------------------------------------------------------------------------------
# Durations
#
# Istio reads durations with Go's duration syntax (CEL's duration() does too): an optional sign,
# then one or more number+unit groups (1h30m, 1.5s, .5ms), or a bare 0. The webhook then requires
# at least 1 ms and whole milliseconds.

_NS_PER_MS = 1_000_000
_MAX_NS = 1 << 63
DURATION_UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": _NS_PER_MS,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
"""Duration units and their length in nanoseconds."""

_DIGITS = frozenset("0123456789")
_SYNTAX, _RANGE = "syntax", "range"


_DURATIONS_READ: dict[str, int | str] = {}


def _duration(text: str) -> int | str:
    """Nanoseconds, or why ``text`` is not a duration (``_SYNTAX`` or ``_RANGE``)."""
    found = _DURATIONS_READ.get(text)
    if found is None:
        found = keep_verdict(_DURATIONS_READ, text, _read_duration(text))
    return found


def _read_duration(text: str) -> int | str:
    """Nanoseconds, or why ``text`` is not a duration (``_SYNTAX`` or ``_RANGE``).

    Follows Go's rules exactly, including what they do at the edges: digits of a fraction past
    the precision of a 64-bit integer are ignored, a fraction is converted through a double and
    truncated to whole nanoseconds, and the total must fit in a signed 64-bit count of
    nanoseconds (about 292 years).
    """
    s = text
    negative = False
    if s[:1] in ("-", "+"):
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        return _SYNTAX
    total = 0
    i, n = 0, len(s)
    while i < n:
        if s[i] != "." and s[i] not in _DIGITS:
            return _SYNTAX
        start = i
        whole = 0
        while i < n and s[i] in _DIGITS:
            whole = whole * 10 + ord(s[i]) - 48
            if whole > _MAX_NS:
                return _RANGE
            i += 1
        digits_before = i > start
        fraction, scale, digits_after = 0, 1.0, False
        if i < n and s[i] == ".":
            i += 1
            start = i
            full = False
            while i < n and s[i] in _DIGITS:
                if not full:
                    nxt = fraction * 10 + ord(s[i]) - 48
                    if fraction > (_MAX_NS - 1) // 10 or nxt > _MAX_NS:
                        full = True
                    else:
                        fraction = nxt
                        scale *= 10
                i += 1
            digits_after = i > start
        if not digits_before and not digits_after:
            return _SYNTAX
        start = i
        while i < n and s[i] != "." and s[i] not in _DIGITS:
            i += 1
        unit = DURATION_UNITS.get(s[start:i])
        if unit is None:
            return _SYNTAX
        if whole > _MAX_NS // unit:
            return _RANGE
        value = whole * unit
        if fraction:
            value += int(float(fraction) * (float(unit) / scale))
            if value > _MAX_NS:
                return _RANGE
        total += value
        if total > _MAX_NS:
            return _RANGE
    if negative:
        return -total
    if total > _MAX_NS - 1:
        return _RANGE
    return total


def duration_ns(text: object) -> int | None:
    """The length of a duration such as ``1h30m`` or ``250ms`` in nanoseconds; None if invalid."""
    if not isinstance(text, str):
        return None
    result = _duration(text)
    return result if isinstance(result, int) else None


def parse_duration(text: object) -> float | None:
    """The length of a duration such as ``1h30m`` or ``250ms`` in seconds; None if invalid."""
    ns = duration_ns(text)
    return None if ns is None else ns / 1e9


def _fmt_ms(ms: int) -> str:
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def check_duration(
    text: object,
    *,
    min_ms: int = 1,
    max_ms: int | None = None,
    whole_ms: bool = True,
    allow_zero: bool = False,
) -> str | None:
    """Check a duration field the way Istio's webhook does.

    By default (most duration fields): a valid duration of at least 1 ms, in whole milliseconds.
    ``allow_zero`` is for the fields where 0 turns the feature off (DestinationRule
    ``connectionPool.tcp.idleTimeout``): like Istio, anything shorter than 1 ms either way counts
    as 0 there. ``min_ms=0, whole_ms=False`` only rules out negative durations; ``max_ms`` caps
    the value.
    """
    if not isinstance(text, str):
        return None
    ns = _duration(text)
    if ns == _RANGE:
        return f"{_q(text)} is too long a duration: the longest is 2562047h (about 292 years)"
    if not isinstance(ns, int):
        return (
            f"{_q(text)} is not a duration: use a number with a unit h, m, s, ms, us or ns, "
            "e.g. 30s or 1h30m"
        )
    if allow_zero and -_NS_PER_MS < ns < _NS_PER_MS:
        return None
    if ns < min_ms * _NS_PER_MS:
        if ns < 0:
            if min_ms <= 0:
                return f"{text} is negative: a duration here may not be negative"
            return f"{text} is negative: a duration here must be at least {_fmt_ms(min_ms)}"
        if min_ms == 1:
            hint = " (0 is not allowed here)" if ns == 0 else ""
            return f"{text} is below Istio's minimum of 1ms{hint}"
        return f"{text} is below the minimum of {_fmt_ms(min_ms)}"
    if max_ms is not None and ns > max_ms * _NS_PER_MS:
        return f"{text} is above the maximum of {_fmt_ms(max_ms)}"
    if whole_ms and ns % _NS_PER_MS:
        low = ns // _NS_PER_MS
        return (
            f"{text} is not a whole number of milliseconds: Istio only accepts millisecond "
            f"precision, e.g. {_fmt_ms(low) if low else '1ms'} or {_fmt_ms(low + 1)}"
        )
    return None


# --------------------------------------------------------------------------------------------
# Ports and protocols


def check_port(n: object) -> str | None:
    """A port number: 1-65535."""
    if isinstance(n, bool) or not isinstance(n, int):
        return None
    if 1 <= n <= 65535:
        return None
    return f"port {n} is outside 1-65535"


def check_port_name(name: object) -> str | None:
    """A port name: a DNS label (1-63 letters, digits or '-', alphanumeric at both ends)."""
    if not isinstance(name, str) or is_dns_label(name):
        return None
    if not name:
        return "the port name is empty: give it a name such as http or grpc-web"
    return f"port name {_q(name)} is not valid: {_label_problem(name)}"


PROTOCOLS: dict[str, str] = {
    "tcp": "TCP",
    "udp": "UDP",
    "grpc": "GRPC",
    "grpc-web": "GRPC-Web",
    "http": "HTTP",
    "http_proxy": "HTTP_PROXY",
    "http2": "HTTP2",
    "https": "HTTPS",
    "tls": "TLS",
    "mongo": "Mongo",
    "redis": "Redis",
    "mysql": "MySQL",
}
"""The port protocols Istio knows, by lower-case name, with Istio's spelling of each."""

_PROTOCOL_LIST = (
    "HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, TCP, TLS, MONGO, MYSQL, REDIS, UDP, HTTP_PROXY"
)


def parse_protocol(text: object) -> str | None:
    """Istio's name for a port protocol written in any case (``grpc-web`` → ``GRPC-Web``)."""
    if not isinstance(text, str):
        return None
    return PROTOCOLS.get(text.lower())


def check_protocol(text: object, *, allow_empty: bool = True) -> str | None:
    """A port protocol. Empty means "detect it" and is allowed except where ``allow_empty`` is
    False (Gateway servers)."""
    if not isinstance(text, str):
        return None
    if text == "":
        if allow_empty:
            return None
        return f"a protocol is required here: use one of {_PROTOCOL_LIST}"
    if text.lower() in PROTOCOLS:
        return None
    return f"{_q(text)} is not a protocol Istio knows: use one of {_PROTOCOL_LIST} (any case)"


def protocol_warning(text: object, *, sidecar_egress: bool = False) -> str | None:
    """What is likely wrong with a valid protocol: UDP, which the proxy does not carry, and
    HTTP_PROXY outside a Sidecar egress listener, the only place it has an effect."""
    name = parse_protocol(text)
    if name == "UDP":
        return "the proxy does not carry UDP: traffic on this port bypasses or fails in the mesh"
    if name == "HTTP_PROXY" and not sidecar_egress:
        return "HTTP_PROXY only has an effect on a Sidecar egress listener"
    return None


# --------------------------------------------------------------------------------------------
# DNS names, host names, wildcards

_LABEL = r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
_DNS_LABEL = re.compile(_LABEL)
_WILDCARD_LABEL = re.compile(rf"\*|(?:\*-?)?{_LABEL}")
_LOWER_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"{_LOWER_LABEL}(?:\.{_LOWER_LABEL})*")
_GO_INT = re.compile(r"[+-]?[0-9]+")
_LABEL_RULE = "use 1-63 letters, digits or '-', starting and ending with a letter or digit"


def is_dns_label(text: str) -> bool:
    """A DNS-1123 label as Istio reads it: 1-63 ASCII letters (either case), digits or '-',
    alphanumeric at both ends."""
    return len(text) <= 63 and _DNS_LABEL.fullmatch(text) is not None


def is_wildcard_dns_label(text: str) -> bool:
    """A DNS label, ``*`` alone, or a DNS label after ``*`` or ``*-`` (``*foo``, ``*-foo``)."""
    return len(text) <= 63 and _WILDCARD_LABEL.fullmatch(text) is not None


def _label_problem(label: str) -> str:
    if not label:
        return "it is empty"
    if len(label) > 63:
        return f"it is {len(label)} characters long, the most is 63"
    return _LABEL_RULE


def check_dns_label(text: object, *, kube_name: bool = False) -> str | None:
    """A DNS-1123 label (subset names, port names, namespaces). Istio accepts upper case; with
    ``kube_name`` (a reference to a Kubernetes object or namespace) upper case is reported too,
    since such a name can never match."""
    if not isinstance(text, str):
        return None
    if not is_dns_label(text):
        return f"{_q(text)} is not a valid name: {_label_problem(text)}"
    if kube_name and text != text.lower():
        return (
            f"{_q(text)} has upper-case letters: Kubernetes names are lower case, so it "
            f"cannot match anything (did you mean {_q(text.lower())}?)"
        )
    return None


def check_dns_subdomain(text: object) -> str | None:
    """A Kubernetes DNS-1123 subdomain (object names, API groups): at most 253 characters,
    lower-case labels joined by dots."""
    if not isinstance(text, str):
        return None
    if len(text) > 253:
        return f"{_q(text)} is {len(text)} characters long, the most is 253"
    if _DNS_SUBDOMAIN.fullmatch(text):
        return None
    return (
        f"{_q(text)} is not a valid name: use lower-case letters, digits, '-' and '.', "
        "starting and ending with a letter or digit"
    )


def _go_atoi_ok(text: str) -> bool:
    """Whether the text is a number that fits a 64-bit signed integer (sign and zeros allowed)."""
    return _GO_INT.fullmatch(text) is not None and -(1 << 63) <= int(text) < (1 << 63)


def _host_preconditions(host: str) -> str | None:
    if not host:
        return "the host name is empty"
    if len(host) > 255:
        return f"{_q(host)} is {len(host)} characters long; a host name may have at most 255"
    return None


def _labels_problem(host: str, domain: str, *, wildcards: bool = True) -> str | None:
    """The problem with the dot-separated labels of ``domain`` (part of ``host``), if any."""
    parts = domain.split(".")
    last = parts[-1]
    if _go_atoi_ok(last):
        if is_ip(host):
            return f"{_q(host)} is an IP address; a host name is needed here"
        return (
            f"{_q(host)} is not a valid host name: its last label {_q(last)} is a number "
            "(top-level domains are never all digits)"
        )
    for i, label in enumerate(parts):
        if i == len(parts) - 1 and label == "":
            return None  # one trailing dot: a fully qualified name such as `istio.io.`
        if not is_dns_label(label):
            return _bad_label(host, label, wildcards=wildcards)
    return None


def _bad_label(host: str, label: str, *, wildcards: bool = True) -> str:
    if not label:
        return f"{_q(host)} is not a valid host name: it has an empty label (two dots in a row?)"
    if "*" in label and not wildcards:
        return f"{_q(host)} is not a valid host name: wildcards ('*') are not allowed here"
    if "*" in label:
        return (
            f"{_q(host)} is not a valid host name: '*' may only start the first label, "
            "as in *.example.com or *-foo.example.com"
        )
    return f"{_q(host)} is not a valid host name: label {_q(label)} is invalid: {_label_problem(label)}"


def check_fqdn(host: object) -> str | None:
    """A host name without wildcards: at most 255 characters of valid DNS labels, the last one
    not all digits; one trailing dot is allowed."""
    if not isinstance(host, str):
        return None
    return _host_preconditions(host) or _labels_problem(host, host, wildcards=False)


# The verdicts on the hosts checked so far, without and with ``allow_ip`` (see keep_verdict).
_HOSTS_CHECKED: tuple[dict[str, str | None], dict[str, str | None]] = ({}, {})


# The shape most hosts have, valid at a glance: DNS labels of at most 63 characters joined by
# dots, the first of them possibly a wildcard one (`*`, `*foo`, `*-foo`), the last not all
# digits (so not an IP address either). Hosts of this shape are not kept among the verdicts:
# most are written once in a repository.
_PLAIN_LABEL = r"[a-zA-Z0-9](?:[-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?"
_PLAIN_HOST = re.compile(
    rf"(?=[^.]{{1,63}}\.)(?:\*|(?:\*-?)?{_PLAIN_LABEL})(?:\.{_PLAIN_LABEL})*"
    rf"\.(?=[^.]*[a-zA-Z-]){_PLAIN_LABEL}"
)


def check_wildcard_host(host: object, *, allow_ip: bool = False) -> str | None:
    """A host name whose first label may be a wildcard: ``*``, ``*.example.com``, ``*foo.com``,
    ``*-foo.example.com``. With ``allow_ip`` an IP address is accepted too (VirtualService
    hosts, Gateway hosts)."""
    if not isinstance(host, str):
        return None
    checked = _HOSTS_CHECKED[1 if allow_ip else 0]
    if host in checked:
        return checked[host]
    if len(host) <= 255 and _PLAIN_HOST.fullmatch(host):
        return None
    return keep_verdict(checked, host, _check_wildcard_host(host, allow_ip))


def _check_wildcard_host(host: str, allow_ip: bool) -> str | None:
    problem = _host_preconditions(host)
    if problem:
        return problem
    first, dot, rest = host.partition(".")
    if not is_wildcard_dns_label(first):
        problem = _bad_label(host, first)
    elif dot:
        problem = _labels_problem(host, rest)
    if problem and allow_ip and is_ip(host):
        return None
    return problem


def check_partial_wildcard(host: object) -> str | None:
    """No partial wildcards: ``*`` is either the whole host or a leading ``*.``."""
    if not isinstance(host, str):
        return None
    if "*" in host and host != "*" and not host.startswith("*."):
        return (
            f"{_q(host)} has a partial wildcard: '*' may only be the whole host or a leading "
            "'*.' (as in *.example.com)"
        )
    return None


def _slash_host_part(host: str, *, gateway: bool) -> str | None:
    if host != "*" and "." not in host:
        if not host:
            return "the host part after '/' is empty"
        return (
            f"{_q(host)} is a short name: use a fully qualified name such as "
            f"{host}.my-namespace.svc.cluster.local, a wildcard such as *.example.com, or '*'"
        )
    problem = check_wildcard_host(host)
    if problem and not (gateway and is_ip(host)):
        return problem
    return check_partial_wildcard(host)


def check_ns_slash_host(value: object, *, require_slash: bool) -> str | None:
    """A ``namespace/dnsName`` host of a Gateway server (``require_slash=False``: a plain host is
    the older form and still allowed) or a Sidecar egress listener (``require_slash=True``).

    The namespace is ``*``, ``.`` or a namespace name; a Sidecar may prefix it with ``~`` to
    exclude it (``~ns/*``, ``~/foo.com``). The host is ``*``, a fully qualified name, or a
    wildcard such as ``*.example.com``; a Gateway also accepts an IP address. Short names and
    partial wildcards are rejected.
    """
    if not isinstance(value, str):
        return None
    gateway = not require_slash
    namespace, slash, host = value.partition("/")
    if not slash:
        if gateway:
            return _slash_host_part(value, gateway=True)
        return (
            f"{_q(value)} has no namespace: write namespace/host, e.g. */{value}, "
            f"./{value} or istio-system/{value}"
        )
    if not namespace:
        return f"{_q(value)} has an empty namespace before '/': use '*', '.' or a namespace name"
    if gateway:
        if namespace not in ("*", ".") and not is_dns_label(namespace):
            return (
                f"{_q(namespace)} is not a valid namespace in {_q(value)}: use '*', '.' or a "
                "namespace name"
            )
    else:
        name = namespace[1:] if namespace.startswith("~") else namespace
        if name not in ("", "*", ".") and not is_dns_label(name):
            return (
                f"{_q(namespace)} is not a valid namespace in {_q(value)}: use '*', '.', a "
                "namespace name, or one of these after '~' to exclude it"
            )
    return _slash_host_part(host, gateway=gateway)


def check_gateway_vs_host(host: object, *, sni: bool, allow_ip: bool = False) -> str | None:
    """A host of a VirtualService bound to gateways (``sni``: it has TLS routes with SNI
    matches). Like :func:`check_wildcard_host`, but with ``sni`` the names Envoy generates for
    AUTO_PASSTHROUGH gateways, ``outbound_.<port>_._.<host>``, are accepted too. With
    ``allow_ip`` (VirtualService ``hosts``) an IP address is accepted as well."""
    if not isinstance(host, str):
        return None
    problem = _gateway_vs_host(host, sni=sni)
    if problem and allow_ip and is_ip(host):
        return None
    return problem


def _gateway_vs_host(host: str, *, sni: bool) -> str | None:
    problem = _host_preconditions(host)
    if problem:
        return problem
    if sni and host.startswith("outbound_"):
        parts = host.split("_")
        form = "outbound_.<port>_._.<host>, e.g. outbound_.443_._.reviews.shop.svc.cluster.local"
        if len(parts) < 4:
            return f"{_q(host)} is not a valid generated SNI name: use {form}"
        port, name = parts[1].strip("."), parts[3].strip(".")
        if not any(c in _DIGITS for c in port):
            return f"{_q(host)} is not a valid generated SNI name: {_q(port)} is not a port; use {form}"
        if not any(c.isascii() and c.isalpha() for c in name):
            return f"{_q(host)} is not a valid generated SNI name: it names no host; use {form}"
        return None
    return check_wildcard_host(host)


def check_trust_domain(domain: object) -> str | None:
    """A SPIFFE trust domain: DNS labels joined by dots (one trailing dot allowed)."""
    if not isinstance(domain, str):
        return None
    if not domain:
        return "the trust domain is empty"
    parts = domain.split(".")
    for i, label in enumerate(parts):
        if i == len(parts) - 1 and label == "":
            return None
        if not is_dns_label(label):
            return f"{_q(domain)} is not a valid trust domain: label {_q(label)}: {_label_problem(label)}"
    return None


# The verdicts on the gateway references checked so far (see keep_verdict).
_GATEWAYS_CHECKED: dict[str, str | None] = {}


def check_gateway_name(name: object) -> str | None:
    """A reference to a Gateway from a VirtualService (``gateways``, ``match[].gateways``):
    ``namespace/name``, ``mesh``, or the older ``name`` / ``name.namespace.svc.domain`` forms."""
    if not isinstance(name, str):
        return None
    if name in _GATEWAYS_CHECKED:
        return _GATEWAYS_CHECKED[name]
    return keep_verdict(_GATEWAYS_CHECKED, name, _check_gateway_name(name))


def _check_gateway_name(name: str) -> str | None:
    namespace, slash, gateway = name.partition("/")
    if not slash:
        if check_fqdn(name) is None:
            return None
        return (
            f"{_q(name)} is not a valid gateway reference: write namespace/name, e.g. "
            "istio-system/my-gateway, or mesh"
        )
    if not namespace or not gateway:
        return f"{_q(name)} is not a gateway reference: both the namespace and the name are needed"
    for part, what in ((namespace, "namespace"), (gateway, "gateway name")):
        if not is_dns_label(part):
            return f"{_q(part)} is not a valid {what} in {_q(name)}: {_label_problem(part)}"
    return None


def gateway_name_warning(name: object) -> str | None:
    """A warning for gateway references in the older ``name.namespace…`` form."""
    if not isinstance(name, str) or "/" in name or "." not in name:
        return None
    parts = name.split(".")
    return (
        f"{_q(name)} uses the older gateway-name form: prefer namespace/name, here "
        f"{_q(parts[1] + '/' + parts[0])}"
    )


def is_wildcarded(host: str) -> bool:
    return host[:1] == "*"


def host_matches(a: str, b: str) -> bool:
    """Whether two hosts overlap: equal, or one wildcard covers the other (``*.com`` and
    ``foo.com``, ``*.com`` and ``*.foo.com``; ``*`` covers everything). Case-sensitive."""
    if is_wildcarded(a):
        if is_wildcarded(b):
            return b[1:].endswith(a[1:]) if len(a) < len(b) else a[1:].endswith(b[1:])
        return b.endswith(a[1:])
    if is_wildcarded(b):
        return a.endswith(b[1:])
    return a == b


def host_subset_of(a: str, b: str) -> bool:
    """Whether every name ``a`` covers is covered by ``b`` (``foo.com`` ⊂ ``*.com`` ⊂ ``*``)."""
    if is_wildcarded(a):
        if is_wildcarded(b):
            return len(a) >= len(b) and a[1:].endswith(b[1:])
        return False
    if is_wildcarded(b):
        return a.endswith(b[1:])
    return a == b


# --------------------------------------------------------------------------------------------
# IP addresses and CIDR blocks (Go's netip rules: no leading zeros in IPv4, zones only on IPv6
# addresses, never in a prefix, no netmask form)

_IP_CHARS = frozenset("0123456789abcdefABCDEF:.")
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_ip(text: str, *, zone_ok: bool = True) -> _Address | None:
    address, percent, zone = text.partition("%")
    if percent and (not zone or not zone_ok):
        return None
    if not address or not _IP_CHARS.issuperset(address):
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if percent and ip.version == 4:
        return None
    return ip


def is_ip(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address (IPv6 may carry a ``%zone``)."""
    return _parse_ip(text) is not None


def check_ip(text: object) -> str | None:
    """An IPv4 or IPv6 address, without a prefix length; IPv4 parts may not have leading zeros."""
    if not isinstance(text, str) or is_ip(text):
        return None
    if "/" in text:
        return f"{_q(text)} is a CIDR block; a single IP address is needed here"
    if re.fullmatch(r"[0-9.]+", text) and any(len(p) > 1 and p[0] == "0" for p in text.split(".")):
        return f"{_q(text)} is not a valid IP address: IPv4 parts may not have leading zeros"
    return f"{_q(text)} is not a valid IP address"


def _parse_prefix(text: str) -> tuple[_Address, int] | None:
    address, _, bits = text.partition("/")
    ip = _parse_ip(address, zone_ok=False)
    if ip is None:
        return None
    if not bits or not bits.isascii() or not bits.isdigit() or (len(bits) > 1 and bits[0] == "0"):
        return None
    length = int(bits)
    if length > ip.max_prefixlen:
        return None
    return ip, length


def check_cidr(text: object) -> str | None:
    """An IP address or a CIDR block (``10.0.0.0/8``, ``2001:db8::/32``)."""
    if not isinstance(text, str):
        return None
    if text.count("/") != 1:
        if is_ip(text):
            return None
        return f"{_q(text)} is neither an IP address nor a CIDR block such as 10.0.0.0/8"
    if _parse_prefix(text) is not None:
        return None
    address = text.partition("/")[0]
    ip = _parse_ip(address)
    if ip is None:
        return f"{_q(text)} is not a valid CIDR block: {_q(address)} is not an IP address"
    if "%" in address:
        return f"{_q(text)} is not a valid CIDR block: a zone (%…) is not allowed in a prefix"
    return (
        f"{_q(text)} is not a valid CIDR block: the prefix length must be a number from 0 "
        f"to {ip.max_prefixlen}"
    )


def cidr_host_bits_set(text: object) -> bool:
    """Whether a valid CIDR block has bits set past its prefix (``10.1.2.3/8``, which Istio
    accepts as ``10.0.0.0/8``)."""
    if not isinstance(text, str) or text.count("/") != 1:
        return False
    parsed = _parse_prefix(text)
    if parsed is None:
        return False
    ip, length = parsed
    host_bits = ip.max_prefixlen - length
    return int(ip) & ((1 << host_bits) - 1) != 0


# --------------------------------------------------------------------------------------------
# Labels and workload selectors

_QUALIFIED_NAME = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY = re.compile(rf"({_LABEL}(?:\.{_LABEL})*/)?({_QUALIFIED_NAME})")
_LABEL_VALUE = re.compile(f"(?:{_QUALIFIED_NAME})?")
_NAME_RULE = "letters, digits, '-', '_' or '.', starting and ending with a letter or digit"


def check_label_key(key: object) -> str | None:
    """A label key: ``[prefix/]name``, the prefix a DNS subdomain of at most 253 characters, the
    name 1-63 characters of letters, digits, '-', '_' or '.' with alphanumeric ends."""
    if not isinstance(key, str):
        return None
    m = _LABEL_KEY.fullmatch(key)
    if m is None:
        if not key:
            return "a label key may not be empty"
        return f"label key {_q(key)} is not valid: use [prefix/]name with a name of {_NAME_RULE}"
    prefix, name = m.group(1), m.group(2)
    if prefix and len(prefix) - 1 > 253:
        return f"label key {_q(key)} is not valid: its prefix is longer than 253 characters"
    if len(name) > 63:
        return f"label key {_q(key)} is not valid: its name is longer than 63 characters"
    return None


def check_label_value(value: object) -> str | None:
    """A label value: empty, or letters, digits, '-', '_' or '.' with alphanumeric ends. (Istio
    sets no length limit here; selectors' CRDs cap values at 63.)"""
    if not isinstance(value, str) or _LABEL_VALUE.fullmatch(value):
        return None
    return f"label value {_q(value)} is not valid: use {_NAME_RULE}, or leave it empty"


def check_labels(labels: object) -> list[tuple[str, str]]:
    """Every key and value of a label map (subset labels, sourceLabels, endpoint labels)."""
    if not isinstance(labels, Mapping):
        return []
    out = []
    for key, value in labels.items():
        for problem in (check_label_key(key), check_label_value(value)):
            if problem:
                out.append((key, problem))
    return out


_SELECTOR_LIMITS = {"security": 4096, "networking": 256}


def check_workload_selector(
    labels: object, *, kind: Literal["security", "networking"], limits: bool = True
) -> list[tuple[str | None, str]]:
    """The labels of a workload selector: ``selector.matchLabels`` of the security and
    telemetry kinds (``kind="security"``) or ``workloadSelector.labels`` of Sidecar and
    ServiceEntry (``kind="networking"``).

    Keys may not be empty, neither keys nor values may contain ``*`` (selectors match exactly),
    values are at most 63 characters, and there are at most 4096 (security) or 256 (networking)
    entries. Each problem comes with the key it concerns, or None for the map as a whole. A
    selector with no labels is valid but selects every workload: see
    :func:`empty_selector_warning`. With ``limits=False`` the two size limits (which the CRD
    enforces, and so the schema stage reports) are left out.
    """
    if not isinstance(labels, Mapping):
        return []
    out: list[tuple[str | None, str]] = []
    limit = _SELECTOR_LIMITS[kind]
    if limits and len(labels) > limit:
        out.append(
            (None, f"a selector may have at most {limit} labels; this one has {len(labels)}")
        )
    for key, value in labels.items():
        if not isinstance(key, str):
            continue
        if key == "":
            out.append((key, "a selector label key may not be empty"))
        if "*" in key:
            out.append(
                (
                    key,
                    f"label key {_q(key)} has a '*': selectors match labels exactly, without wildcards",
                )
            )
        if isinstance(value, str):
            if "*" in value:
                out.append(
                    (
                        key,
                        f"label value {_q(value)} has a '*': selectors match labels exactly, without wildcards",
                    )
                )
            if limits and len(value) > 63:
                out.append(
                    (
                        key,
                        f"label value {_q(value)} is {len(value)} characters long, the most is 63",
                    )
                )
    return out


def empty_selector_warning(kind: Literal["security", "networking"]) -> str:
    """The warning for a selector given without labels."""
    what = "matchLabels" if kind == "security" else "labels"
    return (
        f"this selector has no {what}, so it selects every workload in the namespace (every "
        "workload of the mesh in the root namespace); remove it or add labels"
    )


# --------------------------------------------------------------------------------------------
# Policy target references (AuthorizationPolicy, RequestAuthentication, Telemetry, WasmPlugin)

_TARGET_KINDS: dict[tuple[str, str], str] = {
    ("core", "Service"): "",
    ("networking.istio.io", "ServiceEntry"): "networking.istio.io",
    ("gateway.networking.k8s.io", "Gateway"): "gateway.networking.k8s.io",
    ("gateway.networking.k8s.io", "GatewayClass"): "gateway.networking.k8s.io",
}
_GROUP_OF_KIND = {kind: group for (_, kind), group in _TARGET_KINDS.items()}
_TARGET_LIST = (
    "Service (group '' or core), ServiceEntry (networking.istio.io), Gateway or GatewayClass "
    "(gateway.networking.k8s.io)"
)
MAX_TARGET_REFS = 16


def _check_target_ref(ref: Mapping[str, Any], base: Where) -> list[tuple[Where, str]]:
    out: list[tuple[Where, str]] = []
    name = ref.get("name")
    if name is None or name == "":
        where = (*base, "name") if "name" in ref else base
        out.append((where, "a target reference needs a name"))
    namespace = ref.get("namespace")
    if isinstance(namespace, str) and namespace:
        out.append(
            (
                (*base, "namespace"),
                "cross-namespace targets are not supported: remove namespace (the target must be "
                "in the policy's own namespace)",
            )
        )
    group, kind = ref.get("group"), ref.get("kind")
    group = group if isinstance(group, str) else ""
    kind = kind if isinstance(kind, str) else ""
    if ((group or "core"), kind) not in _TARGET_KINDS:
        expected = _GROUP_OF_KIND.get(kind)
        if expected is not None:
            shown = f"'{expected}'" + (" (or core)" if not expected else "")
            out.append(((*base, "group"), f"kind {kind} is in group {shown}, not {_q(group)}"))
        else:
            where = (*base, "kind") if "kind" in ref else base
            out.append((where, f"{_q(kind)} cannot be targeted: use one of {_TARGET_LIST}"))
    return out


def check_target_refs(
    spec: Mapping[str, Any], *, selector_key: str = "selector"
) -> list[tuple[Where, str]]:
    """``selector``, ``targetRef`` and ``targetRefs`` of a policy's spec: at most one of the
    three, at most 16 ``targetRefs``, and every reference named, in the policy's namespace, and
    to a kind a policy can attach to (Service, ServiceEntry, Gateway, GatewayClass)."""
    if not isinstance(spec, Mapping):
        return []
    out: list[tuple[Where, str]] = []
    ref, refs = spec.get("targetRef"), spec.get("targetRefs")
    given = [
        key
        for key, present in (
            (selector_key, spec.get(selector_key) is not None),
            ("targetRef", ref is not None),
            ("targetRefs", isinstance(refs, list) and len(refs) > 0),
        )
        if present
    ]
    if len(given) > 1:
        out.append(
            (
                (given[-1],),
                f"set only one of {selector_key}, targetRef or targetRefs; this sets "
                + " and ".join(given),
            )
        )
    if isinstance(refs, list) and len(refs) > MAX_TARGET_REFS:
        out.append(
            (
                ("targetRefs",),
                f"at most {MAX_TARGET_REFS} targetRefs are allowed; this has {len(refs)}",
            )
        )
    if isinstance(ref, Mapping):
        out.extend(_check_target_ref(ref, ("targetRef",)))
    if isinstance(refs, list):
        for i, item in enumerate(refs):
            if isinstance(item, Mapping):
                out.extend(_check_target_ref(item, ("targetRefs", i)))
    return out


# --------------------------------------------------------------------------------------------
# exportTo


def _export_entry_problem(entry: str, allow_none: bool) -> str | None:
    if entry in (".", "*") or is_dns_label(entry):
        return None
    if entry == "~":
        return (
            "'~' (export to no namespace) is only allowed on a ServiceEntry; use '.' to keep "
            "this resource in its own namespace"
        )
    choices = "'.', '*', '~'" if allow_none else "'.', '*'"
    return f"{_q(entry)} is not a valid exportTo entry: use {choices} or a namespace name"


def check_export_to(
    values: object,
    *,
    allow_none: bool,
    own_namespace: str | None,
    workload_selector: bool = False,
) -> list[tuple[int, str]]:
    """A resource's ``exportTo`` list: entries are ``.``, ``*``, a namespace, or (with
    ``allow_none``, ServiceEntry only) ``~``; no entry twice (``.`` counts as
    ``own_namespace``); ``*`` and ``~`` stand alone. A DestinationRule with a workload selector
    (``workload_selector``) may only be exported to its own namespace. Each problem comes with
    the index of the entry it concerns."""
    if not isinstance(values, list) or not values:
        return []
    out: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    own = own_namespace or "."
    for i, entry in enumerate(values):
        if not isinstance(entry, str):
            continue
        key = own if entry == "." else entry
        if key in seen:
            if key != entry:
                out.append((i, f"'.' and {_q(key)} both mean this resource's own namespace"))
            else:
                out.append((i, f"{_q(entry)} is listed twice"))
            continue
        problem = None if allow_none and entry == "~" else _export_entry_problem(entry, allow_none)
        if problem:
            out.append((i, problem))
        else:
            seen[key] = i
    if workload_selector and seen:
        if own in seen:
            if len(seen) > 1:
                first = min(i for k, i in seen.items() if k != own)
                out.append(
                    (
                        first,
                        "a DestinationRule with a workloadSelector may only be exported to "
                        "its own namespace: keep just '.'",
                    )
                )
        else:
            out.append(
                (
                    min(seen.values()),
                    "a DestinationRule with a workloadSelector may only be "
                    "exported to its own namespace: use '.'",
                )
            )
    if len(values) > 1:
        if "*" in seen:
            out.append(
                (
                    seen["*"],
                    "'*' already exports to every namespace: it cannot be combined with other entries",
                )
            )
        if "~" in seen:
            out.append(
                (
                    seen["~"],
                    "'~' hides the ServiceEntry from every namespace: it cannot be combined with other entries",
                )
            )
    return out


# --------------------------------------------------------------------------------------------
# String matches and regular expressions

MAX_REGEX_LENGTH = 1024

_RE2: Any = None  # the google-re2 module, once imported; False if it is not installed
_RE2_OPTIONS: Any = None


def _re2() -> Any:
    global _RE2, _RE2_OPTIONS
    if _RE2 is None:
        try:
            import re2  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            _RE2 = False
        else:
            _RE2 = re2
            _RE2_OPTIONS = re2.Options()
            _RE2_OPTIONS.log_errors = False  # RE2 would print every error to stderr
    return _RE2


def regex_engine() -> str:
    """``"re2"`` when regexes are checked by RE2 itself, ``"fallback"`` otherwise."""
    return "re2" if _re2() else "fallback"


_REPEAT = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_ENGINE = "RE2, which Envoy uses"


def _unsupported(pattern: str) -> str | None:
    """The first construct of ``pattern`` that RE2 or Istio rejects for certain, described for a
    message: look-around, back-references, possessive quantifiers, atomic groups, recursion,
    conditionals, comments, ``\\C``, ``\\Z``, and a repetition with nothing to repeat. None if
    there is none (which does not make the pattern valid)."""
    i, n = 0, len(pattern)
    atom = False  # whether the last thing read can be repeated
    quantifier = ""  # the repetition operator just read, if any
    while i < n:
        c = pattern[i]
        if c in "*+?" or (c == "{" and _REPEAT.match(pattern, i)):
            op = c if c != "{" else _REPEAT.match(pattern, i).group()  # type: ignore[union-attr]
            if quantifier:
                return (
                    f"`{quantifier}{op}` repeats a repetition, which RE2 (Envoy's regex engine) "
                    f"does not allow: put the repeated part in a group, e.g. (?:a{quantifier}){op}"
                )
            if not atom:
                return (
                    f"`{op}` at position {i + 1} has nothing to repeat: write `\\{c}` to match "
                    "it literally"
                )
            i += len(op)
            if pattern[i : i + 1] == "+":
                return f"possessive quantifier `{op}+` is not supported by {_ENGINE}"
            if pattern[i : i + 1] == "?":
                i += 1  # lazy
                op += "?"
            atom, quantifier = False, op
            continue
        quantifier = ""
        if c == "\\":
            d = pattern[i + 1 : i + 2]
            atom = True
            if d == "Q":
                end = pattern.find("\\E", i + 2)
                if end < 0:
                    return None
                i = end + 2
                continue
            if d and d in "123456789":
                if d <= "7" and pattern[i + 2 : i + 3] in tuple("01234567"):
                    i += 3  # an octal escape such as \12
                    continue
                return f"back-reference `\\{d}` is not supported by {_ENGINE}"
            if d == "k" or (d == "g" and pattern[i + 2 : i + 3] in ("{", "<", "'", "-")):
                return f"named back-reference `\\{d}` is not supported by {_ENGINE}"
            if d == "g" and pattern[i + 2 : i + 3].isdigit():
                return f"back-reference `\\g` is not supported by {_ENGINE}"
            if d == "C":
                return "`\\C` (match a single byte) is not accepted by Istio"
            if d == "Z":
                return f"`\\Z` is not supported by {_ENGINE}: use `\\z` or `$`"
            if d in ("p", "P", "x") and pattern[i + 2 : i + 3] == "{":
                end = pattern.find("}", i + 3)
                i = n if end < 0 else end + 1
                continue
            i += 2
            continue
        if c == "[":
            j = i + 1
            if pattern[j : j + 1] == "^":
                j += 1
            if pattern[j : j + 1] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                if pattern[j] == "\\":
                    j += 2
                elif pattern.startswith("[:", j):
                    end = pattern.find(":]", j + 2)
                    j = j + 1 if end < 0 else end + 2
                else:
                    j += 1
            i, atom = j + 1, True
            continue
        if c == "(" and pattern.startswith("?", i + 1):
            rest = pattern[i + 2 : i + 4]
            for start, what in (
                ("=", "look-ahead `(?=`"),
                ("!", "negative look-ahead `(?!`"),
                ("<=", "look-behind `(?<=`"),
                ("<!", "negative look-behind `(?<!`"),
                (">", "atomic group `(?>`"),
                ("P=", "named back-reference `(?P=`"),
                ("P>", "recursion `(?P>`"),
                ("&", "recursion `(?&`"),
                ("R", "recursion `(?R)`"),
                ("(", "conditional `(?(`"),
                ("#", "comment `(?#`"),
                ("|", "branch reset `(?|`"),
            ):
                if rest.startswith(start):
                    return f"{what} is not supported by {_ENGINE}"
            if rest[:1].isdigit() or (rest[:1] in ("+", "-") and rest[1:2].isdigit()):
                return f"recursion `(?{rest[:1]}` is not supported by {_ENGINE}"
            end = pattern.find(")", i + 2)
            colon = pattern.find(":", i + 2)
            if end >= 0 and (colon < 0 or end < colon):
                i, atom = end + 1, True  # flags such as (?i): be lenient about what follows
            else:
                i, atom = i + 2, False
            continue
        atom = c not in "(|"
        i += 1
    return None


def check_regex(pattern: object) -> str | None:
    """A regular expression as Envoy runs it: RE2 syntax, at most 1024 characters.

    Look-around, back-references, possessive quantifiers and the like are reported by name
    ("look-ahead `(?=` is not supported by RE2, which Envoy uses"); anything else RE2 rejects
    is reported with RE2's own explanation. ``\\C`` is reported too: RE2 accepts it, Istio
    does not.

    RE2 itself (the ``google-re2`` package, imported on first use) decides. Without it the check
    falls back to a conservative scan in Python: it reports only the constructs named above and
    the length limit, and accepts everything else, including a few patterns RE2 would reject
    (such as unbalanced parentheses). :func:`regex_engine` tells which is in use.
    """
    if not isinstance(pattern, str):
        return None
    return _check_regex(pattern)


@functools.lru_cache(maxsize=4096)
def _check_regex(pattern: str) -> str | None:
    size = len(pattern) if pattern.isascii() else len(pattern.encode("utf-8", "surrogatepass"))
    if size > MAX_REGEX_LENGTH:
        return (
            f"the regex is {size} bytes long; Istio allows at most {MAX_REGEX_LENGTH} "
            "(Envoy limits the size of compiled regexes)"
        )
    re2 = _re2()
    if re2:
        try:
            re2.compile(pattern, _RE2_OPTIONS)
        except Exception as err:  # re2.error, or UnicodeEncodeError for lone surrogates
            unsupported = _unsupported(pattern)
            if unsupported:
                return f"{_q(pattern)}: {unsupported}"
            reason = err.args[0] if err.args else err
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            return f"{_q(pattern)} is not a valid RE2 regular expression: {reason}"
        if "\\C" not in pattern:
            return None
    unsupported = _unsupported(pattern)
    return f"{_q(pattern)}: {unsupported}" if unsupported else None


def check_string_match(
    obj: object, *, allow_empty_prefix: bool = False, allow_star_regex: bool = False
) -> list[tuple[Where, str]]:
    """A StringMatch (``exact`` / ``prefix`` / ``regex``): only one of the three, no empty
    ``prefix`` (except where ``allow_empty_prefix``: HTTP ``match[].uri``), no empty ``regex``,
    and a ``regex`` RE2 accepts (:func:`check_regex`). ``allow_star_regex`` is for
    ``withoutHeaders``, where ``regex: "*"`` means "the header is present"."""
    if type(obj) is not dict and not isinstance(obj, Mapping):
        return []
    out: list[tuple[Where, str]] = []
    given = [k for k in ("exact", "prefix", "regex") if obj.get(k) is not None]
    if len(given) > 1:
        out.append(
            (
                (given[1],),
                "set only one of exact, prefix or regex; this sets " + " and ".join(given),
            )
        )
    if obj.get("prefix") == "" and not allow_empty_prefix:
        out.append(
            (
                ("prefix",),
                "an empty prefix is not allowed here: give a prefix, or remove this match",
            )
        )
    regex = obj.get("regex")
    if isinstance(regex, str) and not (allow_star_regex and regex == "*"):
        if regex == "":
            out.append(
                (("regex",), "an empty regex is not allowed: give a pattern, or remove this match")
            )
        else:
            problem = check_regex(regex)
            if problem:
                out.append((("regex",), problem))
    return out


# --------------------------------------------------------------------------------------------
# HTTP header names and values

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~A-Za-z0-9]+")
_STRICT_NAME = re.compile(r"[-_A-Za-z0-9]+")
_PSEUDO_HEADERS = frozenset((":method", ":scheme", ":authority", ":path", ":status"))
_JWT_CLAIM = "@request.auth.claims"
_TOKEN_RULE = "use letters, digits and ! # $ % & ' * + - . ^ _ ` | ~"


def _equal_fold(value: str, target: str) -> bool:
    """Case-insensitive equality with a lower-case ASCII ``target``, as Unicode simple case
    folding has it (so the long s 'ſ' equals 's' and the Kelvin sign equals 'k')."""
    return len(value) == len(target) and value.lower().replace("ſ", "s") == target


def is_jwt_claim(name: str) -> bool:
    """A JWT-claim routing key: ``@request.auth.claims.a.b`` or ``@request.auth.claims[a][b]``."""
    if name[: len(_JWT_CLAIM)].lower() != _JWT_CLAIM:
        return False
    rest = name[len(_JWT_CLAIM) :]
    return (rest[:1] == "." and len(rest) > 1) or (
        rest[:1] == "[" and rest[-1:] == "]" and len(rest) > 2
    )


def check_header_name_for_match(name: object) -> str | None:
    """A header name to match on (``match[].headers``, ``withoutHeaders``): an HTTP token, one
    of the pseudo-headers :method, :scheme, :authority, :path, :status, or a JWT claim such as
    ``@request.auth.claims.group`` or ``@request.auth.claims[group]``."""
    if not isinstance(name, str):
        return None
    if not name:
        return "a header name may not be empty"
    if name in _PSEUDO_HEADERS or _TOKEN.fullmatch(name) or is_jwt_claim(name):
        return None
    if name.startswith(":"):
        return (
            f"{_q(name)} is not a pseudo-header that can be matched: use :method, :scheme, "
            ":authority, :path or :status"
        )
    if name[: len(_JWT_CLAIM)].lower() == _JWT_CLAIM:
        return (
            f"{_q(name)} is not a valid JWT claim header: use @request.auth.claims.<claim> or "
            "@request.auth.claims[<claim>]"
        )
    return f"{_q(name)} is not a valid header name: {_TOKEN_RULE}"


def check_header_name_for_set(name: object) -> str | None:
    """A request header to set or add: not empty, and no pseudo-header other than
    ``:authority`` (setting ``host`` or ``:authority`` rewrites the authority)."""
    if not isinstance(name, str):
        return None
    if not name:
        return "a header name may not be empty"
    if name.startswith(":") and not _equal_fold(name, ":authority"):
        return (
            f"{_q(name)} cannot be set: headers starting with ':' are pseudo-headers, and only "
            ":authority may be set"
        )
    return None


def check_header_name_other(name: object) -> str | None:
    """A header to remove from requests, or to set, add or remove on responses: not empty, not
    ``host`` and not a pseudo-header (starting with ':')."""
    if not isinstance(name, str):
        return None
    if not name:
        return "a header name may not be empty"
    if _equal_fold(name, "host"):
        return (
            f"{_q(name)} cannot be changed here: to change the authority, set host or "
            ":authority in headers.request.set, or use rewrite.authority"
        )
    if name.startswith(":"):
        return f"{_q(name)} cannot be changed: headers starting with ':' are pseudo-headers"
    return None


def check_header_name_cors(name: object) -> str | None:
    """A header in a CORS policy's allowHeaders / exposeHeaders: ``*`` or an HTTP token."""
    if not isinstance(name, str):
        return None
    if not name:
        return "a header name may not be empty"
    if name == "*" or _TOKEN.fullmatch(name):
        return None
    return f"{_q(name)} is not a valid header name: {_TOKEN_RULE}, or '*'"


def check_header_name_strict(name: object) -> str | None:
    """A header name of the stricter kind (RequestAuthentication ``outputClaimToHeaders``):
    letters, digits, '-' and '_' only."""
    if not isinstance(name, str):
        return None
    if not name:
        return "a header name may not be empty"
    if _STRICT_NAME.fullmatch(name):
        return None
    return f"{_q(name)} is not a valid header name here: use only letters, digits, '-' and '_'"


_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_NAMES = {"\n": "a line feed", "\r": "a carriage return", "\x00": "a NUL character"}


def _formatter_problem(value: str) -> str | None:
    """Checks the ``%VARIABLE%`` / ``%VARIABLE(args)%`` formatter syntax Envoy reads in header
    values, the way Envoy's own parser walks it; None if it is well formed."""
    literal, name, expect_array, expect_string, string, expect_comma, expect_paren, expect_pct = (
        range(8)
    )
    state = literal
    start = 0  # where the current %…% expression began
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if state == literal:
            if c == "%":
                if i + 1 == n:
                    return "it ends with a single '%': write '%%' for a literal percent sign"
                if value[i + 1] == "%":
                    i += 1
                else:
                    state, start = name, i
        elif state == name:
            if c == "%":
                state = literal
            elif c == "(":
                state = expect_array
        elif state == expect_array:
            if c == "[":
                state = expect_string
            elif c != " ":
                state = string
        elif state == expect_comma:
            if c == ",":
                state = expect_string
            elif c == "]":
                state = expect_paren
            elif c != " ":
                return f"in {_q(value[start : i + 1])}, expected ',' or ']' after an argument"
        elif state == expect_string:
            if c == '"':
                state = string
            elif c != " ":
                return f"in {_q(value[start : i + 1])}, expected '\"' to start an argument"
        elif state == string:
            if c == "\\":
                if i + 1 == n:
                    return "it ends with a backslash inside an argument"
                i += 1
            elif c == ")":
                state = expect_pct
            elif c == '"':
                state = expect_comma
        elif state == expect_paren:
            if c == ")":
                state = expect_pct
            elif c != " ":
                return f"in {_q(value[start : i + 1])}, expected ')' after the argument list"
        elif c == "%":  # expect_pct
            state = literal
        elif c != " ":
            return f"in {_q(value[start : i + 1])}, expected '%' to close the expression"
        i += 1
    if state != literal:
        return (
            f"{_q(value[start:])} is an unterminated %VARIABLE% expression: close it with '%', "
            "or write '%%' for a literal percent sign"
        )
    return None


def check_header_value(value: object) -> str | None:
    """A header value to set or add: no control characters (line breaks included), and
    well-formed Envoy ``%…%`` formatters (``%HOSTNAME%``, ``%REQ(x-user)%``; ``%%`` is a
    literal %)."""
    if not isinstance(value, str) or not value:
        return None
    m = _CONTROL.search(value)
    if m:
        char = m.group()
        what = _CONTROL_NAMES.get(char, f"the control character U+{ord(char):04X}")
        return f"header value {_q(value)} contains {what}, which HTTP does not allow"
    if "%" not in value:
        return None
    problem = _formatter_problem(value)
    return f"header value {_q(value)} is not valid: {problem}" if problem else None


# --------------------------------------------------------------------------------------------
# Percentages, destinations, unix sockets


def check_percentage(value: object) -> str | None:
    """A fractional percentage (fault injection, mirroring): 0, or from 0.0001 to 100."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and math.isnan(value):
        return "the percentage is not a number: use 0, or a value from 0.0001 to 100"
    if value < 0:
        return f"{value} is negative: use 0, or a value from 0.0001 to 100"
    if value > 100:
        return f"{value} is above 100"
    if 0 < value < 0.0001:
        return f"{value} is below the smallest percentage Envoy applies, 0.0001 (use 0 to turn this off)"
    return None


def check_destination(dest: object) -> list[tuple[Where, str]]:
    """A route or mirror ``destination``: a host (not ``*``; a wildcard prefix is allowed), an
    optional subset whose name is a DNS label, and an optional port whose number is 1-65535."""
    if type(dest) is not dict and not isinstance(dest, Mapping):
        return []
    out: list[tuple[Where, str]] = []
    host = dest.get("host")
    if host is None or host == "":
        where: Where = ("host",) if "host" in dest else ()
        out.append(
            (where, "a destination needs a host, e.g. reviews or reviews.shop.svc.cluster.local")
        )
    elif host == "*":
        out.append(
            (
                ("host",),
                "'*' is not a valid destination host: name one service, e.g. reviews "
                "or reviews.shop.svc.cluster.local",
            )
        )
    else:
        problem = check_wildcard_host(host)
        if problem:
            out.append((("host",), problem))
    subset = dest.get("subset")
    if isinstance(subset, str) and subset and not is_dns_label(subset):
        out.append(
            (("subset",), f"subset name {_q(subset)} is not valid: {_label_problem(subset)}")
        )
    port = dest.get("port")
    if port is not None and isinstance(port, Mapping):
        number = port.get("number")
        if number is None:
            out.append((("port",), "port.number is required when a port is given (1-65535)"))
        else:
            problem = check_port(number)
            if problem:
                out.append((("port", "number"), problem))
    return out


UNIX_PREFIX = "unix://"


def check_unix_address(text: object) -> str | None:
    """A unix domain socket address, with or without ``unix://``: an absolute path (``/…``) or
    an abstract socket name (``@…``), not ending in '/'."""
    if not isinstance(text, str):
        return None
    path = text[len(UNIX_PREFIX) :] if text.startswith(UNIX_PREFIX) else text
    if not path:
        return (
            "the unix socket path is empty: use an absolute path such as unix:///var/run/app.sock"
        )
    if path[0] not in "/@":
        return (
            f"{_q(path)} is not an absolute path: a unix socket is an absolute path (starting "
            "with /) or an abstract socket name (starting with @)"
        )
    if path.endswith("/"):
        return f"{_q(path)} ends with '/', so it names a directory, not a socket"
    return None


# The shared-grammar rows of the rules catalogue (shared/reference/rules-catalogue.md, section 2)
# and the function here that implements each; every per-kind rule that validates such a field
# calls it. docs/rules.md lists this table.
CATALOGUE: dict[str, str] = {
    "g-dur-min": "check_duration",
    "g-dur-ms": "check_duration",
    "g-dur-format": "check_duration",
    "g-port": "check_port",
    "g-fqdn": "check_fqdn",
    "g-wildhost": "check_wildcard_host",
    "g-partial-wildcard": "check_partial_wildcard",
    "g-nshost-form": "check_ns_slash_host",
    "g-nshost-short": "check_ns_slash_host",
    "g-ip": "check_ip",
    "g-cidr": "check_cidr",
    "g-dns-label": "check_dns_label",
    "g-sel-no-labels": "empty_selector_warning",
    "g-netsel-empty-key": "check_workload_selector",
    "g-netsel-wildcard": "check_workload_selector",
    "g-netsel-no-labels": "empty_selector_warning",
    "g-tref-oneof": "check_target_refs",
    "g-tref-namespace": "check_target_refs",
    "g-tref-kind": "check_target_refs",
    "g-export-dup": "check_export_to",
    "g-export-dot-own": "check_export_to",
    "g-export-none": "check_export_to",
    "g-export-entry": "check_export_to",
    "g-export-star-mix": "check_export_to",
    "g-export-none-mix": "check_export_to",
    "g-sm-prefix-empty": "check_string_match",
    "g-sm-regex-empty": "check_string_match",
    "g-sm-regex-len": "check_regex",
    "g-sm-regex-re2": "check_regex",
    "g-hdr-match-name": "check_header_name_for_match",
    "g-hdr-req-set-name": "check_header_name_for_set",
    "g-hdr-other-name": "check_header_name_other",
    "g-hdr-value-ctl": "check_header_value",
    "g-hdr-value-fmt": "check_header_value",
    "g-pct": "check_percentage",
    "g-dest-host-star": "check_destination",
    "g-dest-host": "check_destination",
    "g-dest-subset": "check_destination",
    "g-dest-port": "check_destination",
    "g-uds": "check_unix_address",
    "g-proto": "check_protocol",
}
