"""What the cross-resource rules share: where Istio's and Kiali's checks live (for ``source``),
the destinations of a VirtualService, and small tests of names and hosts."""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import Any, TypeGuard

from meshlint.diagnostics import FieldPath
from meshlint.mesh import MESH_GATEWAY, MeshIndex, Record, export_scope
from meshlint.rules.lib.grammar import check_fqdn, is_ip
from meshlint.rules.lib.guards import items
from meshlint.suggest import did_you_mean

__all__ = ["did_you_mean"]


# Up to so many records (copies of one resource, say) are looked at directly; beyond, an
# answer about all of them is worked out once per key.
FEW = 8
AN = "istio/istio pkg/config/analysis/analyzers"  # where istioctl analyze's checks live
KIALI = "kiali/kiali business/checkers"


def destinations(spec: dict[str, Any]) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    """Every route and mirror destination of a VirtualService: (path of it, the mapping)."""
    return iter(_destination_list(spec))


def _destination_list(spec: dict[str, Any]) -> list[tuple[FieldPath, dict[str, Any]]]:
    found: list[tuple[FieldPath, dict[str, Any]]] = []
    for section in ("http", "tcp", "tls"):
        route_rules = spec.get(section)
        if not isinstance(route_rules, list):
            continue
        for i, route_rule in enumerate(route_rules):
            if not isinstance(route_rule, dict):
                continue
            entries = route_rule.get("route")
            if isinstance(entries, list) and entries:
                _destinations_of(found, entries, _entry_paths(section, i, "route", len(entries)))
            if section != "http":
                continue
            mirror = route_rule.get("mirror")
            if isinstance(mirror, dict):
                found.append((("spec", section, i, "mirror"), mirror))
            entries = route_rule.get("mirrors")
            if isinstance(entries, list) and entries:
                _destinations_of(found, entries, _entry_paths(section, i, "mirrors", len(entries)))
    return found


def _destinations_of(
    found: list[tuple[FieldPath, dict[str, Any]]],
    entries: list[Any],
    paths: tuple[FieldPath, ...],
) -> None:
    """Add the destination of each entry of a `route` or `mirrors` list (``paths``: the path
    of each entry's destination)."""
    for where, entry in zip(paths, entries, strict=True):
        if isinstance(entry, dict):
            dest = entry.get("destination")
            if isinstance(dest, dict):
                found.append((where, dest))


def _entry_paths(section: str, i: int, field: str, count: int) -> tuple[FieldPath, ...]:
    """The paths of the destinations of the ``count`` entries of ``spec.<section>[i].<field>``:
    one tuple of them for every list of that place and length."""
    key = (section, i, field, count)
    found = _PATHS.get(key)
    if found is None:
        found = tuple(("spec", section, i, field, j, "destination") for j in range(count))
        if len(_PATHS) < _MANY:
            _PATHS[key] = found
    return found


# The paths of route destinations, by the place and length of their list (every VirtualService
# of a run has a spec.http[0].route[0].destination: thousands of routes share a few hundred
# paths).
_PATHS: dict[tuple[str, int, str, int], tuple[FieldPath, ...]] = {}
_MANY = 1 << 14


def _route_destinations(index: MeshIndex, vs: Record) -> list[tuple[FieldPath, dict[str, Any]]]:
    return _destination_list(vs.spec)


def route_destinations(index: MeshIndex, vs: Record) -> list[tuple[FieldPath, dict[str, Any]]]:
    """:func:`destinations` of a VirtualService of the run, listed once per run (several
    rules read them): the list is shared, to be read only."""
    return index.of_record(_route_destinations, vs)


def _host_destinations(index: MeshIndex, vs: Record) -> tuple[array[int], list[str]]:
    # (kept for every VirtualService of the run: positions in route_destinations and the
    # canonical hosts, not a tuple for each destination)
    ns = vs.effective_namespace
    where: array[int] = array("I")
    canonical: list[str] = []
    canonical_of = index.canonical
    last, resolved = "", ""  # (the destinations of a route often share their host)
    for i, (_, dest) in enumerate(route_destinations(index, vs)):
        host = dest.get("host")
        if isinstance(host, str) and host and "{{" not in host:  # literal(host)
            if host != last:
                last, resolved = host, canonical_of(host, ns)
            where.append(i)
            canonical.append(resolved)
    return where, canonical


def resolved_destinations(
    index: MeshIndex, vs: Record
) -> tuple[list[tuple[FieldPath, dict[str, Any]]], array[int], list[str]]:
    """The :func:`route_destinations` of a VirtualService of the run, the positions in them of
    the destinations whose host is :func:`literal`, and those hosts as
    :meth:`MeshIndex.canonical` reads them in the VirtualService's namespace: worked out once
    per run, shared, to be read only."""
    where, canonical = index.of_record(_host_destinations, vs)
    return route_destinations(index, vs), where, canonical


CLAIM_MARK = "@request.auth.claims"  # (lower case) where a header key names a JWT claim


def match_fields(index: MeshIndex, vs: Record) -> frozenset[str]:
    """The fields the HTTP route matches of a VirtualService write (`uri`, `gateways`, …),
    and :data:`CLAIM_MARK` when a key of their `headers` or `withoutHeaders` starts with it
    (in any case): what several rules look for before walking the matches, read once per
    run. The sets are shared, to be read only."""
    return index.of_record(_match_fields, vs)


