"""The Kubernetes kinds mesh rules read: only the fields they need, everything else is kept.

These models are permissive (``extra='allow'`` at every level) because meshlint does not model the
whole Kubernetes API; the fields they declare are typed, and a wrong type there is an error.
Required fields are those of the Kubernetes API (a Deployment without a selector is rejected).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from meshlint.models.common import (
    Int32,
    Int64,
    IntOrString,
    KubeModel,
    NullableTimestamp,
    StringMap,
)

Protocol = Literal["TCP", "UDP", "SCTP"]


class KubeObjectMeta(KubeModel):
    """Kubernetes object metadata."""

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    labels: StringMap | None = None
    annotations: StringMap | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: Int64 | None = None
    creation_timestamp: NullableTimestamp = None
    deletion_timestamp: NullableTimestamp = None
    deletion_grace_period_seconds: Int64 | None = None
    owner_references: list[dict[str, Any]] | None = None
    finalizers: list[str] | None = None
    managed_fields: list[dict[str, Any]] | None = None
    self_link: str | None = None


class KubeResource(KubeModel):
    """The envelope of a Kubernetes resource."""

    api_version: str
    kind: str
    metadata: KubeObjectMeta = Field(default_factory=KubeObjectMeta)
    status: Any = None


class LabelSelectorRequirement(KubeModel):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class LabelSelector(KubeModel):
    """Labels (and expressions) that select pods."""

    match_labels: StringMap | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


# --------------------------------------------------------------------------------------------
# Namespace, ServiceAccount, Service


class Namespace(KubeResource):
    kind: Literal["Namespace"]
    spec: dict[str, Any] | None = None


class ServiceAccount(KubeResource):
    kind: Literal["ServiceAccount"]
    automount_service_account_token: bool | None = None


class ServicePort(KubeModel):
    """A port of a Service; its name or appProtocol tells Istio the protocol."""

    name: str | None = None
    port: Int32
    target_port: IntOrString | None = None
    protocol: Protocol | None = None
    app_protocol: str | None = None
    node_port: Int32 | None = None


class ServiceSpec(KubeModel):
    selector: StringMap | None = None
    ports: list[ServicePort] | None = None
    type: Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] | None = None
    cluster_ip: str | None = Field(None, alias="clusterIP")
    cluster_ips: list[str] | None = Field(None, alias="clusterIPs")
    external_name: str | None = None


class Service(KubeResource):
    kind: Literal["Service"]
    spec: ServiceSpec | None = None


# --------------------------------------------------------------------------------------------
# Pods and the workloads that template them


class ContainerPort(KubeModel):
    name: str | None = None
    container_port: Int32
    protocol: Protocol | None = None
    host_port: Int32 | None = None
    host_ip: str | None = Field(None, alias="hostIP")


class Container(KubeModel):
    name: str
    image: str | None = None
    ports: list[ContainerPort] | None = None


class PodSpec(KubeModel):
    containers: list[Container]
    init_containers: list[Container] | None = None
    service_account_name: str | None = None
    service_account: str | None = None
    host_network: bool | None = None


class PodTemplateSpec(KubeModel):
    metadata: KubeObjectMeta | None = None
    spec: PodSpec | None = None


class Pod(KubeResource):
    kind: Literal["Pod"]
    spec: PodSpec | None = None


class DeploymentSpec(KubeModel):
    replicas: Int32 | None = None
    selector: LabelSelector
    template: PodTemplateSpec


class Deployment(KubeResource):
    kind: Literal["Deployment"]
    spec: DeploymentSpec | None = None


class StatefulSetSpec(KubeModel):
    replicas: Int32 | None = None
    selector: LabelSelector
    template: PodTemplateSpec
    service_name: str | None = None


class StatefulSet(KubeResource):
    kind: Literal["StatefulSet"]
    spec: StatefulSetSpec | None = None


class DaemonSetSpec(KubeModel):
    selector: LabelSelector
    template: PodTemplateSpec


class DaemonSet(KubeResource):
    kind: Literal["DaemonSet"]
    spec: DaemonSetSpec | None = None


class ReplicaSetSpec(KubeModel):
    replicas: Int32 | None = None
    selector: LabelSelector
    template: PodTemplateSpec | None = None


class ReplicaSet(KubeResource):
    kind: Literal["ReplicaSet"]
    spec: ReplicaSetSpec | None = None
