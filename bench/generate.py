"""Generate a realistic mesh repository of N services over 10 namespaces, deterministically.

Each service gets one file with its ServiceAccount, Service, Deployment, VirtualService (several
routes: header match, canary weights, retries, timeouts; bound to the sidecars and to its
namespace's Gateway), DestinationRule (subsets, connection pool, outlier detection, TLS) and
AuthorizationPolicy (allowing another service of its namespace). Each namespace gets a file with
its Namespace, PeerAuthentication, Telemetry and Gateway; `istio-system` holds the ingress
gateway's Deployment and Service. The mesh is consistent: every reference resolves, so a linter
that reports anything on it raises a false alarm.

With ``findings`` (``--findings``), two thirds of the services carry the slips real repositories
have, all warnings, so that the mesh still translates: a weight on a route's only destination,
a mirror to an external host no ServiceEntry defines,
retries that outlast the route's timeout, a subset no pod carries, a principal of another trust
domain, the deprecated LEAST_CONN and a connect timeout under 100ms.

    python bench/generate.py 1000 bench/out/mesh-1000 [--findings]
    python bench/generate.py 1000 bench/out/one-1000.yaml --one-file [--findings]
    python bench/generate.py 1000 bench/out/big-1000.yaml --big-file
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

NAMESPACES = 10


def service_file(i: int, rng: random.Random, findings: bool = False) -> str:
    ns = f"team-{i % NAMESPACES}"
    slip = findings and i % 3 != 2  # this service carries slips; which ones varies with i
    name = f"svc-{i:05d}"
    peer = f"svc-{i - NAMESPACES if i >= NAMESPACES else i:05d}"  # a service of the same namespace
    versions = ["v1", "v2"] if i % 3 else ["v1", "v2", "v3"]
    port = rng.choice([8080, 9080, 8000])
    docs = [
        f"""\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}
  namespace: {ns}
""",
        f"""\
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
  labels:
    app: {name}
spec:
  selector:
    app: {name}
  ports:
  - name: http
    port: {port}
    targetPort: {port}
""",
    ]
    for v in versions:
        docs.append(f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}-{v}
  namespace: {ns}
  labels:
    app: {name}
    version: {v}
spec:
  replicas: {rng.randint(1, 5)}
  selector:
    matchLabels:
      app: {name}
      version: {v}
  template:
    metadata:
      labels:
        app: {name}
        version: {v}
      annotations:
        sidecar.istio.io/inject: "true"
    spec:
      serviceAccountName: {name}
      containers:
      - name: app
        image: registry.example.com/{name}:{v}
        ports:
        - containerPort: {port}
        resources:
          requests: {{cpu: 100m, memory: 128Mi}}
""")
    w = rng.randint(60, 95)
    docs.append(f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {name}
  namespace: {ns}
spec:
  hosts:
  - {name}
  - {name}.{ns}.example.com
  gateways:
  - mesh
  - {ns}-gateway
  http:
  - name: canary-header
    match:
    - headers:
        x-canary:
          exact: "true"
      uri:
        prefix: /api/
    route:
    - destination:
        host: {name}
        subset: {versions[-1]}
        port:
          number: {port}{_lines(slip, "      weight: 90")}
    timeout: 5s
  - name: admin
    match:
    - uri:
        regex: "^/admin/[a-z]+$"
    fault:
      abort:
        httpStatus: 403
        percentage:
          value: 100
    route:
    - destination:
        host: {name}
        subset: v1
  - name: default
    route:
    - destination:
        host: {name}
        subset: v1
      weight: {w}
    - destination:
        host: {name}
        subset: v2
      weight: {100 - w}
    retries:
      attempts: {5 if slip and i % 2 else 3}
      perTryTimeout: {"3s" if slip and i % 2 else "2s"}
      retryOn: connect-failure,refused-stream,unavailable
    timeout: 10s{_lines(slip and i % 6 == 0, "    mirror:", "      host: shadow.partner.example")}
    headers:
      request:
        set:
          x-routed-by: mesh
""")
    subsets = "".join(
        f"""\
  - name: {v}
    labels:
      version: {v}
"""
        for v in versions + (["v9"] if slip and i % 4 == 0 else [])
    )
    docs.append(f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: {name}
  namespace: {ns}
spec:
  host: {name}.{ns}.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: {rng.choice([100, 200, 500])}
        connectTimeout: {"50ms" if slip and i % 5 == 0 else "1s"}
      http:
        http1MaxPendingRequests: 100
        maxRequestsPerConnection: 10
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 10s
      baseEjectionTime: 30s
      maxEjectionPercent: 50
    loadBalancer:
      simple: {"LEAST_CONN" if slip and i % 5 == 0 else "LEAST_REQUEST"}
    tls:
      mode: ISTIO_MUTUAL
  subsets:
{subsets}""")
    docs.append(f"""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: {name}-allow
  namespace: {ns}
spec:
  selector:
    matchLabels:
      app: {name}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["{"example.org" if slip and i % 7 == 0 else "cluster.local"}/ns/{ns}/sa/{peer}"]
    to:
    - operation:
        methods: ["GET", "POST"]
        paths: ["/api/*"]
""")
    return "---\n".join(docs)


