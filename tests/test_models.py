"""The typed models: coverage of Istio's CRDs, the real-world corpus, and messages in user terms."""

from __future__ import annotations

import os
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from meshlint.loader import load_paths
from meshlint.models import SchemaIssue, known_fields, parse, validate
from meshlint.models.registry import BY_GROUP_KIND, KINDS, KindInfo, split_api_version

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
CRDS = CORPUS / "istio-crds.yaml"
FIXTURES = Path(__file__).parent / "fixtures" / "models"
MESH_KINDS = [k for k in KINDS if k.mesh]


def info_of(kind: str, group: str | None = None) -> KindInfo:
    return next(k for k in KINDS if k.kind == kind and (group is None or k.group == group))


VS = info_of("VirtualService")
DR = info_of("DestinationRule")


# --------------------------------------------------------------------------------------------
# Corpus helpers


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, version) → the OpenAPI schema of every served version in Istio's CRD bundle."""
    assert CRDS.is_file(), f"{CRDS} is missing: the tests need ../shared/corpus beside the repo"
    out = {}
    for doc in yaml.load_all(CRDS.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        for version in doc["spec"]["versions"]:
            if version.get("served"):
                kind = doc["spec"]["names"]["kind"]
                out[kind, version["name"]] = version["schema"]["openAPIV3Schema"]
    return out


def corpus_documents(*patterns: str) -> Iterator[tuple[str, KindInfo, dict[str, Any], str | None]]:
    """(file:line, kind, data without _err, Istio's error or None) of every modelled document."""
    files: list[str] = []
    for pattern in patterns:
        found = sorted(str(p) for p in CORPUS.glob(pattern))
        assert found, f"no files match {CORPUS}/{pattern}"
        files += found
    result = load_paths(files)
    for doc in result.documents:
        data = doc.data
        if not isinstance(data, dict):
            continue
        group, _ = split_api_version(str(data.get("apiVersion", "")))
        info = BY_GROUP_KIND.get((group, str(data.get("kind"))))
        if info is None:
            continue  # other kinds (Gateway API, EnvoyFilter, ...)
        err = data.get("_err")
        data = {k: v for k, v in data.items() if k != "_err"}
        where = f"{Path(doc.source.name).relative_to(CORPUS)}:{doc.line}"
        yield where, info, data, (str(err) if err is not None else None)


def show(issues: list[SchemaIssue]) -> str:
    return "\n".join(f"  {'.'.join(map(str, i.path))}: [{i.kind}] {i.message}" for i in issues)


# --------------------------------------------------------------------------------------------
# Coverage of the CRDs: every property path, no more, no less


def crd_paths(schema: dict[str, Any], prefix: str) -> set[str]:
    out: set[str] = set()
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{name}"
        out |= {path} | crd_paths(sub, path)
    if isinstance(schema.get("items"), dict):
        out |= {prefix + "[]"} | crd_paths(schema["items"], prefix + "[]")
    if isinstance(schema.get("additionalProperties"), dict):
        path = prefix + "{}"
        out |= {path} | crd_paths(schema["additionalProperties"], path)
    return out


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def model_paths(tp: Any, prefix: str) -> set[str]:
    tp = _unwrap(tp)
    out: set[str] = set()
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, field in tp.model_fields.items():
            path = f"{prefix}.{field.alias or name}"
            out |= {path} | model_paths(field.annotation, path)
    elif typing.get_origin(tp) is list:
        out |= {prefix + "[]"} | model_paths(typing.get_args(tp)[0], prefix + "[]")
    elif typing.get_origin(tp) is dict:
        out |= {prefix + "{}"} | model_paths(typing.get_args(tp)[1], prefix + "{}")
    return out


@pytest.mark.parametrize(
    "info,version",
    [(k, v) for k in MESH_KINDS for v in k.versions],
    ids=lambda x: x.kind if isinstance(x, KindInfo) else x,
)
def test_model_has_every_crd_field_and_no_other(info: KindInfo, version: str) -> None:
    schema = crd_schemas().get((info.kind, version))
    assert schema is not None, f"Istio's CRDs do not serve {info.kind} {version}"
    assert set(schema["properties"]) <= set(info.model.model_fields)  # spec, status
    istio = crd_paths(schema["properties"]["spec"], "spec")
    ours = model_paths(info.model.model_fields["spec"].annotation, "spec")
    missing, extra = sorted(istio - ours), sorted(ours - istio)
    assert not missing and not extra, (
        f"{info.kind} {version}: missing from our model {missing}; not in Istio's CRD {extra}"
    )


def test_registry_versions_are_the_crds_served_versions() -> None:
    served: dict[str, set[str]] = {}
    for kind, version in crd_schemas():
        served.setdefault(kind, set()).add(version)
    for info in MESH_KINDS:
        assert set(info.versions) == served[info.kind], info.kind


# --------------------------------------------------------------------------------------------
# The real-world corpus


def test_istio_samples_validate_cleanly() -> None:
    docs = list(corpus_documents("istio-samples/**/*.yaml"))
    assert len([d for d in docs if d[1].mesh]) >= 60
    failures = [
        f"{where} {info.kind}\n{show(issues)}"
        for where, info, data, _ in docs
        if (issues := validate(info, data))
    ]
    assert not failures, "\n".join(failures)
    for _, info, data, _ in docs:
        assert isinstance(parse(info, data), info.model)


def test_istio_crd_testdata_valid_cases_validate_cleanly() -> None:
    docs = list(corpus_documents("istio-crd-testdata/*-valid.yaml"))
    assert len(docs) >= 15
    failures = [
        f"{where} {info.kind}\n{show(issues)}"
        for where, info, data, _ in docs
        if (issues := validate(info, data))
    ]
    assert not failures, "\n".join(failures)


def test_istio_crd_testdata_invalid_cases_report() -> None:
    docs = [d for d in corpus_documents("istio-crd-testdata/*-invalid.yaml") if d[3] is not None]
    rejected = [(where, err) for where, info, data, err in docs if validate(info, data)]
    print(
        f"\nmodels alone reject {len(rejected)} of {len(docs)} invalid CRD test cases "
        "(the others need CEL rules or Istio's webhook checks: lint rules)"
    )


# --------------------------------------------------------------------------------------------
# Messages in the user's terms, at the exact path


def load_fixture(name: str) -> dict[str, Any]:
    docs = load_paths([str(FIXTURES / name)]).documents
    assert len(docs) == 1
    data: dict[str, Any] = docs[0].data
    return data


def issues_by_path(
    info: KindInfo, data: dict[str, Any]
) -> dict[tuple[str | int, ...], SchemaIssue]:
    issues = validate(info, data)
    by_path = {i.path: i for i in issues}
    assert len(by_path) == len(issues), f"two issues on one path:\n{show(issues)}"
    return by_path


def vs(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "r"},
        "spec": spec,
    }