def _match_fields(index: MeshIndex, vs: Record) -> frozenset[str]:
    found: set[str] = set()
    http = vs.spec.get("http")
    for route_rule in http if isinstance(http, list) else ():
        matches = route_rule.get("match") if isinstance(route_rule, dict) else None
        if not isinstance(matches, list):
            continue
        for match in matches:
            if not isinstance(match, dict):
                continue
            found.update(match)  # (keys that are no string are left out below)
            for field in ("headers", "withoutHeaders"):
                headers = match.get(field)
                if isinstance(headers, dict) and any(
                    isinstance(k, str) and k.lower().startswith(CLAIM_MARK) for k in headers
                ):
                    found.add(CLAIM_MARK)
    key = frozenset(k for k in found if isinstance(k, str))
    return _FIELD_SETS.setdefault(key, key) if len(_FIELD_SETS) < _MANY else key


# The sets match_fields gives, one of each (most VirtualServices match on the same fields).
_FIELD_SETS: dict[frozenset[str], frozenset[str]] = {}


def literal(value: Any) -> TypeGuard[str]:
    """A name to look up: a non-empty string, not an unrendered template (`{{ .Values.x }}`),
    which other rules report."""
    return isinstance(value, str) and value != "" and "{{" not in value


def defines_hosts(index: MeshIndex) -> bool:
    """Whether the run holds a Kubernetes Service or a ServiceEntry at all: then ML906 judges
    every destination host it cannot find."""
    return bool(index.by_kind.get("Service") or index.by_kind.get("ServiceEntry"))


def never_a_service(index: MeshIndex, canonical: str) -> bool:
    """Whether a destination host (as :meth:`MeshIndex.canonical` resolves it) can never name a
    Kubernetes Service: a well-formed dotted name that is no IP address, no cluster host and
    nothing under `.svc` (``api.example.com``, or a ``name.ns`` whose ``ns`` is no namespace of the run, which
    Istio takes as written). Only a ServiceEntry can define it. Worked out once per host."""
    return index.memo_by(_never_a_service, canonical)


def _never_a_service(index: MeshIndex, canonical: str) -> bool:
    if "." not in canonical or is_ip(canonical) or check_fqdn(canonical) is not None:
        return False  # a short name, an IP address, a wildcard or a malformed host (ML423)
    if index.cluster_namespace(canonical) is not None:
        return False
    return not (canonical.endswith(".svc") or ".svc." in canonical)


def judges_host(index: MeshIndex, canonical: str) -> bool:
    """Whether ML906 judges a destination host it cannot find: when the run defines hosts at
    all, or when the host can never be a Kubernetes Service (then even a run without any
    Service or ServiceEntry says something about it)."""
    return defines_hosts(index) or never_a_service(index, canonical)


def did_you_mean_service(index: MeshIndex, canonical: str) -> str:
    """The suggestion for a cluster host no Service has: the closest Service name of its
    namespace."""
    name, _, rest = canonical.partition(".")
    return index.memo_by(_service_suggestion, (name, rest.partition(".")[0]))


def _service_suggestion(index: MeshIndex, key: tuple[str, str]) -> str:
    """:func:`did_you_mean_service` for a name and namespace, once per pair; the namespace's
    Service names are gathered once (many copies of one Service have one name)."""
    name, namespace = key
    return did_you_mean(name, index.memo_by(_service_names, namespace))


def _service_names(index: MeshIndex, namespace: str) -> frozenset[str]:
    return frozenset(svc.name for svc in index.services_in(namespace))


def subsets_of(dr: Record) -> set[str]:
    return {
        s["name"]
        for _, s in items(dr.spec.get("subsets"))
        if isinstance(s, dict) and isinstance(s.get("name"), str)
    }


def destination_rule_host(dr: Record, index: MeshIndex) -> str | None:
    """The host a DestinationRule is indexed under, or None for a wildcard or a malformed
    host (as :attr:`MeshIndex.destination_rules` holds them)."""
    host = dr.spec.get("host")
    if not isinstance(host, str) or not host:
        return None
    key = index.canonical(host, dr.effective_namespace)
    return None if key.startswith("*") else key


def used_in(vs: Record) -> list[str]:
    """The namespaces whose proxies use a VirtualService: those its `exportTo` names (`.` is
    its own), or its own namespace when it is exported everywhere (or to none)."""
    scope = export_scope(vs.spec.get("exportTo"), vs.effective_namespace)
    return sorted(scope) if scope else [vs.effective_namespace]


def _used_by(index: MeshIndex, vs: Record) -> tuple[str, ...]:
    return tuple(used_in(vs))


def used_by(index: MeshIndex, vs: Record) -> tuple[str, ...]:
    """:func:`used_in` of a VirtualService of the run, worked out once per run."""
    return index.of_record(_used_by, vs)


def namespaces_text(names: list[str]) -> str:
    """`a`, or namespaces `a`, `b`, … (five at most)."""
    shown = ", ".join(f"`{n}`" for n in names[:5]) + (", …" if len(names) > 5 else "")
    return f"namespace {shown}" if len(names) == 1 else f"namespaces {shown}"


def mesh_bound(spec: dict[str, Any]) -> bool:
    """Whether a VirtualService applies to sidecars: no `gateways`, or `mesh` among them."""
    gateways = spec.get("gateways")
    if not isinstance(gateways, list) or not gateways:
        return True
    return MESH_GATEWAY in gateways
