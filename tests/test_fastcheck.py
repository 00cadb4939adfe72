"""meshlint.models.fastcheck agrees exactly with the pydantic models, and stays free of pydantic.

``models.validate`` (pydantic) is the reference: on every corpus document, and on thousands of
seeded random mutations of them, both give the same issues in the same order.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from meshlint import models, schemas
from meshlint.loader import load_paths
from meshlint.models import SchemaIssue, fastcheck
from meshlint.models.registry import BY_GROUP_KIND, KINDS, KindInfo, split_api_version

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
SOURCES = {
    "istio-samples": [CORPUS / "istio-samples"],
    "istio-crd-testdata": [CORPUS / "istio-crd-testdata"],
    "seed": [CORPUS / "seed"],
    "fixtures": [REPO / "tests" / "fixtures"],
    "examples": [REPO / "examples"],
}

Doc = tuple[str, KindInfo, dict[str, Any]]


@cache
def documents(source: str) -> list[Doc]:
    """(file:line, kind, data without ``_err``) of every document of a modelled kind."""
    files: list[str] = []
    for folder in SOURCES[source]:
        assert folder.is_dir(), f"{folder} is missing"
        files += sorted(str(p) for p in folder.rglob("*") if p.suffix in (".yaml", ".yml"))
    out: list[Doc] = []
    for doc in load_paths(files).documents:
        data = doc.data
        if not isinstance(data, dict):
            continue
        group, _ = split_api_version(str(data.get("apiVersion", "")))
        info = BY_GROUP_KIND.get((group, str(data.get("kind"))))
        if info is None:
            continue
        data = {k: v for k, v in data.items() if k != "_err"}
        out.append((f"{doc.source.name}:{doc.line}", info, data))
    return out


# Kinds the corpus lacks.
EXTRA = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: default
  namespace: shop
spec:
  workloadSelector:
    labels:
      app: reviews
  ingress:
  - port:
      number: 9080
      protocol: HTTP
      name: http
    defaultEndpoint: 127.0.0.1:8080
    captureMode: IPTABLES
    connectionPool:
      tcp:
        maxConnections: 100
        connectTimeout: 3s
  egress:
  - port:
      number: 443
      protocol: TLS
      name: tls
    hosts:
    - ./*
    - istio-system/*
  outboundTrafficPolicy:
    mode: REGISTRY_ONLY
    egressProxy:
      host: egress.istio-system.svc.cluster.local
      port:
        number: 3128
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 3
  serviceName: db
  selector:
    matchLabels:
      app: db
    matchExpressions:
    - key: tier
      operator: In
      values: [data]
  template:
    metadata:
      labels:
        app: db
    spec:
      serviceAccountName: db
      containers:
      - name: db
        image: postgres:16
        ports:
        - containerPort: 5432
          name: tcp-postgres
          protocol: TCP
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    spec:
      hostNetwork: true
      initContainers:
      - name: init
      containers:
      - name: agent
        ports:
        - containerPort: 9100
          hostPort: 9100
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web
  ownerReferences:
  - apiVersion: apps/v1
    kind: Deployment
    name: web
    uid: "1234"
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx
"""


@cache
def extra_documents() -> list[Doc]:
    import yaml

    out: list[Doc] = []
    for i, data in enumerate(yaml.safe_load_all(EXTRA)):
        group, _ = split_api_version(data["apiVersion"])
        out.append((f"EXTRA:{i}", BY_GROUP_KIND[group, data["kind"]], data))
    return out


def all_documents() -> list[Doc]:
    return [d for source in SOURCES for d in documents(source)] + extra_documents()


def show(issues: list[SchemaIssue]) -> str:
    return "\n".join(
        f"    {'.'.join(map(str, i.path))}: [{i.kind}] {i.message} ({i.suggestion})" for i in issues
    )


def assert_agree(where: str, info: KindInfo, data: Any) -> list[SchemaIssue]:
    expected = models.validate(info, data)
    got = fastcheck.validate(info, data)
    assert got == expected, (
        f"{where}: fastcheck differs\n  models:\n{show(expected)}\n  fastcheck:\n{show(got)}\n"
        f"  data: {data!r}"
    )
    return got


