"""telemetry.istio.io: Telemetry (v1 and v1alpha1 share one schema)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from meshlint.models.common import (
    Duration,
    IstioModel,
    NonEmptyStr,
    NullableBool,
    NullablePercent,
    OneOfModel,
    PolicyTargetReference,
    Resource,
    WorkloadSelector,
)

WorkloadMode = Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"]


class ProviderRef(IstioModel):
    """An extension provider of the mesh config, by name."""

    name: NonEmptyStr


class WorkloadModeSelector(IstioModel):
    """Whether the setting applies to client side, server side or both."""

    mode: WorkloadMode | None = None


# --------------------------------------------------------------------------------------------
# Tracing


class LiteralTag(IstioModel):
    value: NonEmptyStr


class EnvironmentTag(IstioModel):
    name: NonEmptyStr
    default_value: str | None = None


class RequestHeaderTag(IstioModel):
    name: NonEmptyStr
    default_value: str | None = None


class FormatterTag(IstioModel):
    value: NonEmptyStr


class CustomTag(OneOfModel):
    """A span tag from a literal, an environment variable, a request header or a formatter."""

    one_of = (("literal", "environment", "header", "formatter"),)

    literal: LiteralTag | None = None
    environment: EnvironmentTag | None = None
    header: RequestHeaderTag | None = None
    formatter: FormatterTag | None = None


class Tracing(IstioModel):
    """Tracing settings: providers, sampling and custom tags."""

    match: WorkloadModeSelector | None = None
    providers: list[ProviderRef] | None = None
    random_sampling_percentage: NullablePercent = Field(
        None, description="Share of requests traced, 0 to 100."
    )
    disable_span_reporting: NullableBool = None
    custom_tags: dict[str, CustomTag] | None = None
    use_request_id_for_trace_sampling: NullableBool = None
    enable_istio_tags: NullableBool = None
    disable_context_propagation: NullableBool = None


# --------------------------------------------------------------------------------------------
# Metrics

MetricName = Literal[
    "ALL_METRICS",
    "REQUEST_COUNT",
    "REQUEST_DURATION",
    "REQUEST_SIZE",
    "RESPONSE_SIZE",
    "TCP_OPENED_CONNECTIONS",
    "TCP_CLOSED_CONNECTIONS",
    "TCP_SENT_BYTES",
    "TCP_RECEIVED_BYTES",
    "GRPC_REQUEST_MESSAGES",
    "GRPC_RESPONSE_MESSAGES",
]


class MetricSelector(OneOfModel):
    """The metric an override applies to: a standard one or a custom one."""

    one_of = (("metric", "custom_metric"),)

    metric: MetricName | None = None
    custom_metric: NonEmptyStr | None = None
    mode: WorkloadMode | None = None


class TagOverride(IstioModel):
    """Add, change or remove a metric tag (value: a CEL expression)."""

    operation: Literal["UPSERT", "REMOVE"] | None = None
    value: str | None = None


class MetricsOverrides(IstioModel):
    match: MetricSelector | None = None
    disabled: NullableBool = None
    tag_overrides: dict[str, TagOverride] | None = None


class Metrics(IstioModel):
    """Metrics settings: providers, overrides and the reporting interval."""

    providers: list[ProviderRef] | None = None
    overrides: list[MetricsOverrides] | None = None
    reporting_interval: Duration | None = None


# --------------------------------------------------------------------------------------------
# Access logging


class AccessLoggingFilter(IstioModel):
    """A CEL expression that selects the requests to log."""

    expression: str | None = None


class AccessLogging(IstioModel):
    """Access log settings: providers and filter."""

    match: WorkloadModeSelector | None = None
    providers: list[ProviderRef] | None = None
    disabled: NullableBool = None
    filter: AccessLoggingFilter | None = None


class TelemetrySpec(IstioModel):
    """Tracing, metrics and access logging for the selected workloads."""

    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: Annotated[list[PolicyTargetReference], Field(max_length=16)] | None = None
    tracing: list[Tracing] | None = None
    metrics: list[Metrics] | None = None
    access_logging: list[AccessLogging] | None = None


class Telemetry(Resource):
    """Istio Telemetry: tracing, metrics and access logs of workloads."""

    kind: Literal["Telemetry"]
    spec: TelemetrySpec | None = None
