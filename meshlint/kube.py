"""Read what is deployed in a cluster, as YAML that the linter reads like any file.

``meshlint lint --cluster`` (and ``kubectl meshlint --cluster``) lists the nine mesh kinds and the
Kubernetes kinds the mesh rules read (Namespace, Service, ServiceAccount, Pod, Deployment,
StatefulSet, DaemonSet, ReplicaSet) through the kubernetes client, with the credentials of a
kubeconfig context, and turns each list into a YAML stream:

- one stream per namespace and kind, named ``cluster:<context>/<namespace>/<Kind>``
  (``cluster:<context>/Namespace`` for the namespaces themselves). The ``file`` of a finding on a
  cluster object is that name, and its line and column are places in that generated YAML, which
  the text report shows as the code frame; the ``resource`` (``Kind/namespace/name``) is what
  names the object in the cluster.
- each object as the API server returns it, without what the server writes for itself:
  ``status``, ``metadata.managedFields`` and kubectl's ``last-applied-configuration``
  annotation. A list response leaves ``apiVersion`` and ``kind`` out of its items; they are put
  back. Pods and ReplicaSets run by a controller that is read too (a ReplicaSet, Deployment,
  StatefulSet or DaemonSet) are left out: their template is linted on the controller.

What cannot be read is reported, never raised as a traceback: :class:`ClusterError` stops the run
(no kubeconfig, an unknown context, a cluster that cannot be reached or that refuses the
credentials); a list the cluster forbids (HTTP 403) or does not serve (404: Istio's CRDs are not
installed) becomes a warning and the other kinds are still read.

The kubernetes client is imported here only, inside :func:`fetch`: plain ``meshlint lint`` never
loads it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from meshlint.models.registry import KINDS, KindInfo

if TYPE_CHECKING:
    from meshlint.config import Config
    from meshlint.engine import LintResult

REQUEST_TIMEOUT = 5.0  # seconds, for each request to the API server
PAGE_SIZE = 500
DEFAULT_KUBECONFIG = os.path.join("~", ".kube", "config")

# The resource (plural) names of the mesh kinds in their API groups.
PLURALS: dict[str, str] = {
    "VirtualService": "virtualservices",
    "DestinationRule": "destinationrules",
    "Gateway": "gateways",
    "ServiceEntry": "serviceentries",
    "Sidecar": "sidecars",
    "PeerAuthentication": "peerauthentications",
    "RequestAuthentication": "requestauthentications",
    "AuthorizationPolicy": "authorizationpolicies",
    "Telemetry": "telemetries",
}

# The Kubernetes kinds: (client API class, list in one namespace, list in all namespaces).
_KUBE_LISTS: dict[str, tuple[str, str, str]] = {
    "Service": ("CoreV1Api", "list_namespaced_service", "list_service_for_all_namespaces"),
    "ServiceAccount": (
        "CoreV1Api",
        "list_namespaced_service_account",
        "list_service_account_for_all_namespaces",
    ),
    "Pod": ("CoreV1Api", "list_namespaced_pod", "list_pod_for_all_namespaces"),
    "Deployment": ("AppsV1Api", "list_namespaced_deployment", "list_deployment_for_all_namespaces"),
    "StatefulSet": (
        "AppsV1Api",
        "list_namespaced_stateful_set",
        "list_stateful_set_for_all_namespaces",
    ),
    "DaemonSet": ("AppsV1Api", "list_namespaced_daemon_set", "list_daemon_set_for_all_namespaces"),
    "ReplicaSet": (
        "AppsV1Api",
        "list_namespaced_replica_set",
        "list_replica_set_for_all_namespaces",
    ),
}

_CONTROLLERS = frozenset({"ReplicaSet", "Deployment", "StatefulSet", "DaemonSet"})
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# The apiVersion of a cluster object is the one meshlint asked for, not the user's choice.
_NOT_FOR_CLUSTER_OBJECTS = frozenset({"ML204"})


class ClusterError(Exception):
    """The cluster cannot be read at all; the message says why, for the user."""


@dataclass
class ClusterState:
    """What was read: YAML streams ``(name, text)``, and warnings about what was not."""

    context: str
    streams: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # kinds that could not be read
    requests: int = 0


# --------------------------------------------------------------------------------------------
# kubeconfig


def kubeconfig_paths(explicit: str | None) -> list[str]:
    """The kubeconfig files to read, as kubectl chooses them: ``--kubeconfig``, else the
    files of ``$KUBECONFIG`` (an empty variable counts as unset), else ``~/.kube/config``."""
    if explicit:
        path = os.path.expanduser(explicit)
        if not os.path.isfile(path):
            raise ClusterError(f"kubeconfig {explicit}: no such file")
        return [path]
    env = os.environ.get("KUBECONFIG", "")
    listed = [p for p in env.split(os.pathsep) if p.strip()]
    if listed:
        found = [os.path.expanduser(p) for p in listed if os.path.isfile(os.path.expanduser(p))]
        if not found:
            raise ClusterError(
                "no kubeconfig: none of the files in KUBECONFIG exists ("
                + ", ".join(listed)
                + "); pass --kubeconfig FILE"
            )
        return found
    default = os.path.expanduser(DEFAULT_KUBECONFIG)
    if not os.path.isfile(default):
        raise ClusterError(
            f"no kubeconfig: {default} does not exist and KUBECONFIG is not set; "
            "pass --kubeconfig FILE or set KUBECONFIG"
        )
    return [default]


def _choose_context(
    contexts: list[dict[str, Any]], current: dict[str, Any] | None, wanted: str | None
) -> dict[str, Any]:
    names = [str(c.get("name")) for c in contexts if isinstance(c, dict)]
    if wanted is not None:
        for c in contexts:
            if isinstance(c, dict) and c.get("name") == wanted:
                return c
        known = ", ".join(names) if names else "none"
        raise ClusterError(f"no context {wanted!r} in the kubeconfig (contexts: {known})")
    if not isinstance(current, dict) or not current.get("name"):
        known = ", ".join(names) if names else "none"
        raise ClusterError(
            f"the kubeconfig sets no current-context; choose one with --context (contexts: {known})"
        )
    return current


# --------------------------------------------------------------------------------------------
# YAML that reads back as the same data


_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*\Z")
# Words go-yaml (and so the loader) reads as booleans or null when they are not quoted.
_WORDS = frozenset({"y", "yes", "n", "no", "true", "false", "on", "off", "null"})


class _Dumper(yaml.SafeDumper):
    """Strings stay plain only where any YAML reader sees a string; others are double-quoted
    (``"y"``, ``"0o17"``, ``"12:30"``, ``"8080"``: Kubernetes' reader would not keep them text)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if _PLAIN.match(value) and value.lower() not in _WORDS:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')