def test_mistakes_fixture_reports_each_problem_once_at_its_path() -> None:
    found = issues_by_path(VS, load_fixture("virtualservice-mistakes.yaml"))
    assert set(found) == {
        ("spec", "hosts"),
        ("spec", "http", 0, "retires"),
        ("spec", "http", 0, "route", 0, "destination", "port", "number"),
        ("spec", "http", 1, "route", 0, "destination", "host"),
        ("spec", "http", 1, "timeout"),
        ("spec", "http", 1, "match", 0, "uri"),
        ("spec", "http", 1, "match", 0, "name"),
    }, show(list(found.values()))
    for issue in found.values():
        text = issue.message.lower()
        assert "input should" not in text and "pydantic" not in text, issue
        assert " str " not in f" {text} " and "dict" not in text, issue


def test_unknown_field_suggests_the_closest_name() -> None:
    issue = issues_by_path(VS, vs({"http": [{"retires": {"attempts": 3}}]}))[
        ("spec", "http", 0, "retires")
    ]
    assert issue.kind == "unknown_field"
    assert issue.suggestion == "retries"
    assert "retires" in issue.message


@pytest.mark.parametrize(
    "typo,expected",
    [
        ("perTryTimeOut", "perTryTimeout"),
        ("per_try_timeout", "perTryTimeout"),
        ("atempts", "attempts"),
        ("zzzzzz", None),
    ],
)
def test_unknown_field_suggestions(typo: str, expected: str | None) -> None:
    issue = issues_by_path(VS, vs({"http": [{"retries": {typo: "2s"}}]}))[
        ("spec", "http", 0, "retries", typo)
    ]
    assert (issue.kind, issue.suggestion) == ("unknown_field", expected)


def test_unknown_top_level_field() -> None:
    data = vs({"hosts": ["a"]}) | {"Spec": {}}
    issue = issues_by_path(VS, data)[("Spec",)]
    assert (issue.kind, issue.suggestion) == ("unknown_field", "spec")


