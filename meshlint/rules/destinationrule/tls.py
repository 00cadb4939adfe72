"""Client TLS settings of a DestinationRule (``trafficPolicy.tls`` and its port-level and subset
copies): what Istio's webhook rejects, and what istioctl analyze warns about.

Facts: istio/istio ``pkg/config/validation/agent/validation.go`` (``ValidateTLS``),
``pilot/pkg/model/credentials/resource.go`` (``ParseResourceName``, for ``configmap://``) and
``pkg/config/analysis/analyzers/destinationrule/ca-certificates.go`` (IST0128, IST0129).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.destinationrule import AGENT, KINDS, dr, sections_of
from meshlint.rules.lib.guards import as_int, as_map
from meshlint.rules.lib.traffic import traffic_policies_of

_CONFIGMAP = "configmap://"
_CLIENT_MODES = ("SIMPLE", "MUTUAL")


def _nonempty(value: object) -> bool:
    return isinstance(value, str) and value != ""


@rule(
    "ML516",
    "invalid-client-tls",
    Severity.ERROR,
    summary="Client TLS with `mode: MUTUAL` has no client certificate or key, or a "
    "`credentialName` is combined with certificate files.",
    rationale="""
        With `mode: MUTUAL` the proxy presents a client certificate: give `credentialName`
        (a Secret holding it) or both `clientCertificate` and `privateKey` files. A
        `credentialName` with SIMPLE or MUTUAL replaces the certificate files, so it cannot be
        combined with `clientCertificate`, `privateKey`, `caCertificates` or `caCrl`. Istio's
        webhook rejects each of these.

        In 0.2 two problems of client TLS became rules of their own: `insecureSkipVerify`
        next to the settings it turns off (ML530) and malformed `configmap://` credentials
        (ML531).
    """,
    bad=dr(
        """
        host: api.example.com
        trafficPolicy:
          tls:
            mode: MUTUAL  # expect: ML516@13 spec.trafficPolicy.tls.mode
            clientCertificate: /etc/certs/client.pem
        """
    ),
    good=dr(
        """
        host: api.example.com
        trafficPolicy:
          tls:
            mode: MUTUAL
            clientCertificate: /etc/certs/client.pem
            privateKey: /etc/certs/client-key.pem
            caCertificates: /etc/certs/ca.pem
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{AGENT} (ValidateTLS) — 'client certificate required for mutual tls', 'private "
    "key required for mutual tls', 'cannot specify client certificates or CA certificate or CA "
    "CRL If credentialName is set'",
    catalogue=("dr-tls-cred-and-files", "dr-tls-mutual-cert", "dr-tls-mutual-key"),
    needs=("tls",),
)
def invalid_client_tls(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, tls, _ in sections_of(res, "tls"):
        mode = tls.get("mode")
        if mode in ("SIMPLE", "MUTUAL") and _nonempty(tls.get("credentialName")):
            files = [
                k
                for k in ("clientCertificate", "privateKey", "caCertificates", "caCrl")
                if _nonempty(tls.get(k))
            ]
            if files:
                yield Finding(
                    (*path, files[0]),
                    f"{' and '.join(files)} cannot be combined with credentialName, which "
                    "supplies the certificates: remove one or the other",
                )
        elif mode == "MUTUAL":
            for field in ("clientCertificate", "privateKey"):
                if not _nonempty(tls.get(field)):
                    yield Finding(
                        (*path, "mode"),
                        f"mode MUTUAL needs a {field} file (or a credentialName with the client "
                        "certificate and key)",
                    )


@rule(
    "ML530",
    "insecure-skip-verify-with-verification",
    Severity.ERROR,
    summary="`insecureSkipVerify: true` is set next to the CA certificates, subject alt names "
    "or (with SIMPLE) the credential that configure server verification.",
    rationale="""
        `insecureSkipVerify: true` tells the proxy not to verify the upstream server's
        certificate. `caCertificates` and `subjectAltNames` (and, with `mode: SIMPLE`, a
        `credentialName`, which then holds the CA) configure exactly that verification, so
        Istio's webhook rejects the combination: keep the verification settings and drop
        `insecureSkipVerify`, or the other way round.

        Until 0.2 this was part of ML516, whose code still selects, ignores and suppresses
        it.
    """,
    bad=dr(
        """
        host: api.example.com
        trafficPolicy:
          tls:
            mode: SIMPLE
            insecureSkipVerify: true  # expect: ML530@27 spec.trafficPolicy.tls.insecureSkipVerify
            subjectAltNames:
            - api.example.com
        """
    ),
    good=dr(
        """
        host: api.example.com
        trafficPolicy:
          tls:
            mode: SIMPLE
            subjectAltNames:
            - api.example.com
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{AGENT} (ValidateTLS) — 'cannot specify CaCertificates or … SubjectAltNames when "
    "InsecureSkipVerify is set true'",
    catalogue=("dr-tls-skipverify-simple", "dr-tls-skipverify-mutual"),
    aliases=("ML516",),
    needs=("insecureSkipVerify",),
)
def insecure_skip_verify_with_verification(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, tls, _ in sections_of(res, "tls"):
        mode = tls.get("mode")
        if tls.get("insecureSkipVerify") is not True or mode not in ("SIMPLE", "MUTUAL"):
            continue
        conflicting = [k for k in ("caCertificates",) if _nonempty(tls.get(k))]
        if mode == "SIMPLE" and _nonempty(tls.get("credentialName")):
            conflicting.append("credentialName")
        sans = tls.get("subjectAltNames")
        if isinstance(sans, list) and sans:
            conflicting.append("subjectAltNames")
        if conflicting:
            yield Finding(
                (*path, "insecureSkipVerify"),
                "insecureSkipVerify: true turns off server verification, which "
                f"{' and '.join(conflicting)} configure{'s' if len(conflicting) == 1 else ''}: "
                "remove one or the other",
            )


def _configmap_problem(credential: str, namespace: str | None) -> str | None:
    parts = credential[len(_CONFIGMAP) :].split("/")
    form = "use configmap://<namespace>/<name>"
    if len(parts) < 2:
        return f"'{credential}' names no namespace: {form}"
    if parts[0] == "":
        return f"'{credential}' has an empty namespace: {form}"
    if parts[1] == "":
        return f"'{credential}' has an empty name: {form}"
    if namespace is not None and parts[0] != namespace:
        return (
            f"'{credential}' is in namespace '{parts[0]}': a configmap:// credential must be "
            f"in the DestinationRule's own namespace '{namespace}'"
        )
    return None


@rule(
    "ML531",
    "invalid-configmap-credential",
    Severity.ERROR,
    summary="A `configmap://` credentialName lacks its namespace or name, or names another "
    "namespace.",
    rationale="""
        A `credentialName` of the form `configmap://<namespace>/<name>` takes the CA
        certificates from a ConfigMap. Istio's webhook rejects one without a namespace or a
        name, and one whose namespace is not the DestinationRule's own: a DestinationRule
        can only read ConfigMaps of its namespace.

        Until 0.2 this was part of ML516, whose code still selects, ignores and suppresses
        it.
    """,
    bad=dr(
        """
        host: api.example.com
        trafficPolicy:
          tls:
            mode: SIMPLE
            credentialName: configmap://istio-system/api-ca  # expect: ML531@23 spec.trafficPolicy.tls.credentialName
        """
    ),
    good=dr(
        """
        host: api.example.com
        trafficPolicy:
          tls:
            mode: SIMPLE
            credentialName: configmap://shop/api-ca
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{AGENT} (ValidateTLS) — 'invalid configmap:// credentialName'",
    catalogue=("dr-tls-cm-format", "dr-tls-cm-namespace"),
    aliases=("ML516",),
    needs=("credentialName",),
)
def invalid_configmap_credential(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, tls, _ in sections_of(res, "tls"):
        credential = tls.get("credentialName")
        if isinstance(credential, str) and credential.startswith(_CONFIGMAP):
            problem = _configmap_problem(credential, res.namespace)
            if problem:
                yield Finding((*path, "credentialName"), problem)


# --------------------------------------------------------------------------------------------
# Server verification (istioctl analyze: destinationrule.CaCertificateAnalyzer)

_CA_ANALYZER = (
    "istio/istio pkg/config/analysis/analyzers/destinationrule/ca-certificates.go "
    "(CaCertificateAnalyzer) and its testdata destinationrule-*.yaml"
)


def _unverified_mode(tls: dict[str, Any], selected: bool) -> str | None:
    """The mode of a client TLS block that leaves the server unverified, else None.

    Istio's analyzer: mode SIMPLE or MUTUAL with no `caCertificates`, unless a
    `credentialName` is given and the DestinationRule has a `workloadSelector` (the credential
    then holds the CA, which only gateways read). Two more say the server is verified or not
    meant to be: a `configmap://` credential, which holds nothing but a CA bundle for
    sidecars, and an explicit `insecureSkipVerify: true`.
    """
    mode = tls.get("mode")
    if mode not in ("SIMPLE", "MUTUAL"):
        return None
    ca = tls.get("caCertificates")
    if ca is not None and not isinstance(ca, str):
        return None  # a wrong type: the schema stage reports it
    if _nonempty(ca) or tls.get("insecureSkipVerify") is True:
        return None
    credential = tls.get("credentialName")
    if _nonempty(credential) and (selected or str(credential).startswith(_CONFIGMAP)):
        return None
    return str(mode)


def _no_verification(res: Resource, *, port_level: bool) -> Iterator[Finding]:
    """The findings on the `tls` block of each traffic policy (top level and subsets) or, with
    ``port_level``, of each of their port-level settings, that leaves the server unverified."""
    spec = res.spec_map
    if spec is None:
        return
    selected = spec.get("workloadSelector") is not None
    for path, tp in traffic_policies_of(res):
        if not port_level:
            tls = tp.get("tls")
            if isinstance(tls, dict) and tls.get("mode") in _CLIENT_MODES:
                mode = _unverified_mode(tls, selected)
                if mode is not None:
                    where = f"the traffic policy{_of_subset(spec, path)}"
                    yield _unverified(spec, (*path, "tls"), tls, mode, where)
            continue
        pls = tp.get("portLevelSettings")
        if not isinstance(pls, list):
            continue
        for j, pl in enumerate(pls):
            if not isinstance(pl, dict):
                continue
            tls = pl.get("tls")
            if not isinstance(tls, dict) or tls.get("mode") not in _CLIENT_MODES:
                continue
            mode = _unverified_mode(tls, selected)
            if mode is None:
                continue
            number = as_int(as_map(pl.get("port")).get("number"))
            port = f"port {number}" if number is not None else f"portLevelSettings[{j}]"
            where = f"{port}{_of_subset(spec, path)}"
            yield _unverified(spec, (*path, "portLevelSettings", j, "tls"), tls, mode, where)


def _of_subset(spec: dict[str, Any], path: FieldPath) -> str:
    """`` of subset NAME`` for the traffic policy of a named subset, else nothing."""
    subset = spec["subsets"][path[2]].get("name") if path[1] == "subsets" else None
    return f" of subset {subset}" if isinstance(subset, str) else ""


def _unverified(
    spec: dict[str, Any], path: FieldPath, tls: dict[str, Any], mode: str, where: str
) -> Finding:
    host = spec.get("host")
    shown = f" `{host}`" if isinstance(host, str) and host else ""
    given = _nonempty(tls.get("credentialName"))
    why = (
        " (its credentialName gives the CA only to a gateway, through a DestinationRule "
        "with a workloadSelector)"
        if given
        else ""
    )
    return Finding(
        (*path, "mode"),
        f"{where} has TLS mode {mode} but no caCertificates to verify the server of"
        f"{shown or ' the host'} with{why}: set caCertificates, or insecureSkipVerify: "
        "true if skipping verification is meant",
    )


_CA_BAD_TOP = dr(
    """
    host: db.example.com
    trafficPolicy:
      tls:
        mode: SIMPLE  # expect: ML532@13 spec.trafficPolicy.tls.mode
        sni: db.example.com
    """
)
_CA_GOOD_TOP = dr(
    """
    host: db.example.com
    trafficPolicy:
      tls:
        mode: SIMPLE
        sni: db.example.com
        caCertificates: /etc/certs/db-ca.pem
    """
)


@rule(
    "ML532",
    "client-tls-without-server-verification",
    Severity.WARNING,
    summary="A traffic policy's client TLS (SIMPLE or MUTUAL) names no CA certificates to "
    "verify the server with.",
    rationale="""
        With `tls.mode: SIMPLE` or `MUTUAL` the proxy opens TLS to the upstream server, and
        `caCertificates` says which CA that server's certificate must chain to. Without it
        nothing in the DestinationRule pins the server's identity: istioctl analyze warns
        (IST0128), and istiod leaves the proxy to its system trust store, which accepts any
        certificate a public CA signed for the name. Set `caCertificates`; on a gateway's
        DestinationRule (one with a `workloadSelector`) a `credentialName` whose Secret
        holds the CA does the same, and so does a `configmap://` credential (a CA bundle
        from a ConfigMap of the rule's namespace) anywhere. If verification is left out on
        purpose, say so with `insecureSkipVerify: true`. meshlint takes these two as the
        answer; istioctl analyze warns even then.

        Istio checks the top-level traffic policy; meshlint also checks each subset's
        traffic policy. Port-level settings are ML533 (IST0129).
    """,
    bad=_CA_BAD_TOP,
    good=_CA_GOOD_TOP,
    kinds=KINDS,
    istio="IST0128",
    source=f"{_CA_ANALYZER} — NoServerCertificateVerificationDestinationLevel: 'has TLS mode "
    "set to … but no caCertificates are set to validate server identity for host'",
    catalogue=("dr-tls-no-ca-top",),
    needs=("tls",),
)
def client_tls_without_server_verification(res: Resource) -> Iterator[Finding]:
    yield from _no_verification(res, port_level=False)


@rule(
    "ML533",
    "port-client-tls-without-server-verification",
    Severity.WARNING,
    summary="A port-level client TLS (SIMPLE or MUTUAL) names no CA certificates to verify "
    "the server with.",
    rationale="""
        The same as ML532 for the `tls` of a `portLevelSettings` entry: with mode SIMPLE or
        MUTUAL and no `caCertificates` (nor, on a gateway's DestinationRule with a
        `workloadSelector`, a `credentialName`), nothing pins the identity of the server on
        that port; istioctl analyze warns (IST0129). A port-level `tls` replaces the
        top-level one for its port, so a CA given at the top level does not help it. Say
        `insecureSkipVerify: true` if skipping verification is meant.

        Istio checks the port-level settings of the top-level traffic policy; meshlint also
        checks those of each subset.
    """,
    bad=dr(
        """
        host: db.example.com
        trafficPolicy:
          portLevelSettings:
          - port:
              number: 5432
            tls:
              mode: MUTUAL  # expect: ML533@15 spec.trafficPolicy.portLevelSettings[0].tls.mode
              clientCertificate: /etc/certs/client.pem
              privateKey: /etc/certs/client-key.pem
        """
    ),
    good=dr(
        """
        host: db.example.com
        trafficPolicy:
          portLevelSettings:
          - port:
              number: 5432
            tls:
              mode: MUTUAL
              clientCertificate: /etc/certs/client.pem
              privateKey: /etc/certs/client-key.pem
              caCertificates: /etc/certs/db-ca.pem
        """
    ),
    kinds=KINDS,
    istio="IST0129",
    source=f"{_CA_ANALYZER} — NoServerCertificateVerificationPortLevel: 'has TLS mode set to "
    "… but no caCertificates are set to validate server identity for host: … at port'",
    catalogue=("dr-tls-no-ca-port",),
    needs=("portLevelSettings",),
)
def port_client_tls_without_server_verification(res: Resource) -> Iterator[Finding]:
    yield from _no_verification(res, port_level=True)
