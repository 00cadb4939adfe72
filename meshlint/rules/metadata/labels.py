"""Labels and annotations: their keys, their values and the maps that hold them (ML304, ML305,
ML312).

Facts: Kubernetes label and annotation syntax (apimachinery ``IsQualifiedName``,
``IsValidLabelValue``, ``ValidateAnnotationsSize``) and Istio's validating webhook
(``validateWorkloadSelector``: no empty key and no `*` in a selector).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.metadata import (
    LABEL_NAME,
    SUBDOMAIN,
    describe,
    joined,
    not_a_mapping,
    problems,
    quote_hint,
    unquoted,
)
from meshlint.rules.lib.placeholders import has_placeholder
from meshlint.verdicts import keep_verdict

_W = "webhook: pkg/config/validation/validation.go"
_LABEL_SYNTAX = "API server: apimachinery IsQualifiedName, IsValidLabelValue"

_KEY_ACCEPTED = (
    "A key is a name of " + LABEL_NAME.accepted + ", optionally after a prefix and '/' (the "
    "prefix is a DNS subdomain such as `app.example.com`, at most 253 characters)"
)


# Label and annotation keys already found valid: the same few (`app`, `version`,
# `sidecar.istio.io/inject`, …) come back on most objects (see keep_verdict). The label values
# found valid are in LABEL_NAME.known.
_VALID_KEYS: dict[str, bool] = {}


def _key_problems(key: str) -> list[str]:
    if key in _VALID_KEYS:
        return []
    found = _find_key_problems(key)
    if not found and type(key) is str:
        keep_verdict(_VALID_KEYS, key, True)
    return found


def _find_key_problems(key: str) -> list[str]:
    if not key:
        return ["is empty"]
    if "/" not in key:
        return [] if LABEL_NAME.valid(key) else problems(key, LABEL_NAME)
    prefix, _, name = key.partition("/")
    out: list[str] = []
    if "/" in name:
        out.append("has more than one `/`")
        name = name.replace("/", "")
    if not prefix:
        out.append("has nothing before the `/`")
    elif not SUBDOMAIN.valid(prefix):
        out.append(f"has a prefix `{prefix}` that {joined(problems(prefix, SUBDOMAIN))}")
    if not name:
        out.append("has nothing after the `/`")
    elif not LABEL_NAME.valid(name):
        out.append(f"has a name part `{name}` that {joined(problems(name, LABEL_NAME))}")
    return out


def _string_map_problem(path: FieldPath, value: Any) -> Finding | None:
    """A finding when the labels or annotations at ``path`` are not a mapping (null is fine)."""
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, str) and has_placeholder(value):
        return None  # ML306
    example = f"`app: reviews` on the line after `{path[-1]}:`, indented"
    return Finding(path, not_a_mapping(".".join(map(str, path)), value, example))


_ABSENT = object()


def _at(data: Any, where: FieldPath) -> Any:
    """The value at the keys ``where`` in ``data``; _ABSENT when one of them is not there."""
    for elem in where:
        if not isinstance(data, dict):
            return _ABSENT
        data = data.get(elem, _ABSENT)
        if data is _ABSENT:
            break
    return data


def _all_fine(res: Resource, maps: tuple[FieldPath, ...], fine: Callable[[Any], bool]) -> bool:
    """Whether the quick test ``fine`` passes every map at ``maps`` that the resource writes."""
    data = res.data
    for where in maps:
        value = _at(data, where)
        if value is not _ABSENT and not fine(value):
            return False
    return True


_VALUES_KNOWN = LABEL_NAME.known  # label values found valid


# The last label map found fine: the next one is often equal to it (a workload's labels, its pod
# template's and its selector's).
_last_fine: dict[str, str] | None = None


def _fine_labels(labels: Any) -> bool:
    """Whether a label map (null: none) holds nothing any label rule reports: string keys and
    values, all valid. False sends it to the detailed check, which says what is wrong."""
    global _last_fine
    if labels is None:
        return True
    if not isinstance(labels, dict):
        return False
    if labels == _last_fine:
        return True
    for key, value in labels.items():
        if key in _VALID_KEYS and type(value) is str and value in _VALUES_KNOWN:
            continue
        if type(key) is not str or type(value) is not str or _key_problems(key):
            return False
        if value and not LABEL_NAME.valid(value):
            return False
    _last_fine = labels
    return True


def _fine_annotations(annotations: Any) -> bool:
    """Whether an annotation map (null: none) holds nothing ML305 reports: valid string keys,
    string values, and so few characters that their bytes cannot pass the limit."""
    if annotations is None:
        return True
    if not isinstance(annotations, dict):
        return False
    size = 0
    for key, value in annotations.items():
        if type(value) is not str:
            return False
        if key not in _VALID_KEYS and (type(key) is not str or _key_problems(key)):
            return False
        size += len(key) + len(value)
    return size * 4 <= ANNOTATIONS_LIMIT  # at most 4 bytes a character in UTF-8


def _wildcard_hint(text: str, selector: bool) -> str:
    if selector and "*" in text:
        return " Selectors match labels exactly: `*` is not a wildcard."
    return ""


def _label_value(
    res: Resource, path: FieldPath, key: str, value: Any, selector: bool
) -> Iterator[Finding]:
    if isinstance(value, str):
        if value == "" or LABEL_NAME.valid(value) or has_placeholder(value):
            return
        yield Finding(
            path,
            f"label `{key}` has the value `{value}`, which is not valid: it "
            f"{joined(problems(value, LABEL_NAME))}. A label value is empty or "
            f"uses {LABEL_NAME.accepted}.{_wildcard_hint(value, selector)}",
        )
    elif value is None:
        yield Finding(
            path,
            f'label `{key}` has no value (null): write one, or `""` for an empty value',
            severity=Severity.WARNING,
        )
    elif isinstance(value, (bool, int, float)):
        yield Finding(
            path,
            f"the value of label `{key}` is {unquoted(res, path, value)}: "
            "label values must be strings; quote it, "
            f"{quote_hint(res, path, key, value)}",
        )
    else:
        yield Finding(
            path, f"the value of label `{key}` is {describe(value)}: label values must be strings"
        )


def _invalid_labels(
    res: Resource, maps: tuple[FieldPath, ...], selector: bool
) -> Iterator[Finding]:
    """What is wrong with the label maps at ``maps`` (those of a selector: ``selector``)."""
    data = res.data
    for where in maps:
        labels = _at(data, where)
        if labels is _ABSENT:
            continue
        if not isinstance(labels, dict):
            problem = _string_map_problem(where, labels)
            if problem is not None:
                yield problem
            continue
        for key, value in labels.items():
            if key in _VALID_KEYS and type(value) is str and value in _VALUES_KNOWN:
                continue
            path = (*where, key)
            wrong = _key_problems(key)
            if wrong and not has_placeholder(key):
                yield Finding(
                    path,
                    f"label key `{key}` is not valid: it {joined(wrong)}. "
                    f"{_KEY_ACCEPTED}.{_wildcard_hint(key, selector)}",
                    key=True,
                )
            yield from _label_value(res, path, key, value, selector)


# The labels of the object and of the pod templates it holds (Deployments, Jobs, CronJobs, …).
_LABEL_MAPS: tuple[FieldPath, ...] = (
    ("metadata", "labels"),
    ("spec", "template", "metadata", "labels"),
    ("spec", "jobTemplate", "spec", "template", "metadata", "labels"),
)


@rule(
    "ML304",
    "invalid-label",
    Severity.ERROR,
    catalogue=("gen-labels", "g-label-key", "g-label-value"),
    summary="A label key or value of an object or of a pod template is not valid for Kubernetes.",
    rationale="""
        Label keys are an optional DNS-subdomain prefix (at most 253 characters) and `/`,
        then a name of at most 63 letters, digits, `-`, `_` and `.` that starts and ends with a
        letter or digit. Values follow the same rule for the name part, or are empty. Values
        must be strings: YAML reads `version: 1` as a number, `version: 1.10` as the number 1.1
        and `canary: true` as a boolean, and the API server rejects them. Quote them. This is
        checked in `metadata.labels` and in the pod-template labels of workloads
        (`spec.template.metadata.labels`, and a CronJob's
        `spec.jobTemplate.spec.template.metadata.labels`).

        The labels of selectors (`spec.selector.matchLabels`) were split off in 0.2 as ML312.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
          labels:
            app: reviews
            version: 1.10  # expect: ML304@14 metadata.labels.version
        spec:
          host: reviews
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
          labels:
            app: reviews
            version: "1.10"
        spec:
          host: reviews
    """,
    source=_LABEL_SYNTAX,
    needs=("labels",),
)
def invalid_label(res: Resource) -> Iterable[Finding]:
    if _all_fine(res, _LABEL_MAPS, _fine_labels):
        return ()
    return _invalid_labels(res, _LABEL_MAPS, selector=False)


_SELECTOR_LABELS: tuple[FieldPath, ...] = (("spec", "selector", "matchLabels"),)


@rule(
    "ML312",
    "invalid-selector-label",
    Severity.ERROR,
    catalogue=(
        "g-sel-empty-key",
        "g-sel-wildcard",
        "pa-sel-empty-key",
        "pa-sel-wildcard",
        "ra-sel-empty-key",
        "ra-sel-wildcard",
        "ap-sel-empty-key",
        "ap-sel-wildcard",
        "tm-sel-empty-key",
        "tm-sel-wildcard",
    ),
    summary="A label of a selector (`spec.selector.matchLabels`) is not valid, or uses `*`.",
    rationale="""
        A selector picks workloads by exact label equality, so its labels follow the label
        syntax: a key is an optional DNS-subdomain prefix and `/`, then a name of at most 63
        letters, digits, `-`, `_` and `.` that starts and ends with a letter or digit; a value
        is empty or such a name, and a string (quote `version: 1.10`). There are no wildcards:
        `app: reviews-*` matches no pod, and Istio's webhook rejects an empty key and a `*` in
        the selector of a PeerAuthentication, RequestAuthentication, AuthorizationPolicy or
        Telemetry ('empty key is not supported in selector', 'wildcard is not supported in
        selector'). The API server rejects the same labels in the selector of a workload
        (a Deployment's `spec.selector.matchLabels`). The selectors of DestinationRule,
        ServiceEntry and Sidecar are ML321's.

        Split off ML304 (invalid-label) in 0.2.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: reviews
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: "reviews-*"  # expect: ML312@12 spec.selector.matchLabels.app
          mtls:
            mode: STRICT
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: reviews
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: reviews
          mtls:
            mode: STRICT
    """,
    source=f"{_W} (validateWorkloadSelector) — 'empty key is not supported in selector', "
    f"'wildcard is not supported in selector'; {_LABEL_SYNTAX}",
    aliases=("ML304",),
    istio="IST0106",
    needs=("matchLabels",),
)
def invalid_selector_label(res: Resource) -> Iterable[Finding]:
    if _all_fine(res, _SELECTOR_LABELS, _fine_labels):
        return ()
    return _invalid_labels(res, _SELECTOR_LABELS, selector=True)


_ANNOTATION_MAPS: tuple[FieldPath, ...] = (
    ("metadata", "annotations"),
    ("spec", "template", "metadata", "annotations"),
)
ANNOTATIONS_LIMIT = 256 * 1024  # bytes of keys and values together (apimachinery)


@rule(
    "ML305",
    "invalid-annotation",
    Severity.ERROR,
    summary="An annotation key is not valid, a value is not a string, or they are too large.",
    rationale="""
        Annotation keys follow the label key syntax: an optional DNS-subdomain prefix and `/`,
        then a name of at most 63 letters, digits, `-`, `_` and `.`. Values may be any text but
        must be strings: `sidecar.istio.io/inject: true` unquoted is a boolean, and the API
        server rejects the whole object. All keys and values of one object together may not
        exceed 256 KiB. This is checked in `metadata.annotations` and in the pod-template
        annotations of workloads (`spec.template.metadata.annotations`), where Istio's
        injection annotations usually go.
    """,
    bad="""
        apiVersion: v1
        kind: Pod
        metadata:
          name: reviews
          annotations:
            sidecar.istio.io/inject: true  # expect: ML305@30 metadata.annotations["sidecar.istio.io/inject"]
        spec:
          containers:
          - name: reviews
            image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.3
    """,
    good="""
        apiVersion: v1
        kind: Pod
        metadata:
          name: reviews
          annotations:
            sidecar.istio.io/inject: "true"
        spec:
          containers:
          - name: reviews
            image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.3
    """,
    needs=("annotations",),
)
def invalid_annotation(res: Resource) -> Iterable[Finding]:
    if _all_fine(res, _ANNOTATION_MAPS, _fine_annotations):
        return ()
    return _invalid_annotations(res)


def _invalid_annotations(res: Resource) -> Iterator[Finding]:
    data = res.data
    for where in _ANNOTATION_MAPS:
        annotations = _at(data, where)
        if annotations is _ABSENT:
            continue
        if not isinstance(annotations, dict):
            problem = _string_map_problem(where, annotations)
            if problem is not None:
                yield problem
            continue
        size = 0
        for key, value in annotations.items():
            path = (*where, key)
            size += len(key) if key.isascii() else len(key.encode())
            wrong = _key_problems(key)
            if wrong and not has_placeholder(key):
                yield Finding(
                    path,
                    f"annotation key `{key}` is not valid: it {joined(wrong)}. {_KEY_ACCEPTED}.",
                    key=True,
                )
            if isinstance(value, str):
                size += len(value) if value.isascii() else len(value.encode())
            elif value is None:
                yield Finding(
                    path,
                    f"annotation `{key}` has no value (null): write one, or "
                    '`""` for an empty value',
                    severity=Severity.WARNING,
                )
            elif isinstance(value, (bool, int, float)):
                yield Finding(
                    path,
                    f"the value of annotation `{key}` is "
                    f"{unquoted(res, path, value)}: annotation values must be "
                    f"strings; quote it, {quote_hint(res, path, key, value)}",
                )
            else:
                yield Finding(
                    path,
                    f"the value of annotation `{key}` is {describe(value)}: "
                    "annotation values must be strings (write it as text, "
                    "e.g. JSON in a quoted string)",
                )
        if size > ANNOTATIONS_LIMIT:
            yield Finding(
                where,
                f"the annotations here total {size:,} bytes; Kubernetes "
                f"accepts at most {ANNOTATIONS_LIMIT:,} (256 KiB) per object. "
                "Move large data to a ConfigMap; if it is kubectl's "
                "last-applied-configuration, use `kubectl apply --server-side`",
                key=True,
            )
