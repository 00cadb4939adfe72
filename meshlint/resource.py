"""A document seen as a Kubernetes resource: its kind, version, name and namespace."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from meshlint.loader import Document
from meshlint.models.registry import BY_GROUP_KIND, KindInfo, split_api_version

DEFAULT_NAMESPACE = "default"

T = TypeVar("T")


@dataclass(slots=True)
class Resource:
    doc: Document
    api_version: str
    kind: str
    group: str
    version: str
    name: str
    namespace: str | None  # as written; None when the manifest names none
    info: KindInfo | None  # None for kinds meshlint does not model
    data: dict[str, Any] = field(repr=False, compare=False)  # the document's data
    # The spec when it is a mapping; None otherwise (the schema stage reports that).
    spec_map: dict[str, Any] | None = field(repr=False, compare=False)
    # What several rules read the same way, worked out once (see ``memo``).
    _memo: dict[Hashable, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def memo(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()``, worked out once for this resource under ``key``: a reading of the data
        that several rules share (they must not change it). It lives as long as the resource."""
        memo = self._memo
        if memo is None:
            memo = self._memo = {}
        elif key in memo:
            found: T = memo[key]
            return found
        value = memo[key] = make()
        return value

    @property
    def spec(self) -> Any:
        return self.data.get("spec")

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.data.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def effective_namespace(self) -> str:
        return self.namespace or DEFAULT_NAMESPACE

    @property
    def key(self) -> str:
        """``Kind/namespace/name``, the resource's name in every output."""
        return f"{self.kind or '?'}/{self.effective_namespace}/{self.name or '<unnamed>'}"

    @classmethod
    def of(cls, doc: Document) -> Resource | None:
        """None when the document is not a mapping with an apiVersion or a kind."""
        data = doc.data
        if not isinstance(data, dict):
            return None
        api_version = data.get("apiVersion")
        kind = data.get("kind")
        if not isinstance(api_version, str):
            api_version = ""
        if not isinstance(kind, str):
            kind = ""
        if not api_version and not kind:
            return None
        meta = data.get("metadata")
        name = namespace = None
        if isinstance(meta, dict):
            name = meta.get("name")
            namespace = meta.get("namespace")
        group, version = split_api_version(api_version)
        spec = data.get("spec")
        return cls(
            doc=doc,
            api_version=api_version,
            kind=kind,
            group=group,
            version=version,
            name=name if isinstance(name, str) else "",
            namespace=namespace if isinstance(namespace, str) and namespace else None,
            info=BY_GROUP_KIND.get((group, kind)),
            data=data,
            spec_map=spec if isinstance(spec, dict) else None,
        )
