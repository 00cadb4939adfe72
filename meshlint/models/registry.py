"""Which kinds exist, in which apiVersions, and which model types each one.

Facts from Istio's CRD bundle (served and storage versions) and the Kubernetes API. Models are
named by dotted path and imported on first use, so that listing kinds costs no pydantic build.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import BaseModel

NETWORKING = "networking.istio.io"
SECURITY = "security.istio.io"
TELEMETRY = "telemetry.istio.io"


@dataclass(frozen=True)
class KindInfo:
    group: str  # "" for the Kubernetes core group
    kind: str
    versions: tuple[str, ...]  # served, newest first
    preferred: str
    model_path: str  # "module:Class" of the model of the whole resource
    mesh: bool = True  # one of the nine mesh kinds (False: a Kubernetes kind mesh rules read)
    short_names: tuple[str, ...] = field(default=())

    def api_version(self, version: str | None = None) -> str:
        version = version or self.preferred
        return f"{self.group}/{version}" if self.group else version

    @property
    def model(self) -> type[BaseModel]:
        return _import(self.model_path)


@cache
def _import(path: str) -> type[BaseModel]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return,unused-ignore]


_NET = ("v1", "v1beta1", "v1alpha3")
_SEC = ("v1", "v1beta1")
_TEL = ("v1", "v1alpha1")

KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        NETWORKING,
        "VirtualService",
        _NET,
        "v1",
        "meshlint.models.networking:VirtualService",
        short_names=("vs",),
    ),
    KindInfo(
        NETWORKING,
        "DestinationRule",
        _NET,
        "v1",
        "meshlint.models.networking:DestinationRule",
        short_names=("dr",),
    ),
    KindInfo(
        NETWORKING, "Gateway", _NET, "v1", "meshlint.models.networking:Gateway", short_names=("gw",)
    ),
    KindInfo(
        NETWORKING,
        "ServiceEntry",
        _NET,
        "v1",
        "meshlint.models.networking:ServiceEntry",
        short_names=("se",),
    ),
    KindInfo(NETWORKING, "Sidecar", _NET, "v1", "meshlint.models.networking:Sidecar"),
    KindInfo(
        SECURITY,
        "PeerAuthentication",
        _SEC,
        "v1",
        "meshlint.models.security:PeerAuthentication",
        short_names=("pa",),
    ),
    KindInfo(
        SECURITY,
        "RequestAuthentication",
        _SEC,
        "v1",
        "meshlint.models.security:RequestAuthentication",
        short_names=("ra",),
    ),
    KindInfo(
        SECURITY,
        "AuthorizationPolicy",
        _SEC,
        "v1",
        "meshlint.models.security:AuthorizationPolicy",
        short_names=("ap",),
    ),
    KindInfo(TELEMETRY, "Telemetry", _TEL, "v1", "meshlint.models.telemetry:Telemetry"),
    KindInfo("", "Namespace", ("v1",), "v1", "meshlint.models.k8s:Namespace", mesh=False),
    KindInfo("", "Service", ("v1",), "v1", "meshlint.models.k8s:Service", mesh=False),
    KindInfo("", "ServiceAccount", ("v1",), "v1", "meshlint.models.k8s:ServiceAccount", mesh=False),
    KindInfo("", "Pod", ("v1",), "v1", "meshlint.models.k8s:Pod", mesh=False),
    KindInfo("apps", "Deployment", ("v1",), "v1", "meshlint.models.k8s:Deployment", mesh=False),
    KindInfo("apps", "StatefulSet", ("v1",), "v1", "meshlint.models.k8s:StatefulSet", mesh=False),
    KindInfo("apps", "DaemonSet", ("v1",), "v1", "meshlint.models.k8s:DaemonSet", mesh=False),
    KindInfo("apps", "ReplicaSet", ("v1",), "v1", "meshlint.models.k8s:ReplicaSet", mesh=False),
)

BY_GROUP_KIND: dict[tuple[str, str], KindInfo] = {(k.group, k.kind): k for k in KINDS}

# Istio kinds that exist but that meshlint does not model (yet): known, so not "unknown".
OUT_OF_SCOPE: dict[str, frozenset[str]] = {
    NETWORKING: frozenset({"EnvoyFilter", "WorkloadEntry", "WorkloadGroup", "ProxyConfig"}),
    "extensions.istio.io": frozenset({"WasmPlugin", "TrafficExtension"}),
}

# Istio groups and kinds that were removed; manifests of them no longer apply.
REMOVED: dict[str, str] = {
    "rbac.istio.io": "the rbac.istio.io kinds were removed in Istio 1.6; use "
    "security.istio.io/v1 AuthorizationPolicy",
    "authentication.istio.io": "authentication.istio.io Policy and MeshPolicy were removed in "
    "Istio 1.6; use security.istio.io/v1 PeerAuthentication and "
    "RequestAuthentication",
    "config.istio.io": "the config.istio.io (Mixer) kinds were removed in Istio 1.8; use "
    "telemetry.istio.io/v1 Telemetry or Envoy extensions",
}

ISTIO_GROUPS = frozenset({NETWORKING, SECURITY, TELEMETRY, "extensions.istio.io"})


def split_api_version(api_version: str) -> tuple[str, str]:
    group, sep, version = api_version.rpartition("/")
    return (group, version) if sep else ("", api_version)
