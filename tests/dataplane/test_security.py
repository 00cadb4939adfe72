"""Inbound security through the proxy: authorization (DENY, ALLOW with its implicit deny, dry
run) by path, method, header and peer identity; PeerAuthentication STRICT, PERMISSIVE and
DISABLE; JWTs of a RequestAuthentication. Each verdict is checked against the one meshlint
predicts from the same Plan."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable

import pytest
from harness import Backend, Mesh, jwks_of, sign_jwt
from manifests import mesh as manifests
from manifests import service, workload

from meshlint.translate import simulate

APP = [service("ratings"), workload("ratings-v1", {"app": "ratings"}, account="ratings")]
CALLER = workload("reviews-v1", {"app": "reviews"}, account="reviews")
OTHER = workload("intruder", {"app": "intruder"}, account="intruder", namespace="shop")


def peer_auth(mode: str) -> str:
    return f"""
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: default, namespace: shop}}
spec:
  mtls: {{mode: {mode}}}
"""


def policy(name: str, action: str, rules: str, annotations: str = "") -> str:
    return f"""
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: {name}
  namespace: shop{annotations}
spec:
  selector: {{matchLabels: {{app: ratings}}}}
  action: {action}
  rules:
{rules}"""


def ratings(mesh: Callable[..., Mesh], *parts: str, mtls: bool = False) -> Mesh:
    return mesh(
        manifests(*APP, CALLER, OTHER, *parts),
        [],
        workload="shop/ratings-v1",
        app=Backend("app", "ratings", 9080),
        mtls=mtls,
    )


def verdict(
    m: Mesh,
    method: str,
    path: str,
    principal: str | None = None,
    headers: dict[str, str] | None = None,
) -> bool:
    """meshlint's verdict for a request reaching the workload."""
    call = simulate.Call.parse(method, f"http://app{path}", list((headers or {}).items()))
    inbound = m.plan.inbound[0]
    return simulate.authorize(
        inbound.policies, call, simulate.Peer(principal), inbound.port
    ).allowed


def check(m: Mesh, method: str, path: str, expected: int, **kw: object) -> None:
    principal = kw.pop("principal", None)
    r = m.inbound(method, path, **kw)  # type: ignore[arg-type]
    assert r.status == expected, (method, path, r.status, r.body[:200])
    allowed = verdict(m, method, path, principal, kw.get("headers"))  # type: ignore[arg-type]
    assert allowed == (expected != 403), (method, path, "meshlint predicts", allowed)


def test_allow_by_path_denies_the_rest(mesh: Callable[..., Mesh]) -> None:
    m = ratings(
        mesh,
        peer_auth("PERMISSIVE"),
        policy("public", "ALLOW", "  - to: [{operation: {paths: [/public/*, /health]}}]"),
    )
    check(m, "GET", "/public/books", 200)
    check(m, "GET", "/health", 200)
    check(m, "GET", "/private", 403)


def test_deny_by_method_comes_before_allow(mesh: Callable[..., Mesh]) -> None:
    m = ratings(
        mesh,
        peer_auth("PERMISSIVE"),
        policy("no-writes", "DENY", "  - to: [{operation: {methods: [POST, DELETE]}}]"),
        policy("all", "ALLOW", "  - {}"),
    )
    check(m, "GET", "/", 200)
    check(m, "POST", "/", 403)
    check(m, "DELETE", "/x", 403)


def test_allow_by_header_condition(mesh: Callable[..., Mesh]) -> None:
    m = ratings(
        mesh,
        peer_auth("PERMISSIVE"),
        policy(
            "team",
            "ALLOW",
            "  - when: [{key: 'request.headers[x-team]', values: [books, ratings]}]",
        ),
    )
    check(m, "GET", "/", 200, headers={"x-team": "books"})
    check(m, "GET", "/", 403, headers={"x-team": "sales"})
    check(m, "GET", "/", 403)


def test_dry_run_policies_do_not_decide(mesh: Callable[..., Mesh]) -> None:
    m = ratings(
        mesh,
        peer_auth("PERMISSIVE"),
        policy(
            "would-deny",
            "DENY",
            "  - {}",
            annotations='\n  annotations: {istio.io/dry-run: "true"}',
        ),
    )
    check(m, "GET", "/", 200)
    call = simulate.Call.parse("GET", "http://app/")
    v = simulate.authorize(m.plan.inbound[0].policies, call, simulate.Peer(None), 9080)
    assert v.allowed and v.dry_run == ["shop/would-deny (DENY, dry-run) would deny"]


