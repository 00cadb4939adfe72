"""Field validation of requestauthentication: what Istio's webhook and CRD rules reject.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateRequestAuthentication``,
``validateJwtRule``, ``warnPrivateJwksKeys``), ``pkg/config/security/security.go``
(``ParseJwksURI``) and the CEL rules of the RequestAuthentication CRD (istio/api
``security/v1beta1/request_authentication.proto``). Empty strings, missing names, header-name
patterns and list sizes are the schema stage's (the CRD's ``minLength``, ``required``,
``pattern``, ``maxItems``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import check_duration, duration_ns

_W = "webhook: pkg/config/validation/validation.go"
_KIND = {"RequestAuthentication"}


def _ra(rules: str) -> str:
    """A RequestAuthentication example with the given ``jwtRules`` body."""
    return (
        "apiVersion: security.istio.io/v1\n"
        "kind: RequestAuthentication\n"
        "metadata:\n"
        "  name: jwt\n"
        "  namespace: shop\n"
        "spec:\n"
        "  selector:\n"
        "    matchLabels:\n"
        "      app: cart\n"
        "  jwtRules:\n" + rules
    )


def _jwt_rules(res: Resource) -> Iterator[tuple[int, dict[str, Any]]]:
    spec = res.spec
    if not isinstance(spec, dict):
        return
    rules = spec.get("jwtRules")
    if not isinstance(rules, list):
        return
    for i, item in enumerate(rules):
        if isinstance(item, dict):
            yield i, item


@rule(
    "ML732",
    "jwt-rule-issuer-or-jwks-uri",
    Severity.ERROR,
    summary="A JWT rule has neither an issuer nor a jwksUri.",
    rationale="""
        Istio needs at least one of `issuer` (to match the token's `iss` claim, and to discover
        the keys) or `jwksUri` (where to fetch the keys) for each JWT rule; the webhook rejects
        a rule with neither, even when `jwks` holds the keys inline.
    """,
    bad=_ra(
        "  - audiences: [cart]  # expect: ML732@5 spec.jwtRules[0]\n    jwks: '{\"keys\": []}'\n"
    ),
    good=_ra("  - issuer: https://auth.example.com\n    audiences: [cart]\n"),
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} (validateJwtRule) — 'issuer or jwksUri must be non-empty string'",
    catalogue=("ra-issuer-or-jwksuri",),
)
def jwt_rule_issuer_or_jwks_uri(res: Resource) -> Iterator[Finding]:
    for i, jwt in _jwt_rules(res):
        if any(isinstance(jwt.get(k), str) and jwt[k] for k in ("issuer", "jwksUri", "jwks_uri")):
            continue
        if any(k in jwt and not isinstance(jwt[k], str) for k in ("issuer", "jwksUri", "jwks_uri")):
            continue  # wrong type: the schema stage's
        yield Finding(
            ("spec", "jwtRules", i),
            "this JWT rule has neither issuer nor jwksUri: set the token issuer (iss claim), "
            "the URL of its keys (jwksUri), or both",
        )


_CTL = frozenset(chr(c) for c in (*range(0x20), 0x7F))
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")


def _jwks_uri_problem(uri: str) -> str | None:
    shown = json.dumps(uri) if any(c in _CTL for c in uri) else f"'{uri}'"
    if any(c in _CTL for c in uri):
        return f"{shown} is not a URL: it contains a control character"
    scheme, colon, rest = uri.partition(":")
    if (
        not colon
        or not scheme
        or not scheme[0].isalpha()
        or any(c not in _SCHEME_CHARS for c in scheme)
    ):
        return f"{shown} has no URL scheme: write http://… or https://…"
    if scheme.lower() not in ("http", "https"):
        return f"URL scheme '{scheme}' is not supported: jwksUri must use http:// or https://"
    if not rest.startswith("/"):
        return f"{shown} is not an absolute URL: write {scheme}://host/path"
    return None


@rule(
    "ML733",
    "jwks-uri-invalid",
    Severity.ERROR,
    summary="A jwksUri is not an http:// or https:// URL.",
    rationale="""
        Istio fetches the issuer's public keys from `jwksUri`; the webhook parses it as a URL and
        only accepts the `http` and `https` schemes, and the CRD's CEL rule rejects any other
        scheme or an unparseable URL.
    """,
    bad=_ra(
        "  - issuer: https://auth.example.com\n"
        "    jwksUri: auth.example.com/keys  # expect: ML733@14 spec.jwtRules[0].jwksUri\n"
    ),
    good=_ra("  - issuer: https://auth.example.com\n    jwksUri: https://auth.example.com/keys\n"),
    kinds=_KIND,
    istio="IST0106",
    source="webhook: pkg/config/security/security.go (ParseJwksURI) — 'URI scheme %q is not "
    "supported'; CEL 'url must have scheme http:// or https://'",
    catalogue=("ra-jwksuri-scheme",),
)
def jwks_uri_invalid(res: Resource) -> Iterator[Finding]:
    for i, jwt in _jwt_rules(res):
        for key in ("jwksUri", "jwks_uri"):
            uri = jwt.get(key)
            if isinstance(uri, str) and uri:
                problem = _jwks_uri_problem(uri)
                if problem:
                    yield Finding(("spec", "jwtRules", i, key), problem)


@rule(
    "ML734",
    "jwks-source-conflict",
    Severity.ERROR,
    summary="A JWT rule sets more than one of jwks, jwksUri and jwks_uri.",
    rationale="""
        The keys of a JWT rule come either inline (`jwks`) or from a URL (`jwksUri`, also
        spelled `jwks_uri`). The CRD's CEL rule rejects a rule that sets more than one of them.
    """,
    bad=_ra(
        "  - issuer: https://auth.example.com\n"
        "    jwksUri: https://auth.example.com/keys\n"
        "    jwks: '{\"keys\": []}'  # expect: ML734@5 spec.jwtRules[0].jwks\n"
    ),
    good=_ra("  - issuer: https://auth.example.com\n    jwksUri: https://auth.example.com/keys\n"),
    kinds=_KIND,
    istio="IST0106",
    source="CEL (RequestAuthentication jwtRules) — 'only one of jwks or jwksUri can be set'",
    catalogue=("ra-jwks-one",),
)
def jwks_source_conflict(res: Resource) -> Iterator[Finding]:
    for i, jwt in _jwt_rules(res):
        given = [k for k in ("jwksUri", "jwks_uri", "jwks") if jwt.get(k) is not None]
        if len(given) > 1:
            yield Finding(
                ("spec", "jwtRules", i, given[-1]),
                f"set only one of jwks, jwksUri or jwks_uri; this rule sets {' and '.join(given)}",
                key=True,
            )


_KEY_TYPES = frozenset(("RSA", "EC", "OKP", "oct"))


def _jwks_problems(text: str) -> tuple[str | None, list[int]]:
    """(a parse error, or None; the indexes of keys holding private or symmetric material)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return f"jwks is not valid JSON ({e.msg} at character {e.pos}): give a JWK set", []
    except RecursionError:
        return "jwks is not a JWK set: it is nested too deeply", []
    if not isinstance(data, dict):
        return 'jwks is not a JWK set: give a JSON object such as {"keys": [...]}', []
    keys = data.get("keys") if "keys" in data else [data]
    if not isinstance(keys, list):
        return "jwks 'keys' is not a list of keys", []
    private = []
    for n, key in enumerate(keys):
        if not isinstance(key, dict):
            return f"jwks key {n} is not a JSON object", []
        kty = key.get("kty")
        if kty not in _KEY_TYPES:
            return (
                f"jwks key {n} has key type {json.dumps(kty)}: use RSA, EC, OKP or oct",
                [],
            )
        if kty == "oct" or "d" in key:
            private.append(n)
    return None, private


