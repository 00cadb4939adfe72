"""ML7xx: PeerAuthentication, RequestAuthentication and AuthorizationPolicy field checks, each
finding at its exact place."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import PRACTICE_CODES

from meshlint import rules
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic
from meshlint.engine import lint_paths, lint_text
from meshlint.rules.security.authorizationpolicy import (
    _condition_key_problem,
    _path_template_problem,
)
from meshlint.rules.security.requestauthentication import _jwks_problems, _jwks_uri_problem

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "security"
ML7 = Config(select=["ML7", "ML32"], ignore=sorted(PRACTICE_CODES))

Row = tuple[str, str, int, int, str]  # code, severity, line, column, path


def rows(found: list[Diagnostic]) -> list[Row]:
    return [(d.code, d.severity.label, d.line, d.column, d.path) for d in found]


def lint(text: str) -> list[Diagnostic]:
    return lint_text(text, ML7, name="t.yaml").findings


EXPECTED: dict[str, list[Row]] = {
    "peerauth-bad.yaml": [
        ("ML701", "error", 10, 3, "spec.portLevelMtls"),
        ("ML701", "error", 25, 5, "spec.portLevelMtls.http"),
        ("ML701", "error", 27, 5, 'spec.portLevelMtls["0"]'),
        ("ML701", "error", 29, 5, 'spec.portLevelMtls["70000"]'),
        ("ML320", "warning", 42, 5, "spec.selector.matchLabels"),
        ("ML320", "warning", 52, 3, "spec.selector"),
    ],
    "reqauth-bad.yaml": [
        ("ML322", "error", 12, 3, "spec.targetRefs"),
        ("ML322", "error", 15, 5, "spec.targetRefs[0].namespace"),
        ("ML322", "error", 16, 11, "spec.targetRefs[1].kind"),
        ("ML320", "warning", 30, 5, "spec.selector.matchLabels"),
        ("ML732", "error", 45, 5, "spec.jwtRules[0]"),
        ("ML733", "error", 48, 14, "spec.jwtRules[1].jwksUri"),
        ("ML733", "error", 50, 15, "spec.jwtRules[2].jwks_uri"),
        ("ML734", "error", 53, 5, "spec.jwtRules[3].jwks"),
        ("ML735", "error", 55, 11, "spec.jwtRules[4].jwks"),
        ("ML735", "warning", 57, 11, "spec.jwtRules[5].jwks"),
        ("ML735", "error", 59, 11, "spec.jwtRules[6].jwks"),
        ("ML736", "error", 61, 14, "spec.jwtRules[7].timeout"),
        ("ML736", "error", 63, 14, "spec.jwtRules[8].timeout"),
    ],
    "authz-bad.yaml": [
        ("ML322", "error", 12, 5, "spec.targetRef.namespace"),
        ("ML320", "warning", 23, 5, "spec.selector.matchLabels"),
        ("ML762", "error", 34, 11, "spec.action"),
        ("ML763", "error", 42, 3, "spec.provider"),
        ("ML763", "error", 54, 11, "spec.action"),
        ("ML764", "error", 58, 9, "spec.rules[0].from[0].source.principals"),
        ("ML764", "error", 61, 12, "spec.rules[0].when[0].key"),
        ("ML765", "error", 72, 11, "spec.rules[0].from"),
        ("ML765", "error", 74, 7, "spec.rules[0].to[0]"),
        ("ML765", "error", 76, 15, "spec.rules[1].from[0].source"),
        ("ML765", "error", 79, 9, "spec.rules[1].to[0].operation"),
        ("ML766", "error", 91, 9, "spec.rules[0].from[0].source.serviceAccounts"),
        ("ML767", "error", 94, 20, "spec.rules[0].from[1].source.ipBlocks[0]"),
        ("ML767", "error", 94, 35, "spec.rules[0].from[1].source.ipBlocks[1]"),
        ("ML767", "error", 94, 49, "spec.rules[0].from[1].source.ipBlocks[2]"),
        ("ML767", "error", 95, 27, "spec.rules[0].from[1].source.serviceAccounts[0]"),
        ("ML767", "error", 95, 36, "spec.rules[0].from[1].source.serviceAccounts[1]"),
        ("ML767", "error", 95, 45, "spec.rules[0].from[1].source.serviceAccounts[2]"),
        ("ML767", "error", 96, 24, "spec.rules[0].from[1].source.trustDomains[0]"),
        ("ML767", "error", 96, 39, "spec.rules[0].from[1].source.trustDomains[1]"),
        ("ML768", "error", 108, 17, "spec.rules[0].to[0].operation.ports[0]"),
        ("ML768", "error", 108, 25, "spec.rules[0].to[0].operation.ports[1]"),
        ("ML768", "error", 108, 34, "spec.rules[0].to[0].operation.ports[2]"),
        ("ML768", "error", 109, 19, "spec.rules[0].to[0].operation.methods[0]"),
        ("ML768", "error", 110, 17, "spec.rules[0].to[0].operation.paths[0]"),
        ("ML768", "error", 110, 32, "spec.rules[0].to[0].operation.paths[1]"),
        ("ML768", "error", 110, 43, "spec.rules[0].to[0].operation.paths[2]"),
        ("ML769", "error", 121, 12, "spec.rules[0].when[0].key"),
        ("ML769", "error", 123, 12, "spec.rules[0].when[1].key"),
        ("ML769", "error", 124, 12, "spec.rules[0].when[2].key"),
        ("ML769", "error", 126, 12, "spec.rules[0].when[3].key"),
        ("ML769", "error", 128, 12, "spec.rules[0].when[4].key"),
        ("ML769", "error", 131, 16, "spec.rules[0].when[5].values[0]"),
        ("ML769", "error", 133, 19, "spec.rules[0].when[6].notValues[0]"),
        ("ML769", "error", 135, 16, "spec.rules[0].when[7].values[0]"),
        ("ML769", "error", 137, 16, "spec.rules[0].when[8].values[0]"),
        ("ML770", "warning", 148, 5, "spec.rules[0]"),
        ("ML770", "warning", 151, 5, "spec.rules[1]"),
        ("ML762", "error", 162, 11, "spec.action"),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_fixture_findings_at_their_fields(name: str) -> None:
    assert rows(lint_paths([str(FIXTURES / name)], ML7).findings) == EXPECTED[name]


@pytest.mark.parametrize("name", ["peerauth-good.yaml", "reqauth-good.yaml", "authz-good.yaml"])
def test_good_fixture_is_clean(name: str) -> None:
    found = lint_paths([str(FIXTURES / name)], Config(ignore=sorted(PRACTICE_CODES))).findings
    assert [r for r in rows(found) if r[1] != "info"] == []


def test_every_rule_has_a_failing_and_a_passing_fixture() -> None:
    codes = {
        r.code
        for r in rules.all_rules()
        if r.code.startswith("ML7") and r.code not in PRACTICE_CODES
    }
    fired = {row[0] for found in EXPECTED.values() for row in found}
    assert codes == {c for c in fired if not c.startswith("ML32")}


def test_rules_record_their_source_and_catalogue_rows() -> None:
    for r in rules.all_rules():
        if r.code.startswith("ML7") and r.code not in PRACTICE_CODES:
            assert r.source and r.catalogue, r.code
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
    assert (_path_template_problem(path) is None) is ok


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
    assert (_condition_key_problem(key) is None) is ok


def _paths(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, child in value.items():
            out += _paths(child, (*path, k))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*path, i))
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED))
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
        ("ML769", "error", 10, 15, "spec.rules[0].when[0].values"),
        ("ML769", "error", 12, 19, "spec.rules[0].when[1].notValues[0]"),
    ]
