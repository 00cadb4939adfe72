"""Field validation of telemetry: what Istio's webhook and CRD rules reject.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateTelemetry``,
``validateTelemetryMetrics``, ``validateTelemetryTracing``, ``validateTelemetryProviders``) and
the CEL rules of the Telemetry CRD (istio/api ``telemetry/v1alpha1/telemetry.proto``). Empty
provider names, empty tag values, enums, null entries and the sampling range are the schema
stage's (the CRD's ``minLength``, ``required``, ``enum``, ``minimum``/``maximum``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import check_duration, duration_ns
from meshlint.rules.lib.guards import as_map
from meshlint.rules.lib.placeholders import has_placeholder

_W = "webhook: pkg/config/validation/validation.go"
_KIND = {"Telemetry"}


def _tm(body: str) -> str:
    """A Telemetry example with the given spec body."""
    return (
        "apiVersion: telemetry.istio.io/v1\n"
        "kind: Telemetry\n"
        "metadata:\n"
        "  name: cart\n"
        "  namespace: shop\n"
        "spec:\n"
        "  selector:\n"
        "    matchLabels:\n"
        "      app: cart\n" + body
    )


def _entries(res: Resource, section: str) -> Iterator[tuple[int, dict[str, Any]]]:
    spec = res.spec
    if not isinstance(spec, dict):
        return
    items = spec.get(section)
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict):
                yield i, item


@rule(
    "ML803",
    "telemetry-multiple-tracing",
    Severity.WARNING,
    summary="A Telemetry has more than one tracing entry, or a tracing entry with more than one provider.",
    rationale="""
        Istio supports one tracing configuration with one provider per workload. The webhook
        accepts more with a warning ('multiple tracing is not currently supported', 'multiple
        providers is not currently supported'); only the first is used.
    """,
    bad=_tm(
        "  tracing:\n  - providers:\n    - name: zipkin\n"
        "    - name: otel  # expect: ML803@7 spec.tracing[0].providers[1]\n"
    ),
    good=_tm("  tracing:\n  - providers:\n    - name: otel\n"),
    kinds=_KIND,
    istio="IST0133",
    source=f"{_W} (validateTelemetryTracing) — warnings 'multiple tracing is not currently "
    "supported', 'multiple providers is not currently supported'",
    catalogue=("tm-tr-multi", "tm-tr-multi-provider"),
)
def telemetry_multiple_tracing(res: Resource) -> Iterator[Finding]:
    spec = res.spec
    if not isinstance(spec, dict):
        return
    tracing = spec.get("tracing")
    if isinstance(tracing, list) and len(tracing) > 1:
        yield Finding(
            ("spec", "tracing", 1),
            f"{len(tracing)} tracing entries: Istio supports only one; merge them",
        )
    for i, entry in _entries(res, "tracing"):
        providers = entry.get("providers")
        if isinstance(providers, list) and len(providers) > 1:
            yield Finding(
                ("spec", "tracing", i, "providers", 1),
                f"{len(providers)} tracing providers: Istio uses only one per tracing entry",
            )


@rule(
    "ML804",
    "telemetry-custom-tag-name",
    Severity.ERROR,
    summary="A custom tracing tag has an empty name.",
    rationale="""
        `customTags` maps span tag names to their values; Istio's webhook rejects an empty tag
        name.
    """,
    bad=_tm(
        "  tracing:\n  - customTags:\n"
        '      "":  # expect: ML804@7 spec.tracing[0].customTags[""]\n'
        "        literal:\n          value: shop\n"
    ),
    good=_tm("  tracing:\n  - customTags:\n      team:\n        literal:\n          value: shop\n"),
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} (validateTelemetryTracing) — 'tag name may not be empty'",
    catalogue=("tm-tr-tag-name",),
)
def telemetry_custom_tag_name(res: Resource) -> Iterator[Finding]:
    for i, entry in _entries(res, "tracing"):
        tags = entry.get("customTags")
        if isinstance(tags, dict) and "" in tags:
            yield Finding(
                ("spec", "tracing", i, "customTags", ""),
                "a custom tag name may not be empty",
                key=True,
            )


@rule(
    "ML805",
    "telemetry-tag-override",
    Severity.ERROR,
    summary="A metric tag override has no value for UPSERT, a value for REMOVE, or an empty tag name.",
    rationale="""
        `tagOverrides` adds or changes a metric tag (operation UPSERT, the default, with a CEL
        expression as `value`) or removes one (operation REMOVE, without a value). Istio's webhook
        and the CRD's CEL rules reject UPSERT without a value and REMOVE with one; an empty tag
        name is accepted with a warning.
    """,
    bad=_tm(
        "  metrics:\n  - overrides:\n    - tagOverrides:\n        request_host:\n"
        "          operation: REMOVE\n"
        "          value: request.host  # expect: ML805@11 "
        "spec.metrics[0].overrides[0].tagOverrides.request_host.value\n"
    ),
    good=_tm(
        "  metrics:\n  - overrides:\n    - tagOverrides:\n        request_host:\n"
        "          operation: REMOVE\n"
    ),
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} (validateTelemetryMetrics) — 'tagOverrides.value must be set when operation "
    "is UPSERT', 'tagOverrides.value may only be set when operation is UPSERT', warning "
    "'tagOverrides.name may not be empty'; CEL 'value must be set when operation is UPSERT', "
    "'value must not be set when operation is REMOVE'",
    catalogue=("tm-mt-upsert-no-value", "tm-mt-remove-value", "tm-mt-tag-name-empty"),
)
def telemetry_tag_override(res: Resource) -> Iterator[Finding]:
    for i, entry in _entries(res, "metrics"):
        overrides = entry.get("overrides")
        if not isinstance(overrides, list):
            continue
        for j, override in enumerate(overrides):
            if not isinstance(override, dict):
                continue
            tags = override.get("tagOverrides")
            if not isinstance(tags, dict):
                continue
            base = ("spec", "metrics", i, "overrides", j, "tagOverrides")
            for name, tag in tags.items():
                if name == "":
                    yield Finding(
                        (*base, name),
                        "a tag override needs a tag name",
                        key=True,
                        severity=Severity.WARNING,
                    )
                if not isinstance(tag, dict):
                    continue
                operation = tag.get("operation", "UPSERT")
                value = tag.get("value")
                if operation in ("UPSERT", None) and value in (None, ""):
                    where = (*base, name, "value") if "value" in tag else (*base, name)
                    yield Finding(
                        where,
                        f"tag '{name}' is upserted without a value: give a CEL expression as "
                        "value, or set operation: REMOVE to drop the tag",
                    )
                elif operation == "REMOVE" and "value" in tag and value is not None:
                    yield Finding(
                        (*base, name, "value"),
                        f"tag '{name}' is removed, so it takes no value: remove value, or use "
                        "operation: UPSERT",
                        key=True,
                    )


@rule(
    "ML806",
    "telemetry-reporting-interval",
    Severity.ERROR,
    summary="A metrics reportingInterval is shorter than 1ms.",
    rationale="""
        `reportingInterval` sets how often TCP metrics are reported. The CRD's CEL rule requires
        at least 1 ms (Istio's webhook does not check it further).
    """,
    bad=_tm(
        "  metrics:\n  - reportingInterval: 0s  # expect: ML806@24 spec.metrics[0].reportingInterval\n"
    ),
    good=_tm("  metrics:\n  - reportingInterval: 15s\n"),
    kinds=_KIND,
    istio="IST0106",
    source="CEL (Telemetry metrics.reportingInterval) — 'must be a valid duration greater than "
    "1ms'",
    catalogue=("tm-mt-interval",),
)
def telemetry_reporting_interval(res: Resource) -> Iterator[Finding]:
    for i, entry in _entries(res, "metrics"):
        interval = entry.get("reportingInterval")
        if duration_ns(interval) is None:
            continue  # absent, or not a duration: the schema stage's
        problem = check_duration(interval, whole_ms=False)
        if problem:
            yield Finding(
                ("spec", "metrics", i, "reportingInterval"), f"reportingInterval {problem}"
            )


def _cel_syntax_error(expression: str) -> tuple[int, str] | None:
    """Where (an offset into ``expression``) and why it does not parse as CEL, else None."""
    import celpy
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    try:
        celpy.Environment().compile(expression)
    except celpy.CELParseError as exc:
        cause = exc.__context__
        line, column = exc.line or 1, exc.column or 1
        if isinstance(cause, UnexpectedToken) and cause.token.type == "$END":
            return len(expression.rstrip()), "the expression ends too early"
        offset = sum(len(ln) + 1 for ln in expression.split("\n")[: line - 1]) + column - 1
        if isinstance(cause, UnexpectedToken):
            what = f"unexpected `{cause.token}`"
        elif isinstance(cause, UnexpectedCharacters):
            what = f"unexpected character `{cause.char}`"
        else:
            what = "a syntax error"
        return min(offset, len(expression)), what
    return None


@rule(
    "ML807",
    "telemetry-filter-not-cel",
    Severity.ERROR,
    summary="An access-log `filter.expression` is not a valid CEL expression.",
    rationale="""
        An access-logging `filter` keeps the log entries whose request its `expression`, a CEL
        expression over Envoy's attributes (`response.code >= 400`), holds for. istiod parses
        the expression and rejects the Telemetry when it does not parse. The finding points at
        the place in the expression where parsing stopped.

        The expression is parsed with cel-python, which meshlint already uses to run access-log
        filters in its own proxy; the bindings of the reference C++ implementation
        (cel-expr-python) need Python 3.11 while meshlint supports 3.10. Like istiod, the rule
        checks the syntax only: names and types are not resolved.
    """,
    bad=_tm(
        "  accessLogging:\n"
        "  - providers:\n"
        "    - name: envoy\n"
        "    filter:\n"
        "      expression: response.code >= 400 &&& request.url_path == '/cart'"
        "  # expect: ML807@42 spec.accessLogging[0].filter.expression\n"
    ),
    good=_tm(
        "  accessLogging:\n"
        "  - providers:\n"
        "    - name: envoy\n"
        "    filter:\n"
        "      expression: response.code >= 400 && request.url_path == '/cart'\n"
    ),
    kinds=_KIND,
    istio="IST0106",
    source="webhook: pkg/config/validation/validation_istiod.go (validateTelemetryFilter, "
    "called by ValidateTelemetry) — 'must be a valid CEL expression'",
    catalogue=("tm-al-filter-cel",),
)
def telemetry_filter_not_cel(res: Resource) -> Iterator[Finding]:
    for i, entry in _entries(res, "accessLogging"):
        expression = as_map(entry.get("filter")).get("expression")
        if not isinstance(expression, str) or has_placeholder(expression):
            continue  # absent, or not a string: the schema stage's
        problem = _cel_syntax_error(expression)
        if problem is not None:
            at, what = problem
            yield Finding(
                ("spec", "accessLogging", i, "filter", "expression"),
                f"the filter expression is not valid CEL: {what}",
                at=at,
            )