_Dumper.add_representer(str, _represent_str)


def to_yaml(objects: Iterable[dict[str, Any]]) -> str:
    """A YAML stream of the objects, one document each, keys in the server's order."""
    return "".join(
        "---\n" + yaml.dump(obj, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        for obj in objects
    )


def clean(obj: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """An item of a list response as a manifest: apiVersion and kind first, without status,
    managed fields and the last-applied annotation."""
    out: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "managedFields"}
            annotations = value.get("annotations")
            if isinstance(annotations, dict) and _LAST_APPLIED in annotations:
                annotations = {k: v for k, v in annotations.items() if k != _LAST_APPLIED}
                if annotations:
                    value["annotations"] = annotations
                else:
                    del value["annotations"]
        out[key] = value
    return out


def _controlled_by_listed(obj: dict[str, Any]) -> bool:
    meta = obj.get("metadata")
    refs = meta.get("ownerReferences") if isinstance(meta, dict) else None
    if not isinstance(refs, list):
        return False
    return any(
        isinstance(r, dict) and r.get("controller") is True and r.get("kind") in _CONTROLLERS
        for r in refs
    )


# --------------------------------------------------------------------------------------------
# Reading the cluster


class _Forbidden(Exception):
    pass


class _NotFound(Exception):
    pass


class _Failed(Exception):
    pass


def fetch(
    context: str | None,
    namespace: str | None,
    all_namespaces: bool,
    kubeconfig: str | None,
    *,
    timeout: float = REQUEST_TIMEOUT,
    root_namespace: str = "istio-system",
) -> ClusterState:
    """Read the mesh and Kubernetes kinds of one namespace (``namespace``, else the context's,
    else ``default``) or of all of them, as YAML streams. Raises :class:`ClusterError`."""
    paths = kubeconfig_paths(kubeconfig)
    try:
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config
        from kubernetes.client.rest import ApiException
        from kubernetes.config.config_exception import ConfigException
        from urllib3.exceptions import HTTPError
    except ImportError as exc:  # pragma: no cover - a dependency of meshlint
        raise ClusterError(f"--cluster needs the kubernetes client: {exc}") from None

    config_file = os.pathsep.join(paths)
    try:
        contexts, current = k8s_config.list_kube_config_contexts(config_file=config_file)
        chosen = _choose_context(contexts or [], current, context)
        context_name = str(chosen["name"])
        cfg = k8s_client.Configuration()
        k8s_config.load_kube_config(
            config_file=config_file,
            context=context_name,
            client_configuration=cfg,
            persist_config=False,
        )
    except ClusterError:
        raise
    except (ConfigException, yaml.YAMLError, OSError, ValueError, TypeError, KeyError) as exc:
        raise ClusterError(f"cannot use the kubeconfig {config_file}: {exc}") from None
    cfg.retries = 0  # an unreachable cluster fails at once, not after rounds of retries
    ns = namespace
    if not all_namespaces and not ns:
        ctx = chosen.get("context")
        ns = (ctx.get("namespace") if isinstance(ctx, dict) else None) or "default"

    state = ClusterState(context=context_name)
    api_client = k8s_client.ApiClient(configuration=cfg)
    try:
        reader = _Reader(
            state, api_client, k8s_client, (ApiException, HTTPError), cfg.host, timeout
        )
        reader.read_all(None if all_namespaces else ns, root_namespace)
    finally:
        api_client.close()
    return state


class _Reader:
    def __init__(
        self,
        state: ClusterState,
        api_client: Any,
        k8s_client: Any,
        errors: tuple[type[Exception], type[Exception]],
        host: str,
        timeout: float,
    ) -> None:
        self.state = state
        self.custom = k8s_client.CustomObjectsApi(api_client)
        self.apis = {
            "CoreV1Api": k8s_client.CoreV1Api(api_client),
            "AppsV1Api": k8s_client.AppsV1Api(api_client),
        }
        self.api_exception, self.connection_error = errors
        self.host = host
        self.timeout = timeout
        self.read_any = False

    def read_all(self, namespace: str | None, root_namespace: str = "istio-system") -> None:
        # kind → namespace → objects
        found: dict[str, dict[str, list[dict[str, Any]]]] = {}
        missing_crds: list[tuple[KindInfo, str]] = []
        for info in KINDS:
            try:
                api_version, items = self._read_kind(info, namespace)
            except _NotFound as exc:
                if info.mesh:
                    missing_crds.append((info, str(exc)))
                else:
                    self._skip(info.kind, f"the cluster does not serve {exc}")
                continue
            except _Forbidden as exc:
                self._skip(
                    info.kind,
                    f"RBAC forbids listing {exc} for this context's user; {info.kind} "
                    "objects were not read",
                )
                continue
            except _Failed as exc:
                self._skip(info.kind, f"cannot list {exc}; {info.kind} objects were not read")
                continue
            self.read_any = True
            by_ns = found.setdefault(info.kind, {})
            for item in items:
                if not isinstance(item, dict):
                    continue
                if info.kind in ("Pod", "ReplicaSet") and _controlled_by_listed(item):
                    continue
                obj = clean(item, api_version, info.kind)
                meta = obj.get("metadata")
                item_ns = meta.get("namespace") if isinstance(meta, dict) else None
                by_ns.setdefault(str(item_ns or ""), []).append(obj)
        self._report_missing_crds(missing_crds)
        if self.read_any:
            self._read_mesh_config(root_namespace, found)
        if not self.read_any:
            raise ClusterError(
                f"nothing could be read from the cluster of context {self.state.context!r}: "
                + "; ".join(self.state.warnings)
            )
        self._streams(found)

    def _read_mesh_config(
        self, root: str, found: dict[str, dict[str, list[dict[str, Any]]]]
    ) -> None:
        """Istio's mesh config (ConfigMap `istio` of the root namespace), which some mesh rules
        read (auto mTLS, extension providers). Its absence, or no right to read it, is no
        problem: those rules then judge less."""
        core = self.apis["CoreV1Api"]
        where = f"v1 configmaps/{root}/istio"
        try:
            item = self._call(where, core.read_namespaced_config_map, "istio", root)
        except (_NotFound, _Forbidden, _Failed):
            return
        found.setdefault("ConfigMap", {}).setdefault(root, []).append(
            clean(item, "v1", "ConfigMap")
        )

    def _skip(self, kind: str, message: str) -> None:
        self.state.warnings.append(message)
        self.state.skipped.append(kind)

    def _report_missing_crds(self, missing: list[tuple[KindInfo, str]]) -> None:
        if not missing:
            return
        for info, _ in missing:
            self.state.skipped.append(info.kind)
        first = missing[0][1]
        if len(missing) == sum(1 for k in KINDS if k.mesh):
            self.state.warnings.append(
                f"Istio's CRDs are not installed in this cluster ({first} not found); "
                "no mesh kind was read"
            )
        else:
            what = ", ".join(f"{where} not found" for _, where in missing)
            kinds = ", ".join(info.kind for info, _ in missing)
            self.state.warnings.append(
                f"some of Istio's CRDs are not installed in this cluster ({what}); "
                f"{kinds} objects were not read"
            )

    def _streams(self, found: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
        ctx = self.state.context
        namespaces = sorted(
            {ns for kind, by_ns in found.items() if kind != "Namespace" for ns in by_ns}
        )
        streams = []
        cluster_scoped = found.get("Namespace", {})
        objects = [o for objs in cluster_scoped.values() for o in objs]
        if objects:
            streams.append((f"cluster:{ctx}/Namespace", to_yaml(_by_name(objects))))
        for ns in namespaces:
            for kind in (*(info.kind for info in KINDS), "ConfigMap"):
                if kind == "Namespace":
                    continue
                objs = found.get(kind, {}).get(ns)
                if objs:
                    streams.append((f"cluster:{ctx}/{ns}/{kind}", to_yaml(_by_name(objs))))
        self.state.streams = streams

    # ---------------------------------------------------------------------------------------

    def _read_kind(self, info: KindInfo, namespace: str | None) -> tuple[str, list[Any]]:
        if info.mesh:
            plural = PLURALS[info.kind]
            first: _NotFound | None = None
            for version in info.versions:  # older Istio releases do not serve v1
                where = f"{info.group}/{version} {plural}"
                try:
                    if namespace is None:
                        items = self._list(
                            where,
                            self.custom.list_cluster_custom_object,
                            info.group,
                            version,
                            plural,
                        )
                    else:
                        items = self._list(
                            where,
                            self.custom.list_namespaced_custom_object,
                            info.group,
                            version,
                            namespace,
                            plural,
                        )
                    return f"{info.group}/{version}", items
                except _NotFound as exc:
                    first = first or exc
            assert first is not None
            raise first
        if info.kind == "Namespace":
            core = self.apis["CoreV1Api"]
            if namespace is None:
                return "v1", self._list("v1 namespaces", core.list_namespace)
            try:
                one = self._call(f"v1 namespaces/{namespace}", core.read_namespace, namespace)
            except _NotFound:
                self.state.warnings.append(
                    f"namespace {namespace!r} does not exist in this cluster"
                )
                return "v1", []
            return "v1", [one]
        api_name, in_namespace, everywhere = _KUBE_LISTS[info.kind]
        api = self.apis[api_name]
        where = f"{info.api_version()} {_plural_of(in_namespace)}"
        if namespace is None:
            return info.api_version(), self._list(where, getattr(api, everywhere))
        return info.api_version(), self._list(where, getattr(api, in_namespace), namespace)

    def _list(self, where: str, method: Callable[..., Any], *args: Any) -> list[Any]:
        """Every item of a list, page by page."""
        items: list[Any] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": PAGE_SIZE}
            if token:
                kwargs["_continue"] = token
            body = self._call(where, method, *args, **kwargs)
            page = body.get("items")
            if isinstance(page, list):
                items.extend(page)
            meta = body.get("metadata")
            token = meta.get("continue") if isinstance(meta, dict) else None
            if not token:
                return items

    def _call(self, where: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.state.requests += 1
        try:
            response = method(
                *args, _preload_content=False, _request_timeout=self.timeout, **kwargs
            )
            data = response.data
        except self.api_exception as exc:
            status = getattr(exc, "status", None)
            if status == 403:
                raise _Forbidden(where) from None
            if status == 404:
                raise _NotFound(where) from None
            if status == 401:
                raise ClusterError(
                    f"the cluster at {self.host} refused the credentials of context "
                    f"{self.state.context!r} (401 Unauthorized)"
                ) from None
            if status in (0, None):  # raised by the client itself (an SSL error, say)
                raise ClusterError(
                    f"cannot reach the cluster of context {self.state.context!r} at "
                    f"{self.host}: {_reason(exc)}"
                ) from None
            raise _Failed(f"{where} ({status} {getattr(exc, 'reason', '')})".rstrip()) from None
        except (self.connection_error, OSError) as exc:  # refused, timed out, unknown host
            raise ClusterError(
                f"cannot reach the cluster of context {self.state.context!r} at {self.host}: "
                f"{_reason(exc)}"
            ) from None
        try:
            body = json.loads(data)
        except ValueError:
            raise _Failed(f"{where} (the answer is not JSON)") from None
        if not isinstance(body, dict):
            raise _Failed(f"{where} (the answer is not a JSON object)")
        return body


def _plural_of(method: str) -> str:
    resource = method.removeprefix("list_namespaced_")
    return {
        "service_account": "serviceaccounts",
        "stateful_set": "statefulsets",
        "daemon_set": "daemonsets",
        "replica_set": "replicasets",
    }.get(resource, resource + "s")


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection failure, in a few words."""
    reason = getattr(exc, "reason", None)
    while isinstance(reason, BaseException) and getattr(reason, "reason", None) is not None:
        reason = getattr(reason, "reason", None)
    text = str(reason if isinstance(reason, BaseException) else exc)
    for marker in ("Connection refused", "timed out", "Name or service not known"):
        if marker in text:
            return marker.lower() if marker != "Name or service not known" else "unknown host"
    return text or type(exc).__name__


def _by_name(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def name(o: dict[str, Any]) -> str:
        meta = o.get("metadata")
        return str(meta.get("name", "")) if isinstance(meta, dict) else ""

    return sorted(objects, key=name)


# --------------------------------------------------------------------------------------------
# Linting it


def lint_state(
    state: ClusterState,
    config: Config,
    *,
    files: Sequence[str] = (),
    stdin_name: str = "<stdin>",
) -> LintResult:
    """Lint the files (first, in their order) and the streams read from a cluster as one run,
    so that checks across resources see both."""
    from meshlint import engine, loader

    load = loader.LoadResult()
    for f in files:
        loader.load_file(f, load, stdin_name=stdin_name)
    cluster_sources = len(load.sources)
    for name, text in state.streams:
        loader.load_text(text, name, load)
    cluster_names = {s.name for s in load.sources[cluster_sources:]}
    result = engine.lint_loaded(load, config)
    result.findings = [
        d
        for d in result.findings
        if not (d.code in _NOT_FOR_CLUSTER_OBJECTS and d.file in cluster_names)
    ]
    return result
