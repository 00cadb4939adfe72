"""security.istio.io: PeerAuthentication, RequestAuthentication and AuthorizationPolicy.

One model per kind serves all of its apiVersions (v1 and v1beta1 share one schema).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from meshlint.models.common import (
    Duration,
    IstioModel,
    NonEmptyStr,
    OneOfModel,
    PolicyTargetReference,
    Resource,
    WorkloadSelector,
)

TargetRefs = Annotated[list[PolicyTargetReference], Field(max_length=16)]

# --------------------------------------------------------------------------------------------
# PeerAuthentication


class MutualTLS(IstioModel):
    """Whether connections to the workload must use mutual TLS."""

    mode: Literal["UNSET", "DISABLE", "PERMISSIVE", "STRICT"] | None = Field(
        None, description="STRICT: mTLS only; PERMISSIVE: mTLS and plain text; DISABLE: plain text."
    )


class PeerAuthenticationSpec(IstioModel):
    """The mutual TLS mode of the workloads it selects (or of the namespace / mesh)."""

    selector: WorkloadSelector | None = None
    mtls: MutualTLS | None = None
    port_level_mtls: Annotated[dict[str, MutualTLS], Field(min_length=1)] | None = Field(
        None, description="mTLS mode per port number (needs a selector)."
    )


class PeerAuthentication(Resource):
    """Istio PeerAuthentication: the mutual TLS mode of workloads."""

    kind: Literal["PeerAuthentication"]
    spec: PeerAuthenticationSpec | None = None


# --------------------------------------------------------------------------------------------
# RequestAuthentication


class JWTHeader(IstioModel):
    """A header a JWT is read from, and the prefix before the token (e.g. 'Bearer ')."""

    name: NonEmptyStr
    prefix: str | None = None


class ClaimToHeader(IstioModel):
    """Copy a claim of a valid JWT into a request header."""

    header: Annotated[str, Field(min_length=1, pattern=r"^[-_A-Za-z0-9]+$")]
    claim: NonEmptyStr


JwksUri = Annotated[str, Field(min_length=1, max_length=2048)]


class JWTRule(IstioModel):
    """How to validate JWTs of one issuer."""

    issuer: NonEmptyStr | None = Field(None, description="The issuer (iss claim) of the tokens.")
    audiences: list[NonEmptyStr] | None = None
    jwks_uri: JwksUri | None = Field(
        None, alias="jwksUri", description="URL of the issuer's public keys (JWKS)."
    )
    jwks_uri_snake: JwksUri | None = Field(None, alias="jwks_uri")
    jwks: str | None = None
    from_headers: list[JWTHeader] | None = None
    from_params: list[NonEmptyStr] | None = None
    from_cookies: list[NonEmptyStr] | None = None
    output_payload_to_header: str | None = None
    forward_original_token: bool | None = None
    output_claim_to_headers: list[ClaimToHeader] | None = None
    timeout: Duration | None = None
    space_delimited_claims: Annotated[list[NonEmptyStr], Field(max_length=64)] | None = None
    presence: Literal["OPTIONAL", "REQUIRED"] | None = None


class RequestAuthenticationSpec(IstioModel):
    """Which JWTs the selected workloads accept (a request without a JWT is not rejected)."""

    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: TargetRefs | None = None
    jwt_rules: Annotated[list[JWTRule], Field(max_length=4096)] | None = None


class RequestAuthentication(Resource):
    """Istio RequestAuthentication: JWT validation for workloads."""

    kind: Literal["RequestAuthentication"]
    spec: RequestAuthenticationSpec | None = None


# --------------------------------------------------------------------------------------------
# AuthorizationPolicy

ServiceAccounts = Annotated[list[Annotated[str, Field(max_length=320)]], Field(max_length=16)]


class Source(IstioModel):
    """Where a request comes from: identities, namespaces, IP ranges (all given must match)."""

    principals: list[str] | None = Field(
        None, description="Peer identities, e.g. cluster.local/ns/default/sa/productpage."
    )
    not_principals: list[str] | None = None
    request_principals: list[str] | None = None
    not_request_principals: list[str] | None = None
    namespaces: list[str] | None = None
    not_namespaces: list[str] | None = None
    ip_blocks: list[str] | None = None
    not_ip_blocks: list[str] | None = None
    remote_ip_blocks: list[str] | None = None
    not_remote_ip_blocks: list[str] | None = None
    service_accounts: ServiceAccounts | None = None
    not_service_accounts: ServiceAccounts | None = None
    trust_domains: list[str] | None = None
    not_trust_domains: list[str] | None = None


class Operation(IstioModel):
    """What a request does: hosts, ports, methods and paths (all given must match)."""

    hosts: list[str] | None = None
    not_hosts: list[str] | None = None
    ports: list[str] | None = None
    not_ports: list[str] | None = None
    methods: list[str] | None = None
    not_methods: list[str] | None = None
    paths: list[str] | None = None
    not_paths: list[str] | None = None


class RuleFrom(IstioModel):
    source: Source | None = None


class RuleTo(IstioModel):
    operation: Operation | None = None


class Condition(IstioModel):
    """A condition on a request attribute, e.g. request.headers[version]."""

    key: str
    values: list[str] | None = None
    not_values: list[str] | None = None


class Rule(IstioModel):
    """Requests that match from, to and when."""

    from_: Annotated[list[RuleFrom], Field(max_length=512)] | None = None
    to: list[RuleTo] | None = None
    when: list[Condition] | None = None


class ExtensionProvider(IstioModel):
    """An external authorizer declared in the mesh config (for action CUSTOM)."""

    name: str | None = None


class AuthorizationPolicySpec(OneOfModel):
    """Allow, deny, audit or delegate requests to the selected workloads."""

    one_of = (("provider",),)

    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: TargetRefs | None = None
    rules: Annotated[list[Rule], Field(max_length=512)] | None = Field(
        None, description="Requests the action applies to; a request matching any rule."
    )
    action: Literal["ALLOW", "DENY", "AUDIT", "CUSTOM"] | None = Field(
        None, description="ALLOW (the default), DENY, AUDIT or CUSTOM."
    )
    provider: ExtensionProvider | None = None


class AuthorizationPolicy(Resource):
    """Istio AuthorizationPolicy: access control for workloads."""

    kind: Literal["AuthorizationPolicy"]
    spec: AuthorizationPolicySpec | None = None
