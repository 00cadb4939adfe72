"""Inbound policy: the JWTs of RequestAuthentication (checked against their local JWKS), and
AuthorizationPolicy in Istio's order, judged by the same function as ``meshlint route``.

A request without a token passes the JWT check (RequestAuthentication alone requires none); a
token that fails (signature, issuer, audience, expiry, form) is refused with 401. Istio's
verdict then applies: CUSTOM, DENY, ALLOW (with its implicit deny), AUDIT never decides,
dry-run policies only count.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshlint.proxy.http import Request
from meshlint.translate import simulate
from meshlint.translate.plan import AuthzPolicy, JwtProvider

CLOCK_SKEW = 60.0  # Envoy's default allowance for exp and nbf


class JwtError(Exception):
    """A token that does not verify: 401 with this reason."""


@dataclass
class Identity:
    """What the inbound side knows of a request's caller."""

    principal: str | None = None  # the mutual TLS peer, without spiffe://
    ip: str = "127.0.0.1"
    request_principal: str | None = None
    claims: dict[str, Any] | None = None
    sni: str | None = None


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int(data: dict[str, Any], key: str) -> int:
    return int.from_bytes(_b64(data[key]), "big")


class _Key:
    def __init__(self, jwk: dict[str, Any]) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        self.kid = jwk.get("kid")
        self.alg = jwk.get("alg")
        self.kty = jwk.get("kty")
        self.key: Any
        if self.kty == "RSA":
            self.key = rsa.RSAPublicNumbers(_int(jwk, "e"), _int(jwk, "n")).public_key()
        elif self.kty == "EC":
            curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}[
                jwk["crv"]
            ]
            self.key = ec.EllipticCurvePublicNumbers(
                _int(jwk, "x"), _int(jwk, "y"), curve
            ).public_key()
        elif self.kty == "OKP" and jwk.get("crv") == "Ed25519":
            self.key = ed25519.Ed25519PublicKey.from_public_bytes(_b64(jwk["x"]))
        elif self.kty == "oct":
            self.key = _b64(jwk["k"])
        else:
            raise ValueError(f"unsupported key type {self.kty}")

    def verify(self, alg: str, signed: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, hmac
        from cryptography.hazmat.primitives.asymmetric import ec, padding
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        digest: dict[str, Callable[[], hashes.HashAlgorithm]] = {
            "256": hashes.SHA256,
            "384": hashes.SHA384,
            "512": hashes.SHA512,
        }
        try:
            if alg.startswith("RS") and self.kty == "RSA":
                self.key.verify(signature, signed, padding.PKCS1v15(), digest[alg[2:]]())
            elif alg.startswith("PS") and self.kty == "RSA":
                h = digest[alg[2:]]()
                self.key.verify(signature, signed, padding.PSS(padding.MGF1(h), h.digest_size), h)
            elif alg.startswith("ES") and self.kty == "EC":
                half = len(signature) // 2
                r = int.from_bytes(signature[:half], "big")
                s = int.from_bytes(signature[half:], "big")
                self.key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(digest[alg[2:]]()))
            elif alg == "EdDSA" and self.kty == "OKP":
                self.key.verify(signature, signed)
            elif alg.startswith("HS") and self.kty == "oct":
                mac = hmac.HMAC(self.key, digest[alg[2:]]())
                mac.update(signed)
                mac.verify(signature)
            else:
                return False
        except (InvalidSignature, KeyError, ValueError):
            return False
        return True