# --------------------------------------------------------------------------------------------
# The corpus


@pytest.mark.parametrize("source", list(SOURCES))
def test_corpus_agrees(source: str) -> None:
    docs = documents(source)
    assert docs, f"no documents of a modelled kind in {source}"
    for where, info, data in docs:
        assert_agree(where, info, data)


def test_corpus_covers_every_kind() -> None:
    assert {info.kind for _, info, _ in all_documents()} == {k.kind for k in KINDS}
    for where, info, data in extra_documents():
        assert not assert_agree(where, info, data)


def test_every_version_has_the_schema_of_the_preferred_one() -> None:
    """fastcheck compiles the preferred version's schema for all versions of a kind."""

    def body(info: KindInfo, version: str) -> dict[str, Any]:
        schema = schemas.load(info.api_version(version), info.kind)
        assert schema is not None
        schema = copy.deepcopy(schema)
        for key in ("title", "$schema"):
            schema.pop(key, None)
        schema["properties"].pop("apiVersion")
        return schema

    for info in KINDS:
        for version in info.versions:
            assert body(info, version) == body(info, info.preferred), (info.kind, version)


def test_not_a_mapping_and_unserved_versions() -> None:
    vs = BY_GROUP_KIND["networking.istio.io", "VirtualService"]
    values: list[Any] = [None, [], "text", 5]
    for value in values:
        assert_agree("root", vs, value)
    for api_version in ("networking.istio.io/v9", "v1", 5, None):
        data = {"apiVersion": api_version, "kind": "VirtualService", "spec": {"hosts": ["a"]}}
        assert_agree(str(api_version), vs, data)


