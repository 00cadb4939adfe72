"""Building blocks shared by the models of every kind: base classes, value types, ObjectMeta.

Istio models are strict like the Kubernetes API server (unknown fields and wrong types are errors);
the Kubernetes models of :mod:`meshlint.models.k8s` only check the fields they declare. Field names
are snake_case in Python and camelCase (their JSON names) in manifests.

Only what the CRD's OpenAPI schema says is checked here. Istio's CEL rules
(``x-kubernetes-validations``) and webhook semantics are lint rules, not model checks.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from meshlint.models import DURATION_PATTERN, join_words

# --------------------------------------------------------------------------------------------
# Base classes


def camel(name: str) -> str:
    """The JSON name of a field: ``per_try_timeout`` → ``perTryTimeout``, ``from_`` → ``from``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class IstioModel(BaseModel):
    """A part of an Istio resource: strict types, unknown fields are errors.

    Input is read by JSON name only (``perTryTimeout``; ``per_try_timeout`` is an unknown field).
    """

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        alias_generator=camel,
        serialize_by_alias=True,
        defer_build=True,
    )


class KubeModel(BaseModel):
    """A part of a Kubernetes resource: declared fields are typed, any other field is kept."""

    model_config = ConfigDict(
        strict=True,
        extra="allow",
        alias_generator=camel,
        serialize_by_alias=True,
        defer_build=True,
    )


def allow_null(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of a field the CRD marks ``nullable``: null is a value of its own."""
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]


class OneOfModel(IstioModel):
    """An object of which at most one field of each group may be set (the CRD's ``oneOf``).

    ``one_of`` names the groups by Python field name; a violation is reported on the object. The
    JSON Schema gets the CRD's own form of the constraint.
    """

    one_of: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @model_validator(mode="after")
    def _check_one_of(self) -> Any:
        for group in self.one_of:
            given = [name for name in group if getattr(self, name) is not None]
            if len(given) > 1:
                fields = type(self).model_fields
                names = [fields[n].alias or n for n in group]
                setn = [fields[n].alias or n for n in given]
                raise PydanticCustomError(
                    "one_of",
                    "set only one of {choices}; this sets {given}",
                    {"choices": join_words(names, "or"), "given": join_words(setn, "and")},
                )
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        fields = cls.model_fields
        blocks = []
        for group in cls.one_of:
            names = [fields[n].alias or n for n in group]
            required = [{"required": [n]} for n in names]
            blocks.append({"oneOf": [{"not": {"anyOf": required}}, *required]})
        if len(blocks) == 1:
            target.update(blocks[0])
        elif blocks:
            target["allOf"] = blocks
        return schema


# --------------------------------------------------------------------------------------------
# Value types

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
UINT32_MAX = 2**32 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
"""A protobuf int32 (the CRD's ``format: int32``)."""

UInt32 = Annotated[int, Field(ge=0, le=UINT32_MAX)]
"""A protobuf uint32 (the CRD's ``minimum: 0, maximum: 4294967295``)."""

UInt64 = Annotated[int, Field(ge=0)]
"""A protobuf uint64 (the CRD only states ``minimum: 0``)."""

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]

PortNumber = UInt32
"""A port number as the CRD types it (uint32); the 1-65535 range is a lint rule (CEL in the CRD)."""

Double = float
"""A protobuf double: any number; integers are accepted."""

Percent = Annotated[float, Field(ge=0, le=100)]
"""A number from 0 to 100."""

NonEmptyStr = Annotated[str, Field(min_length=1)]

StringMap = dict[str, str]
"""A map of strings, e.g. headers to set or labels to match."""

SelectorLabels = Annotated[dict[str, Annotated[str, Field(max_length=63)]], Field(max_length=4096)]
"""The ``matchLabels`` of a workload selector."""

# Go's time.ParseDuration syntax: an optional sign, then number+unit groups ("1h30m", "1.5s"),
# or a bare 0. CEL's duration() and Istio's JSON decoding both accept it.
_DURATION = re.compile(DURATION_PATTERN)


def _duration(value: object) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "expected a string")
    if not _DURATION.match(value):
        raise PydanticCustomError(
            "duration",
            "'{value}' is not a duration: use a number with a unit h, m, s, ms, us or ns, "
            "e.g. 30s or 1h30m",
            {"value": value},
        )
    return value


Duration = Annotated[
    str,
    PlainValidator(_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]
"""A duration in Go syntax (``30s``, ``1h30m``, ``100ms``); a string, as in the CRD."""


def _int_or_string(value: object) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError("int_or_string_type", "expected an integer or a string")
    return value


IntOrString = Annotated[
    int | str,
    PlainValidator(_int_or_string),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}]}),
]
"""Kubernetes' int-or-string (``x-kubernetes-int-or-string``), e.g. a targetPort 8080 or http."""