def _lines(when: bool, *lines: str) -> str:
    return "".join("\n" + line for line in lines) if when else ""


def namespace_file(n: int) -> str:
    ns = f"team-{n}"
    return f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
  labels:
    istio-injection: enabled
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: {ns}
spec:
  mtls:
    mode: STRICT
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: default
  namespace: {ns}
spec:
  accessLogging:
  - providers:
    - name: envoy
  tracing:
  - randomSamplingPercentage: 10.0
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: {ns}-gateway
  namespace: {ns}
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "*.{ns}.example.com"
"""


INGRESS = """\
apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
spec:
  type: LoadBalancer
  selector:
    istio: ingressgateway
  ports:
  - name: http2
    port: 80
    targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istio-ingressgateway
  namespace: istio-system
spec:
  replicas: 2
  selector:
    matchLabels:
      istio: ingressgateway
  template:
    metadata:
      labels:
        istio: ingressgateway
    spec:
      containers:
      - name: istio-proxy
        image: docker.io/istio/proxyv2:1.27.0
        ports:
        - containerPort: 8080
"""


def generate(services: int, out: Path, findings: bool = False) -> int:
    """Write the corpus; returns the number of files."""
    rng = random.Random(services)
    (out / "istio-system").mkdir(parents=True, exist_ok=True)
    (out / "istio-system" / "ingress.yaml").write_text(INGRESS, encoding="utf-8")
    count = 1
    for n in range(NAMESPACES):
        folder = out / f"team-{n}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "namespace.yaml").write_text(namespace_file(n), encoding="utf-8")
        count += 1
    for i in range(services):
        folder = out / f"team-{i % NAMESPACES}"
        (folder / f"svc-{i:05d}.yaml").write_text(service_file(i, rng, findings), encoding="utf-8")
        count += 1
    return count


ROUTES = 100  # header-matched routes in each VirtualService of the one-big-file variant


def big_virtual_service(i: int, routes: int = ROUTES) -> str:
    """A VirtualService for the host `reviews` with ``routes`` header-matched routes, each to a
    subset: the document the one-big-file variant is made of (every one claims the same host,
    as a repository of generated routes does)."""
    lines = [
        "apiVersion: networking.istio.io/v1",
        "kind: VirtualService",
        "metadata:",
        f"  name: reviews-{i:05d}",
        "  namespace: bookinfo",
        "spec:",
        "  hosts:",
        "  - reviews",
        "  http:",
    ]
    for r in range(routes):
        lines += [
            f"  - match: [{{headers: {{end-user: {{exact: user-{i}-{r}}}}}}}]",
            f"    route: [{{destination: {{host: reviews, subset: v{r % 3 + 1}}}}}]",
        ]
    return "\n".join(lines) + "\n"


def generate_big_file(resources: int, out: Path) -> int:
    """One file of ``resources`` large VirtualServices (see :func:`big_virtual_service`);
    returns its size in bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for i in range(resources):
            fh.write("---\n" if i else "")
            fh.write(big_virtual_service(i))
    return out.stat().st_size


def generate_one_file(services: int, out: Path, findings: bool = False) -> int:
    """The repository of :func:`generate` as ONE multi-document file; returns its size."""
    rng = random.Random(services)
    parts = [INGRESS] + [namespace_file(n) for n in range(NAMESPACES)]
    parts += [service_file(i, rng, findings) for i in range(services)]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("---\n".join(p if p.endswith("\n") else p + "\n" for p in parts), "utf-8")
    return out.stat().st_size


if __name__ == "__main__":
    flags = {a for a in sys.argv[1:] if a.startswith("--")}
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 1000
    if "--big-file" in flags:
        target = Path(args[1]) if len(args) > 1 else Path(f"bench/out/big-{n}.yaml")
        print(f"{generate_big_file(n, target):,} bytes in {target}")
    elif "--one-file" in flags:
        target = Path(args[1]) if len(args) > 1 else Path(f"bench/out/one-{n}.yaml")
        print(f"{generate_one_file(n, target, '--findings' in flags):,} bytes in {target}")
    else:
        target = Path(args[1]) if len(args) > 1 else Path(f"bench/out/mesh-{n}")
        print(f"{generate(n, target, '--findings' in flags)} files in {target}")