def test_map_keys_that_are_not_strings() -> None:
    pa = BY_GROUP_KIND["security.istio.io", "PeerAuthentication"]
    svc = BY_GROUP_KIND["", "Service"]
    head = {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication"}
    assert not assert_agree("int key", pa, {**head, "spec": {"portLevelMtls": {8080: {}}}})
    issues = assert_agree(
        "int key, bad value", pa, {**head, "spec": {"portLevelMtls": {8080: {"mode": "x"}}}}
    )
    assert issues[0].path == ("spec", "portLevelMtls", "8080", "mode")
    assert_agree("int field", pa, {**head, "spec": {1: 2}})
    assert_agree("int extra", svc, {"apiVersion": "v1", "kind": "Service", 5: {True: 1}})


# --------------------------------------------------------------------------------------------
# Mutations

SCALARS: list[Any] = [
    5,
    -1,
    0,
    1.5,
    3.0,
    True,
    False,
    None,
    "",
    "x",
    "foo:bar",
    "30s",
    "STRICT",
    [],
    ["a"],
    [1],
    {},
    {"a": 1},
    {"a": "b"},
    2**31,
    -(2**31) - 1,
    2**32,
    2**64,
    "a" * 300,
]
DURATIONS = ["30", "1x", "1 h", "-", "1.5.s", "1h30", "0", "+.5s", "30s\n", "1d", "ms", "1µs"]


def paths_of(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths_of(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths_of(v, (*path, i))
    return out


def get(data: Any, path: tuple[Any, ...]) -> Any:
    for elem in path:
        data = data[elem]
    return data


def near_miss(rng: random.Random, name: str) -> str:
    if not name:
        return "x"
    i = rng.randrange(len(name))
    choice = rng.randrange(6)
    if choice == 0 and len(name) > 1:  # drop a letter
        return name[:i] + name[i + 1 :]
    if choice == 1 and len(name) > 2:  # swap two letters
        i = min(i, len(name) - 2)
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    if choice == 2:  # double a letter
        return name[:i] + name[i] + name[i:]
    if choice == 3:  # snake_case
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    if choice == 4:
        return name.lower() if name != name.lower() else name.capitalize()
    return name + "s"


def mutate(rng: random.Random, info: KindInfo, data: dict[str, Any]) -> None:
    """One random change somewhere in ``data`` (in place)."""
    path = rng.choice(paths_of(data))
    node = get(data, path)
    parent = get(data, path[:-1]) if path else None
    op = rng.randrange(12)
    if op == 0 and parent is not None:  # change the type (or the value)
        parent[path[-1]] = copy.deepcopy(rng.choice(SCALARS))
    elif op == 1 and isinstance(node, dict) and node:  # an unknown key with a near-miss name
        key = rng.choice([k for k in node if isinstance(k, str)] or ["x"])
        node[near_miss(rng, key)] = copy.deepcopy(node.get(key))
    elif op == 2 and isinstance(parent, dict):  # delete a key (required or not)
        del parent[path[-1]]
    elif op == 3 and isinstance(node, str) and parent is not None:  # a wrong enum value
        parent[path[-1]] = rng.choice([node.lower(), node + "X", node.title(), node[:-1]])
    elif op == 4 and isinstance(node, list) and parent is not None:  # a string for a list
        parent[path[-1]] = node[0] if node and rng.random() < 0.5 else "x"
    elif op == 5 and isinstance(node, int) and parent is not None:  # out-of-range integers
        parent[path[-1]] = rng.choice([-1, 0, 65536, 2**31, 2**32, 2**63, -(2**63) - 1])
    elif op == 6 and isinstance(node, str) and parent is not None:  # bad durations
        parent[path[-1]] = rng.choice(DURATIONS)
    elif op == 7 and parent is not None:  # null
        parent[path[-1]] = None
    elif op == 8 and isinstance(node, dict):  # a real field of the object, some value
        fields = models.known_fields(info, path)
        if fields:
            name = rng.choice(fields)
            siblings = [v for v in node.values() if v is not None]
            pool = [*SCALARS, *siblings] if siblings else SCALARS
            node[name] = copy.deepcopy(rng.choice(pool))
    elif op == 9 and isinstance(node, list) and node:  # repeat an item (same port names)
        node.append(copy.deepcopy(rng.choice(node)))
    elif op == 10 and isinstance(node, dict) and node:  # a key YAML typed (8080:, true:)
        key = rng.choice(list(node))
        node[rng.choice([8080, True, None, 1.5])] = node.pop(key)
    elif op == 11 and isinstance(node, list):  # too many items
        node.extend(copy.deepcopy(node[:1]) * rng.choice([3, 20, 300]))


def test_mutations_agree() -> None:
    rng = random.Random(20240501)
    docs = all_documents()
    by_kind: dict[str, list[Doc]] = {}
    for doc in docs:
        by_kind.setdefault(doc[1].kind, []).append(doc)
    compared = with_issues = 0
    for kind, group in sorted(by_kind.items()):
        rounds = 1000 if kind in {k.kind for k in KINDS if k.mesh} else 300
        for n in range(rounds):
            where, info, data = group[n % len(group)]
            mutated = copy.deepcopy(data)
            for _ in range(rng.choice([1, 1, 2, 3])):
                mutate(rng, info, mutated)
            issues = assert_agree(f"{where} (mutation {n})", info, mutated)
            compared += 1
            with_issues += bool(issues)
    assert compared > 10000
    assert with_issues > compared // 3


def test_issue_kinds_reached_by_mutations() -> None:
    """The mutations reach every kind of issue (so the comparison means something)."""
    rng = random.Random(7)
    seen: set[str] = set()
    messages: set[str] = set()
    for where, info, data in all_documents()[:150]:
        for _ in range(8):
            mutated = copy.deepcopy(data)
            mutate(rng, info, mutated)
            for issue in assert_agree(where, info, mutated):
                seen.add(issue.kind)
                messages.add(issue.message.split(" ")[0])
    assert seen == {"unknown_field", "wrong_type", "missing", "invalid"}


# --------------------------------------------------------------------------------------------
# Hand-written cases of each check

HEADS = {
    info.kind: {"apiVersion": info.api_version(), "kind": info.kind, "metadata": {"name": "a"}}
    for info in KINDS
}

CASES: list[tuple[str, dict[str, Any]]] = [
    ("VirtualService", {"hosts": "a"}),
    ("VirtualService", {"hosts": ["a"], "http": [{"timeout": "30s\n", "retries": 3}]}),
    ("VirtualService", {"hosts": ["a"], "http": [{"timeout": "1h30", "Timeout": "1s"}]}),
    (
        "VirtualService",
        {"hosts": ["a"], "http": [{"match": [{"uri": {"exact": "/", "regex": "."}}]}]},
    ),
    ("VirtualService", {"http": [{"route": [{"destination": "host:reviews"}, {}]}]}),
    ("VirtualService", {"http": [{"directResponse": {"status": 200, "body": {"bytes": "!"}}}]}),
    (
        "VirtualService",
        {"http": [{"mirror_percent": 5, "mirrorPercent": None, "mirrorPrecent": 1}]},
    ),
    ("VirtualService", {"http": [{"fault": {"delay": {"percentage": {"value": "1"}}}}]}),
    ("VirtualService", {"http": [{"mirrorPercentage": {"value": float("nan")}, "mirror": {}}]}),
    ("DestinationRule", {"host": "a", "trafficPolicy": {"loadBalancer": {"simple": "FASTEST"}}}),
    ("DestinationRule", {"host": "a", "trafficPolicy": {"loadBalancer": {"simple": 5}}}),
    (
        "ServiceEntry",
        {"hosts": [], "ports": [{"number": 1, "name": "a"}, {"number": 2, "name": "a"}]},
    ),
    ("ServiceEntry", {"hosts": [1] * 300}),
    ("ServiceEntry", {"hosts": ["a"], "endpoints": [{"labels": {str(i): 5 for i in range(300)}}]}),
    ("ServiceEntry", {"hosts": ["a"], "endpoints": [{"labels": {str(i): "" for i in range(300)}}]}),
    ("PeerAuthentication", {"portLevelMtls": {}}),
    ("AuthorizationPolicy", {"targetRef": {"kind": "a\n", "name": "", "group": "A"}}),
    ("AuthorizationPolicy", {"targetRef": {"kind": "k" * 70, "name": "n"}, "action": "allow"}),
    ("RequestAuthentication", {"jwtRules": [{"outputClaimToHeaders": [{"header": "a b"}]}]}),
    ("Telemetry", {"tracing": [{"customTags": {"a": {"literal": {"value": ""}, "header": {}}}}]}),
    ("Service", {"ports": [{"port": 1, "targetPort": True, "protocol": "tcp"}], "extra": 1}),
    ("Deployment", {"selector": {"matchExpressions": [{"operator": None}]}, "replicas": "3"}),
]


@pytest.mark.parametrize(
    ("kind", "spec"), CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CASES)]
)
def test_cases_agree(kind: str, spec: dict[str, Any]) -> None:
    info = next(k for k in KINDS if k.kind == kind)
    issues = assert_agree(kind, info, {**copy.deepcopy(HEADS[kind]), "spec": spec})
    assert issues


def test_metadata_and_nulls() -> None:
    vs = BY_GROUP_KIND["networking.istio.io", "VirtualService"]
    head = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService"}
    for metadata in (None, "x", {"name": None, "creationTimestamp": None, "labels": {"a": 1}}):
        assert_agree("metadata", vs, {**head, "metadata": metadata, "spec": None})


# --------------------------------------------------------------------------------------------
# Start-up cost

PROBE = """
import sys
from meshlint.models import fastcheck
from meshlint.models.registry import KINDS
data = {
    "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
    "metadata": {"name": "a"},
    "spec": {"hosts": ["a"], "http": [{"route": [{"destination": {"host": 5}}]}]},
}
issues = fastcheck.validate(KINDS[0], data)
assert issues and issues[0].kind == "wrong_type", issues
for info in KINDS:
    fastcheck.validate(info, {"apiVersion": info.api_version(), "kind": info.kind})
print(sorted(m for m in sys.modules if m.split(".")[0] in ("pydantic", "pydantic_core", "jsonschema")))
"""


def test_no_pydantic_on_the_fast_path() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert json.loads(out.stdout.strip().replace("'", '"')) == []
