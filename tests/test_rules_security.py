"""ML7xx: PeerAuthentication, RequestAuthentication and AuthorizationPolicy field checks, beyond
the findings marked in tests/fixtures/rules/security: the grammars, the wording, the order in
which Istio judges a condition, and wrong types anywhere."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshlint import rules
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic
from meshlint.engine import lint_text
from meshlint.rules.lib.authz import path_template_problem
from meshlint.rules.security.authz_conditions import _replaced_key_problem, _unknown_key_problem
from meshlint.rules.security.requestauthentication import _jwks_problems, _jwks_uri_problem

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rules" / "security"
ML7 = Config(select=["ML7"])

Row = tuple[str, str, int, int, str]  # code, severity, line, column, path


def rows(found: list[Diagnostic]) -> list[Row]:
    return [(d.code, d.severity.label, d.line, d.column, d.path) for d in found]


def lint(text: str) -> list[Diagnostic]:
    return lint_text(text, ML7, name="t.yaml").findings


def test_rules_record_their_source_and_catalogue_rows() -> None:
    mine = [r for r in rules.all_rules() if r.module.startswith("meshlint.rules.security.")]
    assert mine
    for r in mine:
        assert r.source, r.code
        assert r.catalogue or r.istio is None, r.code  # a verdict of Istio's has its rows
        assert r.kinds and r.kinds <= {
            "PeerAuthentication",
            "RequestAuthentication",
            "AuthorizationPolicy",
        }


def test_messages_say_what_is_accepted() -> None:
    text = (FIXTURES / "peerauth-bad.yaml").read_text()
    messages = [d.message for d in lint(text) if d.code == "ML701"]
    assert "'http' is not a port number" in messages[1]
    assert "from 1 to 65535" in messages[2]


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("https://example.com/keys", True),
        ("HTTP://example.com:8080/keys", True),
        ("ftp://example.com/keys", False),
        ("example.com/keys", False),
        ("https:example.com", False),
        ("hTPp\\\blah", False),
        ("https://exa\nmple.com", False),
    ],
)
def test_jwks_uri(uri: str, ok: bool) -> None:
    assert (_jwks_uri_problem(uri) is None) is ok


def test_jwks_parsing() -> None:
    assert _jwks_problems('{"keys": []}') == (None, [])
    assert _jwks_problems('{"kty": "EC", "crv": "P-256"}') == (None, [])
    assert _jwks_problems('{"keys": [{"kty": "RSA", "d": "x"}, {"kty": "RSA"}]}') == (None, [0])
    assert _jwks_problems("[1]")[0]
    assert _jwks_problems('{"keys": 3}')[0]
    assert _jwks_problems("not json")[0]


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("/api/{*}/items/{**}", True),
        ("/{**}", True),
        ("/api/{**}/items", True),  # Istio only rejects a later operator after {**}
        ("/static/*", True),
        ("/a b", True),  # not a template: no character check
        ("/a/{**}/{*}", False),
        ("/a/{**}/{**}", False),
        ("/a/{id}", False),
        ("/a/x{*}", False),
        ("/a/{*}/x y", False),
    ],
)
def test_path_templates(path: str, ok: bool) -> None:
    assert (path_template_problem(path) is None) is ok


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("request.headers[x-user]", True),
        ("request.auth.claims[iss]", True),
        ("request.auth.claims[nested][key]", True),
        ("experimental.envoy.filters.a.b[c]", True),
        ("source.principal", True),
        ("connection.sni", True),
        ("request.headers", False),
        ("request.headers[]", False),
        ("request.auth.claims", False),
        ("destination.namespace", False),
        ("destination.labels[app]", False),
        ("destination.user", False),
        ("source.name", False),
    ],
)
def test_condition_keys(key: str, ok: bool) -> None:
    problems = (_unknown_key_problem(key), _replaced_key_problem(key))
    assert (problems == (None, None)) is ok
    assert None in problems  # a key is unknown or replaced, never both


def _paths(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, child in value.items():
            out += _paths(child, (*path, k))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*path, i))
    return out


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*-bad.yaml")))
def test_wrong_types_anywhere_do_not_crash(name: str) -> None:
    for text in (FIXTURES / name).read_text().split("\n---\n"):
        doc = yaml.safe_load(text)
        for path in _paths(doc.get("spec"), ("spec",))[1:]:
            values: tuple[object, ...] = ("x", 7, None, [], {}, [None])
            for value in values:
                mutated = copy.deepcopy(doc)
                target: Any = mutated
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = value
                found = lint_text(yaml.safe_dump(mutated), ML7, name="m.yaml").findings
                assert not [d for d in found if d.code == "ML107"], (path, value)


def test_service_account_conditions_have_the_source_limits() -> None:
    many = ", ".join(f"sa{i}" for i in range(17))
    text = f"""apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: limits
  namespace: shop
spec:
  rules:
  - when:
    - key: source.serviceAccount
      values: [{many}]
    - key: source.serviceAccount
      notValues: ["{"a" * 321}"]
    - key: source.serviceAccount
      values: ["web/frontend", "frontend"]
"""
    assert rows(lint(text)) == [
        ("ML776", "error", 10, 15, "spec.rules[0].when[0].values"),
        ("ML776", "error", 12, 19, "spec.rules[0].when[1].notValues[0]"),
    ]


def test_conditions_are_judged_in_istios_order() -> None:
    # An empty key, then missing values, then an empty value: each hides what Istio checks
    # after it (the key, and the values its key takes).
    text = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: order
  namespace: shop
spec:
  rules:
  - when:
    - key: ""
      values: ["10.0.0.1/40"]
    - key: source.name
    - key: source.name
      values: [""]
    - key: destination.namespace
      notValues: ["", shop]
    - key: source.ip
      values: ["", "10.0.0.1/40"]
    - key: destination.user
      values: [a]
    - key: request.auth.claims[]
      values: [a]
"""
    assert [(d.code, d.path) for d in lint(text)] == [
        ("ML769", "spec.rules[0].when[0].key"),
        ("ML769", "spec.rules[0].when[1].key"),
        ("ML769", "spec.rules[0].when[2].values[0]"),
        ("ML769", "spec.rules[0].when[3].notValues[0]"),
        ("ML769", "spec.rules[0].when[4].values[0]"),
        ("ML776", "spec.rules[0].when[4].values[1]"),
        ("ML775", "spec.rules[0].when[5].key"),
        ("ML774", "spec.rules[0].when[6].key"),
    ]


def test_old_codes_still_cover_the_rules_split_off() -> None:
    assert {r.code for r in rules.lookup("ML769")} == {"ML769", "ML774", "ML775", "ML776"}
    assert {r.code for r in rules.lookup("ML765")} == {"ML765", "ML773"}
