"""Client TLS settings of a DestinationRule (``trafficPolicy.tls`` and its port-level and subset
copies): what Istio's webhook rejects.

Facts: istio/istio ``pkg/config/validation/agent/validation.go`` (``ValidateTLS``) and
``pilot/pkg/model/credentials/resource.go`` (``ParseResourceName``, for ``configmap://``).
"""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.destinationrule import AGENT, KINDS, dr, sections

_CONFIGMAP = "configmap://"


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
)
def invalid_client_tls(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, tls, _ in sections(spec, "tls"):
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
)
def insecure_skip_verify_with_verification(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, tls, _ in sections(spec, "tls"):
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
)
def invalid_configmap_credential(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, tls, _ in sections(spec, "tls"):
        credential = tls.get("credentialName")
        if isinstance(credential, str) and credential.startswith(_CONFIGMAP):
            problem = _configmap_problem(credential, res.namespace)
            if problem:
                yield Finding((*path, "credentialName"), problem)
