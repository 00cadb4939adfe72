"""ML2xx: kinds, apiVersions and the shape of each resource against its typed model."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from meshlint.diagnostics import Replacement, Severity
from meshlint.models.registry import (
    BY_GROUP_KIND,
    ISTIO_GROUPS,
    KINDS,
    OUT_OF_SCOPE,
    REMOVED,
)
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.suggest import closest

_VS_HEAD = """
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata:
      name: reviews
      namespace: shop
"""


@rule(
    "ML201",
    "missing-api-version-or-kind",
    Severity.ERROR,
    catalogue=("gen-api-missing",),
    summary="A resource has no `apiVersion` or no `kind`.",
    rationale="""
        The API server needs both to know what the document is; `kubectl apply` stops at the
        first document that lacks one. Usually one of the two lines was lost in a copy or a
        merge conflict.
    """,
    bad="""
        kind: VirtualService  # expect: ML201@1 -
        metadata:
          name: reviews
        spec:
          hosts: [reviews]
          http:
          - route:
            - destination:
                host: reviews
    """,
    good=_VS_HEAD
    + """
    spec:
      hosts: [reviews]
      http:
      - route:
        - destination:
            host: reviews
    """,
)
def missing_api_version_or_kind(res: Resource) -> Iterable[Finding]:
    if res.api_version.strip() and res.kind.strip():
        return ()  # both written as strings that are not blank
    return _missing_api_version_or_kind(res)


def _missing_api_version_or_kind(res: Resource) -> Iterator[Finding]:
    data = res.data
    for key in ("apiVersion", "kind"):
        value = data.get(key)
        if key not in data:
            yield Finding((), f"the resource has no `{key}`", key=True)
        elif not isinstance(value, str) or not value.strip():
            yield Finding((key,), f"`{key}` must be a non-empty string")


def _kind_suggestion(group: str, kind: str) -> str | None:
    names = [k.kind for k in KINDS if k.group == group] + sorted(OUT_OF_SCOPE.get(group, ()))
    return closest(kind, names)


@rule(
    "ML202",
    "unknown-kind",
    Severity.ERROR,
    catalogue=("gen-api-unknown-kind",),
    summary="An Istio API group has no such kind.",
    rationale="""
        Kinds are case-sensitive: `Virtualservice` or `virtualService` under
        `networking.istio.io` is rejected with "no matches for kind". Kinds of other groups
        are outside meshlint's knowledge and are not reported.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: Virtualservice  # expect: ML202@7 kind
        metadata:
          name: reviews
        spec:
          hosts: [reviews]
          http:
          - route:
            - destination:
                host: reviews
    """,
    good=_VS_HEAD
    + """
    spec:
      hosts: [reviews]
      http:
      - route:
        - destination:
            host: reviews
    """,
)
def unknown_kind(res: Resource) -> Iterable[Finding]:
    if res.info is not None or not res.kind or res.group not in ISTIO_GROUPS:
        return ()  # a modelled kind, or none of Istio's groups
    if (res.group, res.kind) in BY_GROUP_KIND or res.kind in OUT_OF_SCOPE.get(res.group, ()):
        return ()
    suggestion = _kind_suggestion(res.group, res.kind)
    hint = f"; did you mean `{suggestion}`?" if suggestion else ""
    return (
        Finding(
            ("kind",),
            f"{res.group} has no kind `{res.kind}`{hint}",
            fix=f"kind: {suggestion}" if suggestion else None,
        ),
    )


@rule(
    "ML203",
    "unserved-api-version",
    Severity.ERROR,
    catalogue=("gen-api-unserved-version",),
    summary="The kind is not served in this apiVersion.",
    rationale="""
        Each Istio kind is served in a few versions only: networking kinds in v1, v1beta1 and
        v1alpha3, security kinds in v1 and v1beta1, Telemetry in v1 and v1alpha1. Any other
        version (`security.istio.io/v1alpha3`, `telemetry.istio.io/v1beta1`) is rejected.
    """,
    bad="""
        apiVersion: security.istio.io/v1alpha3  # expect: ML203@13 apiVersion
        kind: PeerAuthentication
        metadata:
          name: default
        spec:
          mtls:
            mode: STRICT
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
        spec:
          mtls:
            mode: STRICT
    """,
)
def unserved_api_version(res: Resource) -> Iterable[Finding]:
    info = res.info
    if info is None or res.version in info.versions:
        return ()
    served = ", ".join(info.api_version(v) for v in info.versions)
    return (
        Finding(
            ("apiVersion",),
            f"{res.kind} is not served as `{res.api_version}`; served: {served}",
            fix=f"apiVersion: {info.api_version()}",
        ),
    )


@rule(
    "ML204",
    "old-api-version",
    Severity.INFO,
    catalogue=("gen-api-old-version",),
    summary="A served but older apiVersion is used where `v1` exists.",
    rationale="""
        Istio's v1 APIs are the stable ones and the storage versions; v1beta1 and v1alpha3 are
        served for compatibility with identical schemas. Moving to v1 costs nothing and avoids
        the day the old versions stop being served.
    """,
    bad="""
        apiVersion: networking.istio.io/v1alpha3  # expect: ML204@13 apiVersion
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts: [reviews]
          http:
          - route:
            - destination:
                host: reviews
    """,
    good=_VS_HEAD
    + """
    spec:
      hosts: [reviews]
      http:
      - route:
        - destination:
            host: reviews
    """,
    fixable=True,
)
def old_api_version(res: Resource) -> Iterable[Finding]:
    info = res.info
    if info is None or res.version == info.preferred or not info.mesh:
        return ()
    if res.version not in info.versions:
        return ()  # ML203
    return (
        Finding(
            ("apiVersion",),
            f"`{res.api_version}` is an older version of {res.kind}; use `{info.api_version()}`",
            fix=Replacement("apiVersion", info.api_version()),
        ),
    )


@rule(
    "ML205",
    "removed-kind",
    Severity.ERROR,
    catalogue=("gen-api-removed-kind",),
    istio="IST0002",
    summary="The kind belongs to an Istio API that was removed.",
    rationale="""
        Istio removed the `rbac.istio.io`, `authentication.istio.io` and `config.istio.io`
        groups years ago; their CRDs are gone, so such manifests fail to apply, and where they
        still apply they do nothing.
    """,
    bad="""
        apiVersion: authentication.istio.io/v1alpha1  # expect: ML205@13 apiVersion
        kind: Policy
        metadata:
          name: default
        spec:
          peers:
          - mtls: {}
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
        spec:
          mtls:
            mode: STRICT
    """,
)
def removed_kind(res: Resource) -> Iterable[Finding]:
    reason = REMOVED.get(res.group)
    if not reason:
        return ()
    return (Finding(("apiVersion",), f"{res.kind} of {res.group}: {reason}"),)


# The four problems the typed models find. The schema stage of the engine reports them.
rule(
    "ML206",
    "unknown-field",
    Severity.ERROR,
    catalogue=("gen-unknown-field", "gen-toplevel-field"),
    scope="stage",
    summary="A field that the kind does not have.",
    rationale="""
        The API server silently drops fields it does not know (Istio's CRDs prune them), so a
        typo such as `retires` or `perTryTimout`, or a field one level too deep or too shallow,
        is accepted and then has no effect. `istioctl validate` rejects it; meshlint names the
        closest real field.
    """,
    bad=_VS_HEAD
    + """
    spec:
      hosts: [reviews]
      http:
      - route:
        - destination:
            host: reviews
        retires:  # expect: ML206@5 spec.http[0].retires
          attempts: 3
    """,
    good=_VS_HEAD
    + """
    spec:
      hosts: [reviews]
      http:
      - route:
        - destination:
            host: reviews
        retries:
          attempts: 3
    """,
)

rule(
    "ML207",
    "wrong-type",
    Severity.ERROR,
    catalogue=(
        "gen-type-mismatch",
        "gen-number-string",
        "vs-http-null",
        "vs-match-hdr-null",
        "vs-mirrors-null",
        "vs-route-null",
        "vs-tls-match-null",
        "vs-tcp-match-null",
        "dr-subset-null",
        "dr-pl-null",
        "gw-server-null",
        "se-port-null",
        "se-ep-null",
        "sc-in-null",
        "sc-eg-null",
        "ra-fromheaders-null",
        "ra-claim2hdr-null",
        "ap-custom-when-null",
        "ap-rule-null",
        "ap-from-null",
        "ap-to-null",
        "tm-tr-tag-null",
        "tm-mt-override-null",
        "tm-mt-tag-null",
    ),
    scope="stage",
    istio="IST0106",
    summary="A field holds a value of the wrong type.",
    rationale="""
        A string where a list is expected (`hosts: reviews`), a number where a string is
        expected, a quoted number where an integer is expected: the API server rejects the
        whole resource. The finding points at the field, not at the document.
    """,
    bad=_VS_HEAD
    + """
    spec:
      hosts: reviews  # expect: ML207@10 spec.hosts
    """,
    good=_VS_HEAD
    + """
    spec:
      hosts: [reviews]
      http:
      - route:
        - destination:
            host: reviews
    """,
)

rule(
    "ML208",
    "missing-required-field",
    Severity.ERROR,
    catalogue=(
        "gen-spec-missing",
        "se-spec-missing",
        "vs-mirrors-dest-missing",
        "vs-direct-status",
        "vs-route-dest-missing",
        "vs-dest-host-missing",
        "dr-host-missing",
        "dr-lb-warmup-dur-missing",
        "gw-port-missing",
        "se-port-required",
        "sc-in-port-missing",
    ),
    scope="stage",
    istio="IST0106",
    summary="A required field is missing.",
    rationale="""
        Some fields have no default: a DestinationRule without `host`, a route destination
        without `host`, a ServiceEntry without `hosts`. The API server rejects the resource.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:  # expect: ML208@1 spec.host
          subsets:
          - name: v1
            labels:
              version: v1
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:
          host: reviews
          subsets:
          - name: v1
            labels:
              version: v1
    """,
)

rule(
    "ML209",
    "invalid-value",
    Severity.ERROR,
    catalogue=(
        "gen-int-range",
        "g-sm-oneof",
        "g-tref-name",
        "g-tref-pattern",
        "g-tref-max",
        "g-sel-limits",
        "g-netsel-limits",
        "vs-match-oneof",
        "vs-cors-unmatched-enum",
        "vs-fault-abort-oneof",
        "vs-fault-delay-oneof",
        "vs-redirect-port-oneof",
        "vs-redirect-derive-enum",
        "vs-direct-body-oneof",
        "vs-direct-body-bytes",
        "dr-sel-limits",
        "dr-proxyproto-version",
        "dr-retrybudget-pct",
        "dr-retrybudget-min",
        "dr-pl-max",
        "dr-cp-h2-enum",
        "dr-cp-tcp-ka-probes",
        "dr-cp-int32",
        "dr-lb-oneof",
        "dr-lb-simple-enum",
        "dr-lb-ch-key-oneof",
        "dr-lb-ch-algo-oneof",
        "dr-lb-warmup-minpct",
        "dr-zone-minsize",
        "dr-od-codes",
        "dr-od-uint",
        "dr-tls-mode-enum",
        "gw-tls-mode-enum",
        "gw-tls-ver-enum",
        "gw-tls-list-size",
        "gw-tls-certs-gt2",
        "se-hosts-empty",
        "se-hosts-max",
        "se-addr-limits",
        "se-ports-max",
        "se-port-name-dup",
        "se-location-enum",
        "se-resolution-enum",
        "se-sel-limits",
        "se-ep-max",
        "se-ep-address-len",
        "se-ep-ports-max",
        "se-ep-lengths",
        "se-ep-weight",
        "se-dyn-location",
        "sc-sel-limits",
        "sc-in-capture-enum",
        "sc-eg-capture-enum",
        "sc-otp-dynamic-dns",
        "sc-otp-mode-enum",
        "pa-portlevel-empty",
        "pa-mode-enum",
        "pa-sel-limits",
        "ra-tref-name",
        "ra-tref-pattern",
        "ra-tref-max",
        "ra-sel-limits",
        "ra-rules-max",
        "ra-issuer-empty",
        "ra-audience-empty",
        "ra-jwksuri-length",
        "ra-fromheaders-name",
        "ra-fromparams-empty",
        "ra-fromcookies-empty",
        "ra-claim2hdr-empty",
        "ra-claim2hdr-name",
        "ra-sdc",
        "ra-presence-enum",
        "ap-tref-name",
        "ap-tref-pattern",
        "ap-tref-max",
        "ap-sel-limits",
        "ap-action-enum",
        "ap-rules-max",
        "tm-tref-name",
        "tm-tref-pattern",
        "tm-tref-max",
        "tm-sel-limits",
        "tm-provider-name",
        "tm-tr-sampling",
        "tm-tr-tag-oneof",
        "tm-tr-tag-literal",
        "tm-tr-tag-header",
        "tm-tr-tag-env",
        "tm-tr-tag-formatter",
        "tm-match-mode",
        "tm-mt-op-enum",
        "tm-mt-match-oneof",
        "tm-mt-custom-empty",
        "tm-mt-metric-enum",
    ),
    scope="stage",
    istio="IST0106",
    summary="A value is outside what the field accepts.",
    rationale="""
        The value has the right type but not an accepted value: an enum spelled wrong
        (`LEAST_CONNN`), a number out of range, a duration without a unit, two of the
        mutually exclusive `exact`, `prefix` and `regex` set at once.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:
          host: reviews
          trafficPolicy:
            loadBalancer:
              simple: FASTEST  # expect: ML209@15 spec.trafficPolicy.loadBalancer.simple
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:
          host: reviews
          trafficPolicy:
            loadBalancer:
              simple: LEAST_REQUEST
    """,
)
