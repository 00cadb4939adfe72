"""ML210: kinds meshlint does not model, against JSON Schemas from --schema-location."""

from __future__ import annotations

import io
import shutil
import urllib.error
from pathlib import Path

import pytest

from meshlint import rules
from meshlint.diagnostics import ConfigError, Span
from meshlint.loader import load_text
from meshlint.resource import Resource
from meshlint.rules import Finding
from meshlint.schemas import external
from meshlint.schemas.external import (
    ExternalSchemaError,
    SchemaStore,
    external_findings,
    reset_cache,
)

HERE = Path(__file__).parent / "fixtures" / "external"
SCHEMAS = str(HERE / "schemas")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    reset_cache()


def resources(text: str) -> list[Resource]:
    out = []
    for doc in load_text(text, "test.yaml").documents:
        res = Resource.of(doc)
        assert res is not None
        out.append(res)
    return out


def one(text: str) -> Resource:
    (res,) = resources(text)
    return res


def check(res: Resource, *locations: str) -> list[tuple[Finding, Span]]:
    return [
        (f, res.doc.locate(f.path, key=f.key))
        for f in external_findings(res, list(locations or [SCHEMAS]))
    ]


def where(found: list[tuple[Finding, Span]]) -> list[tuple[tuple[object, ...], str, int, int]]:
    return [(f.path, f.message, s.line, s.column) for f, s in found]


CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: reviews-settings
  namespace: shop
data:
  mode: fast
  port: "9080"
"""

CERTIFICATE = """\
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web
  namespace: shop
spec:
  secretName: web-tls
  dnsNames: [web.shop.example.com]
  issuerRef:
    name: letsencrypt
    kind: ClusterIssuer
  privateKey:
    algorithm: ECDSA
    size: 256
  usages: [server auth]
"""


# --- what passes and what is not looked at ----------------------------------------------------


def test_valid_resources_pass() -> None:
    assert check(one(CONFIGMAP)) == []
    assert check(one(CERTIFICATE)) == []


def test_no_locations_no_findings() -> None:
    bad = one(CONFIGMAP.replace('"9080"', "9080"))
    assert list(external_findings(bad, [])) == []


def test_kind_without_schema_is_skipped() -> None:
    secret = one("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: 1}\n")
    assert check(secret) == []


def test_modelled_kinds_are_not_checked() -> None:
    # Both have a `false` schema in the folder, which would reject anything.
    vs = one(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        "metadata: {name: r}\nspec: {hosts: [r]}\n"
    )
    svc = one("apiVersion: v1\nkind: Service\nmetadata: {name: r}\nspec: {ports: [{port: 80}]}\n")
    assert check(vs) == []
    assert check(svc) == []


def test_case_typo_of_a_modelled_kind_is_left_to_ml202() -> None:
    typo = one(
        "apiVersion: networking.istio.io/v1\nkind: Virtualservice\n"
        "metadata: {name: r}\nspec: {hosts: [r]}\n"
    )
    assert check(typo) == []


def test_kinds_that_cannot_name_a_file_are_skipped(tmp_path: Path) -> None:
    res = one("apiVersion: v1\nkind: ../../etc/passwd\nmetadata: {name: x}\n")
    assert check(res, str(tmp_path)) == []


# --- findings at their exact places ------------------------------------------------------------


def test_wrong_type_lands_on_the_value() -> None:
    res = one(CONFIGMAP.replace('"9080"', "80"))
    assert where(check(res)) == [
        (("data", "port"), "expected a string, got the integer 80", 8, 9),
    ]


def test_wrong_type_describes_what_was_given() -> None:
    res = one(CONFIGMAP + "immutable: 'yes'\n")
    assert where(check(res)) == [
        (("immutable",), "expected a boolean, got the string 'yes'", 9, 12),
    ]


def test_enum_lands_on_the_value_and_suggests() -> None:
    res = one(CERTIFICATE.replace("algorithm: ECDSA", "algorithm: ecdsa"))
    ((finding, span),) = check(res)
    assert finding.path == ("spec", "privateKey", "algorithm")
    assert finding.message == (
        "'ecdsa' is not one of 'RSA', 'ECDSA', 'Ed25519'; did you mean 'ECDSA'?"
    )
    assert finding.fix == "algorithm: ECDSA"
    assert (span.line, span.column) == (13, 16)


def test_enum_in_a_list_item() -> None:
    res = one(CERTIFICATE.replace("[server auth]", "[server auth, serverauth]"))
    assert where(check(res)) == [
        (
            ("spec", "usages", 1),
            "'serverauth' is not one of 'digital signature', 'key encipherment', "
            "'server auth', 'client auth'; did you mean 'server auth'?",
            15,
            25,
        ),
    ]


def test_missing_required_points_at_the_parent() -> None:
    res = one(
        CERTIFICATE.replace("    name: letsencrypt\n", "").replace("  secretName: web-tls\n", "")
    )
    found = check(res)
    assert all(f.key for f, _ in found)
    assert where(found) == [
        (("spec", "secretName"), "missing required field `secretName`", 6, 1),
        (("spec", "issuerRef", "name"), "missing required field `name`", 8, 3),
    ]


def test_missing_required_at_the_top_points_at_the_document() -> None:
    res = one("apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n")
    assert where(check(res)) == [
        (("metadata",), "missing required field `metadata`", 1, 1),
    ]


def test_unknown_field_points_at_its_key() -> None:
    res = one(CERTIFICATE.replace("secretName: web-tls", "secretNam: web-tls"))
    found = check(res)
    assert [(f.path, f.message, f.fix, f.key) for f, _ in found] == [
        (("spec", "secretName"), "missing required field `secretName`", None, True),
        (
            ("spec", "secretNam"),
            "unknown field `secretNam`; did you mean `secretName`?",
            "rename `secretNam` to `secretName`",
            True,
        ),
    ]
    assert [(s.line, s.column, s.end_column) for _, s in found] == [(6, 1, 5), (7, 3, 12)]


def test_unknown_top_level_field() -> None:
    res = one(CONFIGMAP + "stringData:\n  a: b\n")
    assert where(check(res)) == [(("stringData",), "unknown field `stringData`", 9, 1)]


def test_draft_2020_12_unevaluated_properties_and_one_of() -> None:
    res = one("""\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: reviews