def test_list_given_a_string_is_reported_at_the_field() -> None:
    issue = issues_by_path(VS, vs({"hosts": "reviews"}))[("spec", "hosts")]
    assert issue.kind == "wrong_type"
    assert issue.message.startswith("expected a list, got the string 'reviews'")


def test_string_given_an_integer() -> None:
    issue = issues_by_path(VS, vs({"http": [{"match": [{"name": 80}]}]}))[
        ("spec", "http", 0, "match", 0, "name")
    ]
    assert (issue.kind, issue.message) == ("wrong_type", "expected a string, got the integer 80")


def test_integer_given_a_string() -> None:
    spec = {"http": [{"route": [{"destination": {"host": "a", "port": {"number": "80"}}}]}]}
    issue = issues_by_path(VS, vs(spec))[
        ("spec", "http", 0, "route", 0, "destination", "port", "number")
    ]
    assert (issue.kind, issue.message) == ("wrong_type", "expected an integer, got the string '80'")


def test_number_fields_accept_integers_and_booleans_are_not_numbers() -> None:
    spec = {
        "http": [{"route": [{"destination": {"host": "a"}}], "mirrorPercentage": {"value": 50}}]
    }
    assert validate(VS, vs(spec)) == []
    spec["http"][0]["mirrorPercentage"] = {"value": True}
    (issue,) = validate(VS, vs(spec))
    assert issue.kind == "wrong_type" and issue.message == "expected a number, got the boolean true"


def test_object_given_a_scalar() -> None:
    issue = issues_by_path(VS, vs({"http": [{"retries": "3"}]}))[("spec", "http", 0, "retries")]
    assert issue.kind == "wrong_type"
    assert issue.message.startswith("expected a mapping (with fields such as attempts")


def test_missing_required_field() -> None:
    spec = {"http": [{"route": [{"destination": {"subset": "v1"}}]}]}
    issue = issues_by_path(VS, vs(spec))[("spec", "http", 0, "route", 0, "destination", "host")]
    assert (issue.kind, issue.message) == ("missing", "missing required field 'host'")


def test_enum_message_and_suggestion() -> None:
    data = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "r"},
        "spec": {"host": "a", "trafficPolicy": {"loadBalancer": {"simple": "LEAST_CONNN"}}},
    }
    issue = issues_by_path(DR, data)[("spec", "trafficPolicy", "loadBalancer", "simple")]
    assert issue.kind == "invalid"
    assert issue.message == (
        "'LEAST_CONNN' is not one of UNSPECIFIED, LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, "
        "LEAST_REQUEST"
    )
    # the closest value is LEAST_CONN, which is deprecated (ML518): its replacement is proposed
    assert issue.suggestion == "LEAST_REQUEST"


@pytest.mark.parametrize(
    "match,ok",
    [
        ({"exact": "/a"}, True),
        ({"prefix": "/a"}, True),
        ({"regex": "/a.*"}, True),
        ({}, True),
        ({"exact": "/a", "prefix": "/b"}, False),
        ({"exact": "", "regex": ""}, False),
        ({"exact": "/a", "prefix": "/b", "regex": "c"}, False),
    ],
)
def test_string_match_allows_one_of_exact_prefix_regex(match: dict[str, str], ok: bool) -> None:
    issues = validate(VS, vs({"http": [{"match": [{"uri": match}]}]}))
    if ok:
        assert issues == []
        return
    (issue,) = issues
    assert issue.path == ("spec", "http", 0, "match", 0, "uri")
    assert issue.kind == "invalid"
    assert issue.message.startswith("set only one of exact, prefix or regex; this sets exact")


def test_one_of_in_map_values_and_groups() -> None:
    spec = {"http": [{"match": [{"headers": {"x-user": {"exact": "a", "regex": "b"}}}]}]}
    (issue,) = validate(VS, vs(spec))
    assert issue.path == ("spec", "http", 0, "match", 0, "headers", "x-user")
    lb = {"consistentHash": {"httpHeaderName": "x", "useSourceIp": True, "maglev": {}}}
    data = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "spec": {"host": "a", "trafficPolicy": {"loadBalancer": lb}},
    }
    (issue,) = validate(DR, data)
    assert issue.path == ("spec", "trafficPolicy", "loadBalancer", "consistentHash")
    assert "httpHeaderName and useSourceIp" in issue.message


