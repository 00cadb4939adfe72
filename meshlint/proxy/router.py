"""The Plan's routes, compiled: which virtual host a Host reaches, and which route a request
takes, with Envoy's rules (the exact domain first, then the longest suffix wildcard, then the
longest prefix wildcard, then ``*``; the first route that matches).

``meshlint route`` answers the same question with :mod:`meshlint.translate.simulate`; the
tests hold the two to the same answers on generated requests.
"""

from __future__ import annotations

from collections.abc import Callable

from meshlint.proxy.http import Request
from meshlint.translate.plan import (
    Destination,
    HeaderMatch,
    Plan,
    Route,
    RouteMatch,
    StringMatch,
    VirtualHost,
    single_destination_edits,
)

Check = Callable[[Request], bool]


def string_check(m: StringMatch) -> Callable[[str | None], bool]:
    """A compiled StringMatch: the same verdicts as :meth:`StringMatch.matches`."""
    kind, value = m.kind, m.value
    if kind == "present":
        return lambda text: text is not None
    if kind == "regex":
        import re2

        pattern = re2.compile(value)
        return lambda text: text is not None and pattern.fullmatch(text) is not None
    if m.ignore_case:
        low = value.lower()
        if kind == "exact":
            return lambda text: text is not None and text.lower() == low
        if kind == "prefix":
            return lambda text: text is not None and text.lower().startswith(low)
        return lambda text: text is not None and text.lower().endswith(low)
    if kind == "exact":
        return lambda text: text == value
    if kind == "prefix":
        return lambda text: text is not None and text.startswith(value)
    return lambda text: text is not None and text.endswith(value)


def _path_check(m: RouteMatch) -> Check | None:
    p = m.path
    if p is None or (p.kind == "prefix" and p.value == "/" and m.case_sensitive):
        return None
    value = p.value
    if p.kind == "regex":
        import re2

        pattern = re2.compile(value)
        return lambda req: pattern.fullmatch(req.path) is not None
    if not m.case_sensitive:
        low = value.lower()
        if p.kind == "exact":
            return lambda req: req.path.lower() == low
        return lambda req: req.path.lower().startswith(low)
    if p.kind == "exact":
        return lambda req: req.path == value
    return lambda req: req.path.startswith(value)


def _header_check(h: HeaderMatch) -> Check:
    name, invert = h.name, h.invert
    if h.match.kind == "present":
        if invert:
            return lambda req: req.header(name) is None
        return lambda req: req.header(name) is not None
    check = string_check(h.match)
    if invert:  # withoutHeaders: a missing header reads as empty (treat_missing_header_as_empty)
        return lambda req: not check(v if (v := req.header(name)) is not None else "")
    return lambda req: check(req.header(name))


def _query_check(name: str, m: StringMatch) -> Check:
    if m.kind == "present":
        return lambda req: name in req.query_params()
    check = string_check(m)
    return lambda req: check(req.query_params().get(name))


def compile_match(m: RouteMatch) -> Check | None:
    """One function for the whole match (None: it takes every request)."""
    checks: list[Check] = []
    path = _path_check(m)
    if path is not None:
        checks.append(path)
    checks.extend(_header_check(h) for h in m.headers)
    checks.extend(_query_check(n, q) for n, q in m.query)
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda req: all(c(req) for c in checks)


class CompiledRoute:
    __slots__ = ("check", "cors", "destinations", "edits", "route", "total", "weights")

    def __init__(self, route: Route) -> None:
        self.route = route
        # a single destination's header edits and authority, merged into the route's once
        self.edits = single_destination_edits(route) if len(route.destinations) == 1 else None
        self.cors: object | None = None  # the compiled CORS policy, made on first use
        self.check = compile_match(route.match)
        self.destinations: tuple[Destination, ...] = route.destinations
        self.total = sum(d.weight for d in route.destinations)
        weights, acc = [], 0
        for d in route.destinations:
            acc += d.weight
            weights.append(acc)
        self.weights = weights

    def pick(self, draw: Callable[[int], int]) -> Destination:
        """The destination of one request (weighted; ``draw(n)`` is uniform in [0, n))."""
        dests = self.destinations
        if len(dests) == 1 or self.total <= 0:
            return dests[0]
        x = draw(self.total)
        for d, upto in zip(dests, self.weights, strict=True):
            if x < upto:
                return d
        return dests[-1]  # pragma: no cover - x < total


class CompiledHost:
    __slots__ = ("routes", "vh")

    def __init__(self, vh: VirtualHost) -> None:
        self.vh = vh
        self.routes = [CompiledRoute(r) for r in vh.routes]

    def route(self, req: Request) -> CompiledRoute | None:
        for r in self.routes:
            if r.check is None or r.check(req):
                return r
        return None


class HostTable:
    """Virtual hosts by domain, looked up as Envoy does."""

    def __init__(self, hosts: list[VirtualHost]) -> None:
        self.exact: dict[str, CompiledHost] = {}
        self.suffixes: list[tuple[str, CompiledHost]] = []  # "*.example.com" → ".example.com"
        self.prefixes: list[tuple[str, CompiledHost]] = []  # "foo.*" → "foo."
        self.default: CompiledHost | None = None
        self._cache: dict[str, CompiledHost | None] = {}
        for vh in hosts:
            compiled = CompiledHost(vh)
            for d in vh.domains:
                d = d.lower()
                if d == "*":
                    self.default = self.default or compiled
                elif d.startswith("*"):
                    self.suffixes.append((d[1:], compiled))
                elif d.endswith("*"):
                    self.prefixes.append((d[:-1], compiled))
                else:
                    self.exact.setdefault(d, compiled)
        # the longest wildcard first; for equal lengths, the first declared
        self.suffixes.sort(key=lambda x: -len(x[0]))
        self.prefixes.sort(key=lambda x: -len(x[0]))

    def lookup(self, host: str) -> CompiledHost | None:
        found = self._cache.get(host, self)
        if found is not self:
            return found  # type: ignore[return-value]
        found = self._lookup(host)
        if len(self._cache) < 65536:
            self._cache[host] = found
        return found

    def _lookup(self, host: str) -> CompiledHost | None:
        hit = self.exact.get(host)
        if hit is not None:
            return hit
        for suffix, compiled in self.suffixes:
            if host.endswith(suffix) and len(host) > len(suffix):
                return compiled
        for prefix, compiled in self.prefixes:
            if host.startswith(prefix):
                return compiled
        return self.default


class Router:
    """The route tables of one Plan, by port."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.by_port: dict[int, list[HostTable]] = {}
        self.by_name: dict[str, HostTable] = {}
        for table in plan.route_tables:
            compiled = HostTable(table.virtual_hosts)
            self.by_port.setdefault(table.port, []).append(compiled)
            self.by_name[table.name] = compiled

    def host(self, port: int, host: str) -> CompiledHost | None:
        """The virtual host for a Host on a port (the first table of the port that has one)."""
        for table in self.by_port.get(port, ()):
            found = table.lookup(host)
            if found is not None:
                return found
        return None

    def table(self, name: str) -> HostTable | None:
        return self.by_name.get(name)