spec:
  parentRefs: [{namespace: istio-ingress}]
  rule: []
  rules:
  - backendRefs:
    - name: reviews
      port: "9080"
      weight: [1]
""")
    assert where(check(res)) == [
        (("spec", "parentRefs", 0, "name"), "missing required field `name`", 6, 16),
        (("spec", "rule"), "unknown field `rule`; did you mean `rules`?", 7, 3),
        (
            ("spec", "rules", 0, "backendRefs", 0, "port"),
            "expected an integer, got the string '9080'",
            11,
            13,
        ),
        (
            ("spec", "rules", 0, "backendRefs", 0, "weight"),
            "expected an integer or a string, got a list",
            12,
            15,
        ),
    ]


def test_range() -> None:
    res = one(CERTIFICATE.replace("size: 256", "size: 12"))
    assert where(check(res)) == [
        (("spec", "privateKey", "size"), "must be at least 256, got 12", 14, 11),
    ]


def test_every_document_of_a_stream() -> None:
    first, second = resources(CONFIGMAP + "---\n" + CONFIGMAP.replace("mode: fast", "mode: 1"))
    assert check(first) == []
    assert where(check(second)) == [
        (("data", "mode"), "expected a string, got the integer 1", 16, 9)
    ]


# --- locations ---------------------------------------------------------------------------------


def test_template_location() -> None:
    secret = one("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  key: 1\n")
    location = str(HERE / "template" / "{version}" / "{kind}.json")
    assert where(check(secret, location)) == [
        (("data", "key"), "expected a string, got the integer 1", 5, 8),
    ]


def test_kubeconform_template_spelling() -> None:
    location = (
        str(HERE / "schemas") + "/{{ .Group }}/{{.ResourceKind}}_{{ .ResourceAPIVersion }}.json"
    )
    res = one(CERTIFICATE.replace("size: 256", "size: 1"))
    assert [f.path for f, _ in check(res, location)] == [("spec", "privateKey", "size")]


def test_kubeconform_kind_suffix_in_a_folder() -> None:
    issuer = one(
        "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: i}\n"
        "spec:\n  selfSigned: {}\n  acme: {}\n"
    )
    assert where(check(issuer, str(HERE / "kubeconform"))) == [
        (("spec", "acme"), "unknown field `acme`", 6, 3),
    ]


def test_names_tried_in_a_folder() -> None:
    core = external._Names("configmap", "", "v1", "v1")
    assert core.folder_files() == ["configmap_v1.json", "configmap-v1.json"]
    assert core.go("Group") == "v1"  # as kubeconform: the part before the slash
    assert core.go("KindSuffix") == "-v1"
    cert = external._Names("certificate", "cert-manager.io", "v1", "cert-manager.io/v1")
    assert cert.folder_files() == [
        "certificate-cert-manager.io-v1.json",
        "certificate_v1.json",
        "certificate-v1.json",
        "cert-manager.io/certificate_v1.json",
        "certificate-cert-manager-v1.json",
    ]
    template = external._parse_location(
        "https://example.com/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}"
        "/{{ .ResourceKind }}{{ .KindSuffix }}.json"
    )
    assert template.candidates(cert) == [
        "https://example.com/master-standalone/certificate-cert-manager-v1.json"
    ]
    brace = external._parse_location("https://example.com/{api_version}/{kind}.json")
    assert brace.candidates(core) == ["https://example.com/v1/configmap.json"]


def test_first_location_wins() -> None:
    bad = one(CONFIGMAP.replace('"9080"', "9080"))
    assert check(bad, str(HERE / "loose"), SCHEMAS) == []
    assert len(check(bad, SCHEMAS, str(HERE / "loose"))) == 1


def test_relative_refs_next_to_the_schema_are_followed() -> None:
    bad = one(CONFIGMAP.replace('"9080"', "9080").replace("name: reviews-settings", "name: 7"))
    assert where(check(bad, str(HERE / "split"))) == [
        (("metadata", "name"), "expected a string, got the integer 7", 4, 9),
        (("data", "port"), "expected a string, got the integer 9080", 8, 9),
    ]


def test_file_url_location() -> None:
    bad = one(CONFIGMAP.replace('"9080"', "9080"))
    assert len(check(bad, (HERE / "schemas").resolve().as_uri())) == 1


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("schemas/{Kind}.json", "unknown placeholder Kind"),
        ("schemas/{{ .Kind }}.json", "unknown placeholder Kind"),
        ("schemas/{{ .ResourceKind | lower }}.json", "only simple placeholders"),
        ("ftp://example.com/schemas", "unsupported scheme ftp://"),
        ("no/such/folder", "no such folder"),
        ("  ", "empty"),
    ],
)
def test_bad_locations_are_usage_errors(location: str, message: str) -> None:
    with pytest.raises(ExternalSchemaError, match=message.replace("|", r"\|")):
        SchemaStore([location])


def test_a_file_is_not_a_folder() -> None:
    with pytest.raises(ExternalSchemaError, match="is a file"):
        SchemaStore([str(HERE / "schemas" / "configmap-v1.json")])


def test_bad_location_is_reported_once() -> None:
    res = one(CONFIGMAP)
    with pytest.raises(ExternalSchemaError):
        list(external_findings(res, ["no/such/folder"]))
    assert list(external_findings(res, ["no/such/folder"])) == []


# --- schemas that cannot be used: one clear usage error ----------------------------------------


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        (
            "broken",
            "broken/configmap-v1.json (for ConfigMap v1) is not valid JSON: "
            "Expecting ',' delimiter at line 5, column 5",
        ),
        (
            "invalid",
            "invalid/configmap-v1.json (for ConfigMap v1) is not a valid JSON Schema: "
            "'dictionary' is not valid under any of the given schemas "
            "(at /properties/data/type)",
        ),
        (
            "dangling",
            "dangling/configmap-v1.json (for ConfigMap v1) has a $ref that cannot be "
            "resolved: _definitions.json#/definitions/io.k8s.api.core.v1.ConfigMap "
            "(there is no ",
        ),
    ],
)
def test_unusable_schema_is_one_usage_error(folder: str, expected: str) -> None:
    first, second = resources(CONFIGMAP + "---\n" + CONFIGMAP)
    location = str(HERE / folder)
    with pytest.raises(ExternalSchemaError) as info:
        list(external_findings(first, [location]))
    message = str(info.value)
    assert isinstance(info.value, ConfigError)  # the CLI's usage error: exit status 2
    assert expected in message
    assert "Traceback" not in message and "\n" not in message
    # Reported once: the kind is skipped from then on.
    assert list(external_findings(second, [location])) == []


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    (tmp_path / "configmap-v1.json").write_text("[1, 2]")
    with pytest.raises(ExternalSchemaError, match="its top level is a list"):
        check(one(CONFIGMAP), str(tmp_path))


def test_schema_store_is_per_run(tmp_path: Path) -> None:
    bad = one(CONFIGMAP.replace('"9080"', "9080"))
    shutil.copy(HERE / "loose" / "configmap-v1.json", tmp_path / "configmap-v1.json")
    assert check(bad, str(tmp_path)) == []
    shutil.copy(HERE / "schemas" / "configmap-v1.json", tmp_path / "configmap-v1.json")
    assert check(bad, str(tmp_path)) == []  # cached within the run
    reset_cache()
    assert len(check(bad, str(tmp_path))) == 1
    store = SchemaStore([str(tmp_path)])
    assert len(list(external_findings(bad, store))) == 1


# --- http(s), without a network ----------------------------------------------------------------


class _Response(io.BytesIO):
    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


def test_remote_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    body = (HERE / "schemas" / "configmap-v1.json").read_bytes()
    asked: list[str] = []

    def urlopen(request: object, timeout: float) -> _Response:
        url = request.full_url  # type: ignore[attr-defined]
        asked.append(url)
        assert timeout == external.FETCH_TIMEOUT
        if url.endswith("/configmap-v1.json"):
            return _Response(body)
        raise urllib.error.HTTPError(url, 404, "Not Found", None, None)  # type: ignore[arg-type]

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    bad = one(CONFIGMAP.replace('"9080"', "9080"))
    assert len(check(bad, "https://schemas.example.com/k8s/")) == 1
    assert asked == [
        "https://schemas.example.com/k8s/configmap_v1.json",
        "https://schemas.example.com/k8s/configmap-v1.json",
    ]
    assert check(bad, "https://schemas.example.com/k8s/") != []
    assert len(asked) == 2  # read once
    secret = one("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    assert check(secret, "https://schemas.example.com/{kind}.json") == []  # 404: no schema


def test_unreachable_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def urlopen(request: object, timeout: float) -> _Response:
        raise urllib.error.URLError(OSError("Network is unreachable"))

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    with pytest.raises(ExternalSchemaError) as info:
        check(one(CONFIGMAP), "https://schemas.example.com/{kind}-{version}.json")
    assert str(info.value).startswith(
        "cannot fetch the schema https://schemas.example.com/configmap-v1.json "
        "(for ConfigMap v1): Network is unreachable (waited at most 5s;"
    )


def test_http_error_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def urlopen(request: object, timeout: float) -> _Response:
        raise urllib.error.HTTPError("u", 500, "Internal Server Error", None, None)  # type: ignore[arg-type]

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    with pytest.raises(ExternalSchemaError, match="HTTP 500 Internal Server Error"):
        check(one(CONFIGMAP), "https://schemas.example.com/{kind}.json")


# --- the rule --------------------------------------------------------------------------------


def test_rule_metadata_and_examples() -> None:
    r = rules.get("ML210")
    assert r is not None and r is rules.get("external-schema")
    assert r.scope == "stage" and r.check is None
    assert "--schema-location" in r.rationale
    bad, good = one(r.bad), one(r.good)
    assert where(check(bad)) == [
        (("data", "port"), "expected a string, got the integer 9080", 7, 9),
        (("data", "verbose"), "expected a string, got the boolean true", 8, 12),
    ]
    assert check(good) == []