@pytest.mark.parametrize(
    "value",
    ["30s", "1h30m", "100ms", "1.5s", ".5s", "2us", "2µs", "10ns", "-1s", "+3m", "0", "1h2m3s4ms"],
)
def test_duration_accepted(value: str) -> None:
    assert validate(VS, vs({"http": [{"timeout": value}]})) == []


@pytest.mark.parametrize(
    "value", ["1d", "30", "s", "1 s", "1h30", "1.5", "", "1hm", "30 seconds", "1e3s"]
)
def test_duration_rejected(value: str) -> None:
    (issue,) = validate(VS, vs({"http": [{"timeout": value}]}))
    assert issue.path == ("spec", "http", 0, "timeout")
    assert issue.kind == "invalid"
    assert issue.message == (
        f"'{value}' is not a duration: use a number with a unit h, m, s, ms, us or ns, "
        "e.g. 30s or 1h30m"
    )


def test_duration_given_a_number_is_a_wrong_type() -> None:
    (issue,) = validate(VS, vs({"http": [{"timeout": 30}]}))
    assert (issue.kind, issue.message) == ("wrong_type", "expected a string, got the integer 30")


@pytest.mark.parametrize(
    "value,ok", [(0, True), (4294967295, True), (4294967296, False), (-1, False)]
)
def test_uint32_range(value: int, ok: bool) -> None:
    spec = {"http": [{"route": [{"destination": {"host": "a", "port": {"number": value}}}]}]}
    issues = validate(VS, vs(spec))
    assert (issues == []) is ok
    if not ok:
        assert issues[0].kind == "invalid"
        assert str(value) in issues[0].message


def test_int32_range() -> None:
    spec = {"http": [{"retries": {"attempts": 2**31}}]}
    (issue,) = validate(VS, vs(spec))
    assert issue.message == "2147483648 is too large: it must be at most 2147483647"