def _base64(value: object) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "expected a string")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError(
            "base64", "'{value}' is not base64-encoded data", {"value": value[:40]}
        ) from None
    return value


Base64 = Annotated[
    str,
    PlainValidator(_base64),
    WithJsonSchema({"type": "string", "format": "byte", "contentEncoding": "base64"}),
]
"""Bytes, written as base64 text (the CRD's ``format: byte``)."""


def _timestamp(value: object) -> str:
    # The loader keeps timestamps as text; other YAML loaders turn them into datetimes.
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.date):  # datetime is a date too
        return value.isoformat()
    raise PydanticCustomError("string_type", "expected a string")


Timestamp = Annotated[
    str,
    PlainValidator(_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An RFC 3339 time as the API server writes it, e.g. 2024-05-01T12:00:00Z."""

NullableTimestamp = Annotated[Timestamp | None, Field(json_schema_extra=allow_null)]

NullableBool = Annotated[bool | None, Field(json_schema_extra=allow_null)]
"""A boolean the CRD marks nullable (a protobuf BoolValue): null means "not set"."""

NullableUInt32 = Annotated[UInt32 | None, Field(json_schema_extra=allow_null)]
NullableDouble = Annotated[float | None, Field(json_schema_extra=allow_null)]
NullablePercent = Annotated[Percent | None, Field(json_schema_extra=allow_null)]


# --------------------------------------------------------------------------------------------
# Shared Istio types


class StringMatch(OneOfModel):
    """How to match a string: exactly, by prefix, or by an RE2 regular expression (one of them)."""

    one_of = (("exact", "prefix", "regex"),)

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = Field(None, description="An RE2 regular expression.")


class Percentage(IstioModel):
    """A percentage, as a number from 0.0 to 100.0 (a protobuf double)."""

    value: Double | None = None


class WorkloadSelector(IstioModel):
    """The workloads (pods, VMs) a policy applies to, by their labels."""

    match_labels: SelectorLabels | None = Field(
        None, description="Labels a workload must have; an empty selector matches all."
    )


_GROUP = r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_KIND = r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"


class PolicyTargetReference(IstioModel):
    """A resource a policy attaches to, such as a Kubernetes Gateway or Service."""

    group: Annotated[str, Field(max_length=253, pattern=_GROUP)] | None = None
    kind: Annotated[str, Field(min_length=1, max_length=63, pattern=_KIND)]
    name: Annotated[str, Field(min_length=1, max_length=253)]
    namespace: str | None = None


# --------------------------------------------------------------------------------------------
# Kubernetes ObjectMeta and the resource envelope


class OwnerReference(IstioModel):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ManagedFieldsEntry(IstioModel):
    api_version: str | None = None
    fields_type: str | None = None
    fields_v1: dict[str, Any] | None = Field(None, alias="fieldsV1")
    manager: str | None = None
    operation: str | None = None
    subresource: str | None = None
    time: Timestamp | None = None


class ObjectMeta(IstioModel):
    """Kubernetes object metadata: the fields a manifest or ``kubectl get -o yaml`` holds."""

    name: str | None = Field(None, description="The resource's name, unique in its namespace.")
    generate_name: str | None = None
    namespace: str | None = Field(
        None, description="The namespace; if absent, the one the manifest is applied to."
    )
    labels: StringMap | None = None
    annotations: StringMap | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: Int64 | None = None
    creation_timestamp: NullableTimestamp = None  # null in `kubectl create --dry-run -o yaml`
    deletion_timestamp: NullableTimestamp = None
    deletion_grace_period_seconds: Int64 | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None
    managed_fields: list[ManagedFieldsEntry] | None = None
    self_link: str | None = None


class Resource(IstioModel):
    """The envelope of an Istio resource; each kind narrows ``kind`` and types ``spec``."""

    api_version: str = Field(description="The group and version, e.g. networking.istio.io/v1.")
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: Any = None
    status: dict[str, Any] | None = Field(
        None, description="Written by the control plane; not checked."
    )