@rule(
    "ML735",
    "jwks-invalid",
    Severity.ERROR,
    summary="Inline jwks is not a JWK set, or holds private key material.",
    rationale="""
        `jwks` carries the issuer's public keys inline, as a JSON Web Key Set. Istio's webhook
        rejects it when it does not parse as one. A key with private material (`d` of an RSA, EC
        or OKP key) or a symmetric `oct` key is accepted with a warning: verification only needs
        public keys, and a secret in a manifest is a leak.
    """,
    bad=_ra(
        "  - issuer: https://auth.example.com\n"
        '    jwks: \'{"keys": [{"n": "abc"}]}\'  # expect: ML735@11 spec.jwtRules[0].jwks\n'
    ),
    good=_ra(
        "  - issuer: https://auth.example.com\n"
        '    jwks: \'{"keys": [{"kty": "RSA", "e": "AQAB", "n": "xjlCRBqkOqQ"}]}\'\n'
    ),
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} (validateJwtRule, warnPrivateJwksKeys) — 'jwks parse error', warning 'jwks "
    "key at index %d contains private key material'",
    catalogue=("ra-jwks-parse", "ra-jwks-private"),
)
def jwks_invalid(res: Resource) -> Iterator[Finding]:
    for i, jwt in _jwt_rules(res):
        jwks = jwt.get("jwks")
        if not isinstance(jwks, str) or not jwks:
            continue
        problem, private = _jwks_problems(jwks)
        where = ("spec", "jwtRules", i, "jwks")
        if problem:
            yield Finding(where, problem)
        for n in private:
            yield Finding(
                where,
                f"jwks key {n} contains private or symmetric key material: only public keys "
                "are needed to verify tokens; remove the secret from the manifest",
                severity=Severity.WARNING,
            )


@rule(
    "ML736",
    "jwt-timeout-invalid",
    Severity.ERROR,
    summary="A JWT rule's timeout for fetching keys is below 1ms or not in whole milliseconds.",
    rationale="""
        `timeout` bounds the fetch of the JWKS. Istio's webhook requires a duration of at least
        1 ms in whole milliseconds; the CRD's CEL rule requires at least 1 ms.
    """,
    bad=_ra(
        "  - issuer: https://auth.example.com\n"
        "    timeout: 0s  # expect: ML736@14 spec.jwtRules[0].timeout\n"
    ),
    good=_ra("  - issuer: https://auth.example.com\n    timeout: 5s\n"),
    kinds=_KIND,
    istio="IST0106",
    source="webhook: pkg/config/validation/agent/validation.go (ValidateDuration, from "
    "validateJwtRule); CEL 'must be a valid duration greater than 1ms'",
    catalogue=("ra-timeout",),
)
def jwt_timeout_invalid(res: Resource) -> Iterator[Finding]:
    for i, jwt in _jwt_rules(res):
        timeout = jwt.get("timeout")
        if duration_ns(timeout) is None:
            continue  # absent, or not a duration at all: the schema stage's
        problem = check_duration(timeout)
        if problem:
            yield Finding(("spec", "jwtRules", i, "timeout"), f"timeout {problem}")