def test_list_and_map_sizes() -> None:
    info = info_of("ServiceEntry")
    data = {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry", "spec": {"hosts": []}}
    (issue,) = validate(info, data)
    assert (issue.path, issue.message) == (("spec", "hosts"), "needs at least 1 item, got 0")


def test_null_value_and_document_shape() -> None:
    (issue,) = validate(VS, vs({"http": [None]}))
    assert issue.path == ("spec", "http", 0) and "got an empty value (null)" in issue.message
    (issue,) = validate(VS, ["not", "a", "mapping"])  # type: ignore[arg-type]
    assert (issue.path, issue.kind) == ((), "wrong_type")


def test_metadata_without_space_after_colon() -> None:
    data = vs({}) | {"metadata": "name:熔断配置"}
    (issue,) = validate(VS, data)
    assert issue.path == ("metadata",) and issue.kind == "wrong_type"
    assert "space" in issue.message


def test_api_version_must_be_served() -> None:
    data = vs({}) | {"apiVersion": "networking.istio.io/v2"}
    (issue,) = validate(VS, data)
    assert (issue.path, issue.kind, issue.suggestion) == (
        ("apiVersion",),
        "invalid",
        "networking.istio.io/v1",
    )
    assert parse(VS, data) is None


def test_snake_case_alias_fields_are_fields() -> None:
    spec = {"http": [{"route": [{"destination": {"host": "a"}}], "mirror_percent": 5}]}
    assert validate(VS, vs(spec)) == []
    model = parse(VS, vs(spec))
    assert model is not None
    assert model.spec.http[0].mirror_percent_snake == 5  # type: ignore[attr-defined]


def test_parse_gives_typed_models_with_python_names() -> None:
    model = parse(VS, load_fixture("kubectl-get-virtualservice.yaml"))
    assert model is not None
    assert model.metadata.name == "reviews"  # type: ignore[attr-defined]
    assert model.metadata.resource_version == "123456"  # type: ignore[attr-defined]
    route = model.spec.http[0].route[0]  # type: ignore[attr-defined]
    assert (route.destination.host, route.destination.subset) == ("reviews", "v1")
    assert parse(VS, vs({"hosts": "x"})) is None


def test_kubectl_output_with_server_fields_validates() -> None:
    data = load_fixture("kubectl-get-virtualservice.yaml")
    assert validate(VS, data) == []
    data["metadata"]["creationTimestamp"] = None  # kubectl create --dry-run -o yaml
    assert validate(VS, data) == []


def test_metadata_is_strict_for_istio_kinds() -> None:
    data = vs({}) | {"metadata": {"name": "a", "lables": {"app": "x"}}}
    (issue,) = validate(VS, data)
    assert (issue.path, issue.suggestion) == (("metadata", "lables"), "labels")


def test_known_fields() -> None:
    assert "retries" in known_fields(VS, ("spec", "http", 0))
    assert known_fields(VS, ("spec", "http", 0, "retries"))[:2] == ["attempts", "perTryTimeout"]
    assert set(known_fields(VS, ("spec", "http", 0, "match", 0, "headers", "x-a"))) == {
        "exact",
        "prefix",
        "regex",
    }
    assert "apiVersion" in known_fields(VS, ())
    assert known_fields(VS, ("spec", "hosts")) == []
    assert known_fields(VS, ("spec", "nope", 3)) == []


# --------------------------------------------------------------------------------------------
# Kubernetes kinds: permissive, but typed where modelled


def test_deployment_with_unknown_fields_passes() -> None:
    info = info_of("Deployment")
    data = load_fixture("deployment-extra-fields.yaml")
    assert validate(info, data) == []
    model = parse(info, data)
    assert model is not None
    pod = model.spec.template  # type: ignore[attr-defined]
    assert pod.spec.service_account_name == "bookinfo-reviews"
    assert pod.spec.containers[0].ports[0].container_port == 9080
    assert pod.metadata.labels == {"app": "reviews", "version": "v1"}


def test_deployment_wrong_types_and_missing_selector() -> None:
    info = info_of("Deployment")
    data = load_fixture("deployment-extra-fields.yaml")
    data["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "9080"
    del data["spec"]["selector"]
    found = issues_by_path(info, data)
    assert found[("spec", "selector")].kind == "missing"
    port = found[("spec", "template", "spec", "containers", 0, "ports", 0, "containerPort")]
    assert port.kind == "wrong_type"


def test_service_target_port_is_int_or_string() -> None:
    info = info_of("Service")
    data = load_fixture("service-ports.yaml")
    assert validate(info, data) == []
    data["spec"]["ports"][0]["targetPort"] = [9080]
    (issue,) = validate(info, data)
    assert issue.path == ("spec", "ports", 0, "targetPort")
    assert issue.message == "expected an integer or a string, got a list"


# --------------------------------------------------------------------------------------------
# Cheap to import


def test_importing_models_builds_no_pydantic_model() -> None:
    code = (
        "import sys, meshlint.models, meshlint.models.registry as r; "
        "assert not any(m.startswith('pydantic') for m in sys.modules), 'pydantic imported'; "
        "assert 'meshlint.models.networking' not in sys.modules; "
        "r.KINDS[0].model; "
        "assert not r.KINDS[0].model.__pydantic_complete__, 'validator built at import'"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env=env)


def test_map_keys_typed_by_yaml_are_strings() -> None:
    info = info_of("PeerAuthentication")
    data = yaml.safe_load(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a}\n"
        "spec:\n  selector: {matchLabels: {app: a}}\n  portLevelMtls:\n    8080: {mode: DISABLE}\n"
    )
    assert validate(info, data) == []
    data["spec"]["portLevelMtls"][8080]["mode"] = "OFF"
    (issue,) = validate(info, data)
    assert issue.path == ("spec", "portLevelMtls", "8080", "mode")


# --------------------------------------------------------------------------------------------
# Unions (none in the Istio models today): their noise collapses into one issue per problem


class _UnionProbe(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    api_version: str = Field(alias="apiVersion")
    value: int | list[str] | None = None


@dataclass(frozen=True)
class _ProbeInfo(KindInfo):
    @property
    def model(self) -> type[BaseModel]:
        return _UnionProbe


PROBE = _ProbeInfo("example.com", "Probe", ("v1",), "v1", "-")


@pytest.mark.parametrize(
    "value,path,message",
    [
        ("x", ("value",), "expected an integer or a list, got the string 'x'"),
        (["a", 1], ("value", 1), "expected a string, got the integer 1"),
    ],
)
def test_union_errors_collapse(value: Any, path: tuple[Any, ...], message: str) -> None:
    issues = validate(PROBE, {"apiVersion": "example.com/v1", "value": value})
    assert [(i.path, i.kind, i.message) for i in issues] == [(path, "wrong_type", message)]