def test_allow_by_peer_identity_with_strict_mtls(mesh: Callable[..., Mesh]) -> None:
    m = ratings(
        mesh,
        peer_auth("STRICT"),
        policy(
            "readers",
            "ALLOW",
            "  - from: [{source: {principals: [cluster.local/ns/shop/sa/reviews]}}]",
        ),
        mtls=True,
    )
    reviews = m.client_context("shop", "reviews")
    intruder = m.client_context("shop", "intruder")
    check(
        m, "GET", "/ratings/1", 200, context=reviews, principal="cluster.local/ns/shop/sa/reviews"
    )
    check(
        m, "GET", "/ratings/1", 403, context=intruder, principal="cluster.local/ns/shop/sa/intruder"
    )
    # the application learns who called
    r = m.inbound("GET", "/", context=reviews)
    assert (
        "URI=spiffe://cluster.local/ns/shop/sa/reviews"
        in r.json["headers"]["x-forwarded-client-cert"]
    )


def test_strict_refuses_plaintext_and_clients_without_a_certificate(
    mesh: Callable[..., Mesh],
) -> None:
    m = ratings(mesh, peer_auth("STRICT"), mtls=True)
    assert m.inbound("GET", "/", context=m.client_context("shop", "reviews")).status == 200
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        m.inbound("GET", "/", context=m.client_context(None, None))
    with pytest.raises((ConnectionError, OSError)):
        m.inbound("GET", "/")  # plaintext: no filter chain takes it
    assert m.plan.inbound[0].mode == "STRICT"


def test_permissive_serves_both(mesh: Callable[..., Mesh]) -> None:
    m = ratings(mesh, peer_auth("PERMISSIVE"), mtls=True)
    assert m.inbound("GET", "/").status == 200
    assert m.inbound("GET", "/", context=m.client_context("shop", "reviews")).status == 200


def test_disable_serves_plaintext_only(mesh: Callable[..., Mesh]) -> None:
    m = ratings(mesh, peer_auth("DISABLE"), mtls=True)
    assert m.inbound("GET", "/").status == 200
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        m.inbound("GET", "/", context=m.client_context("shop", "reviews"))


def test_port_level_mtls(mesh: Callable[..., Mesh]) -> None:
    m = ratings(
        mesh,
        peer_auth("STRICT"),
        """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ratings, namespace: shop}
spec:
  selector: {matchLabels: {app: ratings}}
  mtls: {mode: STRICT}
  portLevelMtls:
    9080: {mode: DISABLE}
""",
        mtls=True,
    )
    assert m.plan.inbound[0].mode == "DISABLE"
    assert m.inbound("GET", "/").status == 200


def _jwt_mesh(mesh: Callable[..., Mesh], *extra: str) -> tuple[Mesh, str, str]:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    jwks = jwks_of(key, "k1")
    good = sign_jwt(
        key, "k1", {"iss": "https://auth.shop", "sub": "ann", "aud": "ratings", "exp": 4102444800}
    )
    other = ec.generate_private_key(ec.SECP256R1())
    forged = sign_jwt(other, "k1", {"iss": "https://auth.shop", "sub": "eve", "exp": 4102444800})
    ra = f"""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: ratings}}}}
  jwtRules:
  - issuer: https://auth.shop
    jwks: {json.dumps(jwks)}
"""
    return ratings(mesh, peer_auth("PERMISSIVE"), ra, *extra), good, forged


def test_jwt_accepted_rejected_and_missing(mesh: Callable[..., Mesh]) -> None:
    m, good, forged = _jwt_mesh(mesh)
    assert m.inbound("GET", "/", headers={"authorization": f"Bearer {good}"}).status == 200
    assert m.inbound("GET", "/", headers={"authorization": f"Bearer {forged}"}).status == 401
    assert m.inbound("GET", "/", headers={"authorization": "Bearer not.a.token"}).status == 401
    assert m.inbound("GET", "/").status == 200  # no token: RequestAuthentication alone lets it by
    assert [p.issuer for p in m.plan.inbound[0].jwt] == ["https://auth.shop"]


def test_jwt_required_by_an_authorization_policy(mesh: Callable[..., Mesh]) -> None:
    m, good, _ = _jwt_mesh(
        mesh,
        policy(
            "token", "ALLOW", "  - from: [{source: {requestPrincipals: ['https://auth.shop/*']}}]"
        ),
    )
    assert m.inbound("GET", "/", headers={"authorization": f"Bearer {good}"}).status == 200
    assert m.inbound("GET", "/").status == 403
    call = simulate.Call.parse("GET", "http://app/")
    inbound = m.plan.inbound[0]
    assert simulate.authorize(
        inbound.policies, call, simulate.Peer(None, request_principal="https://auth.shop/ann"), 9080
    ).allowed
    assert not simulate.authorize(inbound.policies, call, simulate.Peer(None), 9080).allowed
