"""Sidecar egress listeners: the catch-all, their ports, binds and hosts.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateSidecar``,
``validateSidecarEgressPortBindAndCaptureMode``) and ``pkg/config/validation/agent/validation.go``
(``ValidateNamespaceSlashWildcardHostname``). Shapes, enums and required fields are the schema
stage's (ML206-ML209) and are not repeated here.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    UNIX_PREFIX,
    check_ip,
    check_ns_slash_host,
    check_port,
    check_unix_address,
)
from meshlint.rules.lib.listeners import (
    listeners,
    sidecar_port_number,
    sidecar_port_problems,
)

KINDS = {"Sidecar"}
_SC = "webhook: pkg/config/validation/validation.go (ValidateSidecar)"

_HEAD = """
    apiVersion: networking.istio.io/v1
    kind: Sidecar
    metadata:
      name: ratings
      namespace: shop
    spec:
"""

# --------------------------------------------------------------------------------------------
# Egress listeners


@rule(
    "ML667",
    "sidecar-misplaced-catch-all-egress",
    Severity.ERROR,
    summary="A Sidecar egress listener without a port is not the last one, or there is more "
    "than one.",
    rationale="""
        An egress listener without `port` is the catch-all for every port the other listeners
        do not name. Istio's webhook accepts only one, and only as the last listener.
    """,
    bad=_HEAD
    + """
      egress:
      - hosts: ["./*"]
      - port: {number: 9080, name: http, protocol: HTTP}
        hosts: ["./reviews.shop.svc.cluster.local"]
    """,
    good=_HEAD
    + """
      egress:
      - port: {number: 9080, name: http, protocol: HTTP}
        hosts: ["./reviews.shop.svc.cluster.local"]
      - hosts: ["./*"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC} — 'sidecar: the egress listener with empty port should be the last listener "
    "in the list', 'sidecar: egress can have only one listener with empty port'",
    catalogue=("sc-eg-catchall-last", "sc-eg-catchall-dup"),
)
def sidecar_misplaced_catch_all_egress(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    egress = spec.get("egress")
    if not isinstance(egress, list):
        return
    found = False
    last = len(egress) - 1
    for i, listener in enumerate(egress):
        if not isinstance(listener, dict) or listener.get("port") is not None:
            continue
        path: FieldPath = ("spec", "egress", i)
        if found:
            yield Finding(
                path,
                "a Sidecar may have only one egress listener without a port (the catch-all)",
            )
        elif i == last:
            found = True
        else:
            yield Finding(
                path,
                "the egress listener without a port is the catch-all and must be the last "
                "listener: move it to the end",
            )


@rule(
    "ML668",
    "sidecar-invalid-egress-listener",
    Severity.ERROR,
    summary="A Sidecar egress listener has an invalid port, bind or capture mode, or repeats "
    "another listener's port or socket.",
    rationale="""
        An egress listener with a port listens on that number (1-65535) and optionally one IP
        address (`bind`); with port number 0 (or none) it is a unix socket listener, which
        needs `bind: unix://<path>` and captureMode DEFAULT or NONE. Port names must be DNS
        labels, protocols known to Istio, no targetPort, and each port and socket used once.
        Istio's webhook rejects anything else.
    """,
    bad=_HEAD
    + """
      egress:
      - port: {number: 9080, name: http, protocol: HTTP}
        hosts: ["./reviews.shop.svc.cluster.local"]
      - port: {number: 9080, name: http-2, protocol: HTTP}
        bind: localhost
        hosts: ["./ratings.shop.svc.cluster.local"]
      - port: {name: local, protocol: HTTP}
        hosts: ["./details.shop.svc.cluster.local"]
    """,
    good=_HEAD
    + """
      egress:
      - port: {number: 9080, name: http, protocol: HTTP}
        hosts: ["./reviews.shop.svc.cluster.local"]
      - port: {number: 9081, name: http-2, protocol: HTTP}
        bind: 127.0.0.1
        hosts: ["./ratings.shop.svc.cluster.local"]
      - port: {number: 0, name: local, protocol: HTTP}
        bind: unix:///var/run/details.sock
        captureMode: NONE
        hosts: ["./details.shop.svc.cluster.local"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC}, validateSidecarEgressPortBindAndCaptureMode — 'sidecar: ports with 0 value "
    "must have a unix domain socket bind address', 'captureMode must be DEFAULT/NONE for unix "
    "domain socket listeners', 'unix domain socket values for listeners must be unique', "
    "'ports on IP bound listeners must be unique', ValidatePort, ValidateIPAddress",
    catalogue=(
        "sc-eg-target-port",
        "sc-eg-port-name",
        "sc-eg-port-proto",
        "sc-eg-port-number",
        "sc-eg-uds-bind",
        "sc-eg-uds-path",
        "sc-eg-uds-capture",
        "sc-eg-bind-ip",
        "sc-eg-uds-dup",
        "sc-eg-port-dup",
    ),
)
def sidecar_invalid_egress_listener(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    ports: dict[int, int] = {}
    sockets: dict[str, int] = {}
    for i, listener in listeners(spec, "egress"):
        port = listener.get("port")
        if not isinstance(port, dict):
            continue
        base: FieldPath = ("spec", "egress", i)
        yield from sidecar_port_problems(port, (*base, "port"))
        number = sidecar_port_number(port)
        if number is None:
            continue
        bind = listener.get("bind")
        bind = bind if isinstance(bind, str) else ""
        if number == 0:
            if not bind.startswith(UNIX_PREFIX):
                where: FieldPath = (*base, "bind") if bind else (*base, "port")
                yield Finding(
                    where,
                    "a listener with port number 0 (or none) listens on a unix socket and needs "
                    "bind: unix://<path>; or give the port a number",
                    key=not bind,
                )
            else:
                problem = check_unix_address(bind)
                if problem:
                    yield Finding((*base, "bind"), problem)
            capture = listener.get("captureMode")
            if capture not in (None, "DEFAULT", "NONE") and isinstance(capture, str):
                yield Finding(
                    (*base, "captureMode"),
                    f"captureMode {capture} is not possible on a unix socket listener: use "
                    "DEFAULT or NONE",
                )
            if bind in sockets:
                yield Finding(
                    (*base, "bind") if bind else (*base, "port"),
                    f"egress[{sockets[bind]}] already listens on "
                    + (f"'{bind}'" if bind else "a unix socket without bind")
                    + ": each unix socket listener needs its own bind",
                    key=not bind,
                )
            else:
                sockets[bind] = i
            continue
        problem = check_port(number)
        if problem:
            yield Finding((*base, "port", "number"), problem)
        elif number in ports:
            yield Finding(
                (*base, "port", "number"),
                f"port {number} is already used by egress[{ports[number]}]: each egress "
                "listener needs its own port",
            )
        else:
            ports[number] = i
        if bind.startswith(UNIX_PREFIX):
            yield Finding(
                (*base, "bind"),
                f"a unix socket bind needs port number 0, not {number}: set number: 0, or bind "
                "an IP address",
            )
        elif bind:
            problem = check_ip(bind)
            if problem:
                yield Finding(
                    (*base, "bind"),
                    f"{problem}: bind takes an IP address (or unix://<path> with port number 0)",
                )


@rule(
    "ML669",
    "sidecar-invalid-egress-host",
    Severity.ERROR,
    summary="A Sidecar egress listener has no hosts, or a host that is not `namespace/dnsName`.",
    rationale="""
        Egress hosts name what the workload may reach, always as `namespace/dnsName`: the
        namespace is `*`, `.`, a namespace name, or `~` (none) before the host; the name is
        `*`, a fully qualified name or a leading wildcard such as `*.example.com`. Istio's
        webhook rejects a missing namespace, short names (`reviews`), partial wildcards and
        an empty list.
    """,
    bad=_HEAD
    + """
      egress:
      - hosts: ["reviews.shop.svc.cluster.local", "./ratings", "istio-system/*"]
    """,
    good=_HEAD
    + """
      egress:
      - hosts: ["./reviews.shop.svc.cluster.local", "./*", "istio-system/*"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC} — 'sidecar: egress listener must contain at least one host'; "
    "pkg/config/validation/agent/validation.go (ValidateNamespaceSlashWildcardHostname)",
    catalogue=(
        "sc-eg-hosts-empty",
        "sc-eg-host-form",
        "sc-eg-host-ns",
        "sc-eg-host-short",
        "sc-eg-host-syntax",
        "sc-eg-host-partial",
    ),
)
def sidecar_invalid_egress_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, listener in listeners(spec, "egress"):
        hosts = listener.get("hosts")
        if not isinstance(hosts, list):
            continue
        if not hosts:
            yield Finding(
                ("spec", "egress", i, "hosts"),
                "an egress listener needs at least one host, e.g. ./* or istio-system/*",
            )
        for j, host in enumerate(hosts):
            problem = check_ns_slash_host(host, require_slash=True)
            if problem:
                yield Finding(("spec", "egress", i, "hosts", j), problem)


@rule(
    "ML670",
    "sidecar-duplicate-egress-host",
    Severity.WARNING,
    summary="A Sidecar egress listener lists a host twice, a host its `ns/*` already covers, "
    "or `*/*` beside other hosts.",
    rationale="""
        Within one egress listener, `ns/*` already imports every host of the namespace and
        `*/*` every host of the mesh, so further entries add nothing and usually show a
        misunderstanding of the import. Istio admits them with a warning.
    """,
    bad=_HEAD
    + """
      egress:
      - hosts: ["./*", "./reviews.shop.svc.cluster.local", "istio-system/*"]
    """,
    good=_HEAD
    + """
      egress:
      - hosts: ["./*", "istio-system/*"]
    """,
    kinds=KINDS,
    istio="IST0133",
    source=f"{_SC} (warning) — 'duplicated egress host', '`*/*` host select all resources, no "
    "other hosts can be added'",
    catalogue=("sc-eg-host-dup", "sc-eg-host-star-star"),
)
def sidecar_duplicate_egress_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    own = res.namespace or "."
    for i, listener in listeners(spec, "egress"):
        hosts = listener.get("hosts")
        if not isinstance(hosts, list):
            continue
        imported: dict[str, set[str]] = {}
        wildcard: dict[str, str] = {}  # namespace -> the `ns/*` entry that imports it all
        star_star: int | None = None
        for j, host in enumerate(hosts):
            if not isinstance(host, str):
                continue
            ns, slash, name = host.partition("/")
            if not slash or ns.startswith("~"):
                continue
            ns = own if ns == "." else ns
            names = imported.setdefault(ns, set())
            path: FieldPath = ("spec", "egress", i, "hosts", j)
            if name != "*":
                if name in names:
                    yield Finding(path, f"'{host}' is already listed in this listener")
                elif "*" in names:
                    yield Finding(
                        path,
                        f"'{host}' is already imported by '{wildcard[ns]}' in this listener",
                    )
            elif names:
                yield Finding(
                    path,
                    f"'{host}' imports every host of the namespace: the entries for that "
                    "namespace listed before it are redundant",
                )
            names.add(name)
            if name == "*":
                wildcard.setdefault(ns, host)
            if ns == "*" and name == "*" and star_star is None:
                star_star = j
        if star_star is not None and len(imported) > 1:
            yield Finding(
                ("spec", "egress", i, "hosts", star_star),
                "'*/*' already imports every host of the mesh: the other hosts of this listener "
                "add nothing",
            )
