"""Manifest builders for the scenarios: a namespace `shop` with a client workload `frontend`
and the services it calls."""

from __future__ import annotations

import textwrap


def service(name: str, port: int = 9080, *, namespace: str = "shop", protocol: str = "http") -> str:
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Service
        metadata:
          name: {name}
          namespace: {namespace}
        spec:
          selector:
            app: {name}
          ports:
          - name: {protocol}
            port: {port}
            targetPort: {port}
        """)


def workload(
    name: str,
    labels: dict[str, str] | None = None,
    *,
    account: str | None = None,
    port: int = 9080,
    namespace: str = "shop",
) -> str:
    labels = labels or {"app": name}
    match = "".join(f"      {k}: {v}\n" for k, v in labels.items())
    pod = "".join(f"        {k}: {v}\n" for k, v in labels.items())
    return (
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        f"  name: {name}\n"
        f"  namespace: {namespace}\n"
        "spec:\n"
        "  selector:\n"
        "    matchLabels:\n"
        f"{match}"
        "  template:\n"
        "    metadata:\n"
        "      labels:\n"
        f"{pod}"
        "    spec:\n"
        f"      serviceAccountName: {account or name}\n"
        "      containers:\n"
        f"      - name: {name.split('-')[0]}\n"
        f"        image: shop/{name}:1.0\n"
        "        ports:\n"
        f"        - containerPort: {port}\n"
    )


def doc(text: str) -> str:
    return textwrap.dedent(text).strip("\n") + "\n"


def mesh(*parts: str) -> str:
    """Documents joined into one stream, with the client workload `frontend` first."""
    docs = [
        service("frontend"),
        workload("frontend"),
        *(doc(p) for p in parts),
    ]
    return "---\n".join(docs)