class Provider:
    """One JWT rule: where its token is, and the keys that sign it."""

    def __init__(self, p: JwtProvider) -> None:
        self.spec = p
        self.keys: list[_Key] = []
        if p.jwks:
            data = json.loads(p.jwks)
            for jwk in data.get("keys", []) if isinstance(data, dict) else []:
                try:
                    self.keys.append(_Key(jwk))
                except (KeyError, ValueError, TypeError):
                    continue  # a key of a kind this proxy does not read: Envoy skips it too
        # Envoy's default token places: the Authorization header's Bearer, and access_token
        self.headers = list(p.from_headers) or [("authorization", "Bearer ")]
        self.params = list(p.from_params) or ([] if p.from_headers else ["access_token"])
        self.cookies = list(p.from_cookies)

    def token(self, req: Request) -> tuple[str, str | None] | None:
        """(token, the header it came from) of a request, or None."""
        for name, prefix in self.headers:
            value = req.map.get(name.lower())
            if value is None:
                continue
            if prefix:
                if not value.startswith(prefix):
                    continue
                value = value[len(prefix) :]
            return value.strip(), name.lower()
        if self.params:
            params = req.query_params()
            for name in self.params:
                if name in params:
                    return params[name], None
        if self.cookies and "cookie" in req.map:
            jar = dict(
                part.strip().split("=", 1) for part in req.map["cookie"].split(";") if "=" in part
            )
            for name in self.cookies:
                if name in jar:
                    return jar[name], None
        return None

    def verify(self, token: str) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3:
            raise JwtError("Jwt is not in the form of Header.Payload.Signature")
        try:
            header = json.loads(_b64(parts[0]))
            claims = json.loads(_b64(parts[1]))
            signature = _b64(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise JwtError("Jwt is not in the form of Header.Payload.Signature") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise JwtError("Jwt is not in the form of Header.Payload.Signature")
        spec = self.spec
        if spec.issuer and claims.get("iss") != spec.issuer:
            raise JwtError("Jwt issuer is not configured")
        alg = str(header.get("alg", ""))
        kid = header.get("kid")
        signed = f"{parts[0]}.{parts[1]}".encode()
        keys = [k for k in self.keys if kid is None or k.kid is None or k.kid == kid]
        if not any(k.verify(alg, signed, signature) for k in keys):
            raise JwtError("Jwt verification fails")
        now = time.time()
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and now > exp + CLOCK_SKEW:
            raise JwtError("Jwt is expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, (int, float)) and now + CLOCK_SKEW < nbf:
            raise JwtError("Jwt not yet valid")
        if spec.audiences:
            aud = claims.get("aud")
            given = aud if isinstance(aud, list) else [aud]
            if not set(spec.audiences) & {a for a in given if isinstance(a, str)}:
                raise JwtError("Audiences in Jwt are not allowed")
        return claims


class Jwt:
    """The JWT rules of an inbound port (or of a gateway)."""

    def __init__(self, providers: list[JwtProvider]) -> None:
        self.providers = [Provider(p) for p in providers]

    def check(self, req: Request, who: Identity) -> None:
        """Verify the request's token, if it has one: sets the request principal and claims,
        applies the rule's header outputs, and raises :class:`JwtError` when it fails."""
        who.claims = {}
        found: list[tuple[Provider, str, str | None]] = []
        for p in self.providers:
            t = p.token(req)
            if t is not None:
                found.append((p, *t))
        if not found:
            return  # no token: RequestAuthentication alone lets it by
        failure: JwtError | None = None
        for p, token, header in found:
            try:
                claims = p.verify(token)
            except JwtError as exc:
                if failure is None or exc.args[0] != "Jwt issuer is not configured":
                    failure = exc
                continue
            who.claims = claims
            who.request_principal = f"{claims.get('iss')}/{claims.get('sub')}"
            spec = p.spec
            if header is not None and not spec.forward_original_token:
                req.remove_header(header)
            if spec.output_payload_to_header:
                payload = token.split(".")[1]
                req.set_header(spec.output_payload_to_header.lower(), payload)
            for name, claim in spec.claim_to_headers:
                value = claims.get(claim)
                if isinstance(value, (str, int, float, bool)):
                    req.set_header(name.lower(), str(value))
            return
        assert failure is not None
        raise failure


class Authorization:
    """The AuthorizationPolicies of an inbound port, in Istio's order."""

    def __init__(self, policies: list[AuthzPolicy], port: int) -> None:
        self.policies = policies
        self.port = port
        self.enforced = any(p.action in ("ALLOW", "DENY") and not p.dry_run for p in policies)
        self.custom = [p for p in policies if p.action == "CUSTOM"]

    def verdict(self, req: Request, who: Identity) -> simulate.Verdict:
        query: list[tuple[str, str]] = []
        for part in req.query.split("&") if req.query else ():
            k, _, v = part.partition("=")
            query.append((k, v))
        call = simulate.Call(
            req.method, req.scheme, req.host, req.port, req.authority, req.path, query, req.map
        )
        peer = simulate.Peer(who.principal, who.ip, who.request_principal, who.claims, who.sni)
        return simulate.authorize(self.policies, call, peer, self.port)
