"""Field validation of authorizationpolicy: what Istio's webhook and CRD rules reject.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateAuthorizationPolicy``),
``pkg/config/security/security.go`` (``ValidateIPs``, ``ValidatePorts``, ``CheckEmptyValues``,
``CheckServiceAccount``, ``CheckTrustDomainValues``, ``CheckWildcardValues``,
``CheckValidPathTemplate``, ``ValidateAttribute``) and the CEL rules of the CRD (istio/api
``security/v1beta1/authorization_policy.proto``). The ``istio.io/dry-run`` annotation is checked
by the metadata family (ML308-ML310); list sizes, the action enum and a missing condition key are
the schema stage's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import check_cidr

_W = "webhook: pkg/config/validation/validation.go (ValidateAuthorizationPolicy)"
_S = "webhook: pkg/config/security/security.go"
_KIND = {"AuthorizationPolicy"}

_SOURCE_FIELDS = (
    "principals",
    "notPrincipals",
    "requestPrincipals",
    "notRequestPrincipals",
    "namespaces",
    "notNamespaces",
    "ipBlocks",
    "notIpBlocks",
    "remoteIpBlocks",
    "notRemoteIpBlocks",
    "serviceAccounts",
    "notServiceAccounts",
    "trustDomains",
    "notTrustDomains",
)
_OPERATION_FIELDS = (
    "hosts",
    "notHosts",
    "ports",
    "notPorts",
    "methods",
    "notMethods",
    "paths",
    "notPaths",
)
_IP_FIELDS = ("ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks")
_CUSTOM_UNSUPPORTED = (
    "namespaces",
    "notNamespaces",
    "serviceAccounts",
    "notServiceAccounts",
    "trustDomains",
    "notTrustDomains",
    "principals",
    "notPrincipals",
    "requestPrincipals",
    "notRequestPrincipals",
)
_TCP_SOURCE_FIELDS = (
    "principals",
    "notPrincipals",
    "ipBlocks",
    "notIpBlocks",
    "namespaces",
    "notNamespaces",
    "remoteIpBlocks",
    "notRemoteIpBlocks",
    "serviceAccounts",
    "notServiceAccounts",
)


def _ap(body: str, action: str = "ALLOW") -> str:
    """An AuthorizationPolicy example with the given action and ``rules`` body."""
    return (
        "apiVersion: security.istio.io/v1\n"
        "kind: AuthorizationPolicy\n"
        "metadata:\n"
        "  name: cart\n"
        "  namespace: shop\n"
        "spec:\n"
        "  selector:\n"
        "    matchLabels:\n"
        "      app: cart\n"
        f"  action: {action}\n" + body
    )


def _rules(spec: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    rules = spec.get("rules")
    if isinstance(rules, list):
        for i, item in enumerate(rules):
            if isinstance(item, dict):
                yield i, item


def _items(ap_rule: dict[str, Any], key: str, inner: str) -> Iterator[tuple[int, Any]]:
    """``(index, rule[key][index][inner])`` for the dict entries of ``from`` or ``to``."""
    items = ap_rule.get(key)
    if isinstance(items, list):
        for j, item in enumerate(items):
            if isinstance(item, dict):
                yield j, item.get(inner)


def _strings(obj: dict[str, Any], key: str) -> Iterator[tuple[int, str]]:
    values = obj.get(key)
    if isinstance(values, list):
        for n, value in enumerate(values):
            if isinstance(value, str):
                yield n, value


def _nonempty(obj: dict[str, Any], key: str) -> bool:
    value = obj.get(key)
    return isinstance(value, list) and len(value) > 0


# --------------------------------------------------------------------------------------------


@rule(
    "ML762",
    "authz-action-without-rules",
    Severity.ERROR,
    summary="A DENY or CUSTOM AuthorizationPolicy has no `rules`, so it never applies.",
    rationale="""
        A DENY or CUSTOM policy acts on the requests its rules match; without `rules` it matches
        nothing and never triggers. Istio's webhook rejects it; write `rules: [{}]` to match
        every request.
    """,
    bad=_ap("", action="DENY"),
    good=_ap("  rules:\n  - {}\n", action="DENY"),
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} — 'DENY action without `rules` is meaningless as it will never be triggered', "
    "'CUSTOM action without `rules` is meaningless …'",
    catalogue=("ap-deny-no-rules", "ap-custom-no-rules"),
)
def authz_action_without_rules(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or spec.get("rules") not in (None, []):
        return  # (an empty list reads as no rules: it matches nothing either)
    action = spec.get("action")
    if action in ("DENY", "CUSTOM"):
        yield Finding(
            ("spec", "action"),
            f"a {action} policy without rules never triggers: add rules, or `rules: [{{}}]` "
            "to match every request",
        )


@rule(
    "ML763",
    "authz-provider",
    Severity.ERROR,
    summary="A CUSTOM AuthorizationPolicy names no provider, or another action sets one.",
    rationale="""
        Action CUSTOM delegates the decision to an external authorizer declared in the mesh
        config's `extensionProviders`, named by `provider.name`; Istio's webhook rejects a CUSTOM
        policy with rules but no provider name, and a `provider` on any other action.
    """,
    bad=_ap("  provider:\n    name: ext-authz\n  rules:\n  - {}\n"),
    good=_ap("  provider:\n    name: ext-authz\n  rules:\n  - {}\n", action="CUSTOM"),
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} — '`provider.name` must not be empty', '`provider` must not be with non "
    "CUSTOM action'",
    catalogue=("ap-custom-provider", "ap-provider-non-custom"),
)
def authz_provider(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    action = spec.get("action")
    if not isinstance(action, str | None):
        return
    provider = spec.get("provider")
    if action == "CUSTOM":
        if spec.get("rules") in (None, []):
            return  # ML762
        if provider is None:
            yield Finding(
                ("spec", "action"),
                "a CUSTOM policy needs `provider.name`: the extension provider (from the mesh "
                "config) that decides",
            )
        elif isinstance(provider, dict) and provider.get("name") in (None, ""):
            where = ("spec", "provider", "name") if "name" in provider else ("spec", "provider")
            yield Finding(
                where, "provider.name is empty: name an extension provider of the mesh config"
            )
    elif provider is not None:
        yield Finding(
            ("spec", "provider"),
            f"provider is only allowed with action CUSTOM, not {action or 'ALLOW (the default)'}: "
            "remove it or set action: CUSTOM",
            key=True,
        )


@rule(
    "ML764",
    "authz-custom-unsupported-field",
    Severity.ERROR,
    summary="A CUSTOM AuthorizationPolicy matches on identities, which CUSTOM does not support.",
    rationale="""
        With action CUSTOM, Istio's webhook rejects the source fields namespaces, principals,
        requestPrincipals, serviceAccounts and trustDomains (and their `not` forms), and the
        conditions on `source.namespace`, `source.serviceAccount`, `source.trustDomain`,
        `source.principal` and `request.auth.*`: the external authorizer is consulted before
        those are known. Match on them in the authorizer instead.
    """,
    bad=_ap(
        "  provider:\n    name: ext-authz\n  rules:\n  - from:\n"
        "    - source:\n        namespaces: [web]\n",
        action="CUSTOM",
    ),
    good=_ap(
        "  provider:\n    name: ext-authz\n  rules:\n  - from:\n"
        "    - source:\n        ipBlocks: [10.0.0.0/8]\n",
        action="CUSTOM",
    ),
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} — '%s is currently not supported with CUSTOM action'",
    catalogue=("ap-custom-source-fields", "ap-custom-when-keys"),
)
def authz_custom_unsupported(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or spec.get("action") != "CUSTOM":
        return
    for i, ap_rule in _rules(spec):
        for j, source in _items(ap_rule, "from", "source"):
            if not isinstance(source, dict):
                continue
            for field in _CUSTOM_UNSUPPORTED:
                if _nonempty(source, field):
                    yield Finding(
                        ("spec", "rules", i, "from", j, "source", field),
                        f"{field} is not supported with action CUSTOM: remove it, or check it "
                        "in the external authorizer",
                        key=True,
                    )
        when = ap_rule.get("when")
        if not isinstance(when, list):
            continue
        for k, cond in enumerate(when):
            if not isinstance(cond, dict):
                continue
            key = cond.get("key")
            if not isinstance(key, str):
                continue
            if key in (
                "source.namespace",
                "source.serviceAccount",
                "source.trustDomain",
                "source.principal",
            ) or key.startswith("request.auth."):
                yield Finding(
                    ("spec", "rules", i, "when", k, "key"),
                    f"condition key {key} is not supported with action CUSTOM",
                )


@rule(
    "ML765",
    "authz-rule-structure",
    Severity.ERROR,
    summary="A rule of an AuthorizationPolicy has an empty `from` or `to`, or a source or operation that is missing or empty.",
    rationale="""
        Istio's webhook rejects `from: []` and `to: []` (leave the field out to match any
        source or operation), an entry of `from` without `source` or of `to` without
        `operation`, and a source or operation that sets no field at all.
    """,
    bad=_ap("  rules:\n  - from:\n    - source: {}\n"),
    good=_ap("  rules:\n  - from:\n    - source:\n        namespaces: [web]\n"),
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} — '`from` must not be empty', '`from.source` must not be nil', '`from.source` "
    "must not be empty', '`to` must not be empty', '`to.operation` must not be nil', "
    "'`to.operation` must not be empty'",
    catalogue=(
        "ap-from-empty-list",
        "ap-source-null",
        "ap-source-empty",
        "ap-to-empty-list",
        "ap-op-null",
        "ap-op-empty",
    ),
)
def authz_rule_structure(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, ap_rule in _rules(spec):
        for key, inner, fields in (
            ("from", "source", _SOURCE_FIELDS),
            ("to", "operation", _OPERATION_FIELDS),
        ):
            items = ap_rule.get(key)
            if isinstance(items, list) and not items:
                yield Finding(
                    ("spec", "rules", i, key),
                    f"`{key}` is an empty list: remove it to match any {inner}, or add an entry",
                )
                continue
            if not isinstance(items, list):
                continue
            for j, item in enumerate(items):
                if not isinstance(item, dict):
                    continue
                value = item.get(inner)
                if value is None:
                    yield Finding(
                        ("spec", "rules", i, key, j),
                        f"this `{key}` entry has no {inner}: add `{inner}` with at least one field",
                    )
                elif isinstance(value, dict) and not any(_nonempty(value, f) for f in fields):
                    if any(f in value and not isinstance(value[f], list) for f in fields):
                        continue  # wrong types: the schema stage's
                    yield Finding(
                        ("spec", "rules", i, key, j, inner),
                        f"this {inner} sets no field: it must set at least one of "
                        f"{', '.join(fields[::2])} (or their not- forms)",
                    )


@rule(
    "ML766",
    "authz-service-accounts-mixed",
    Severity.ERROR,
    summary="A source combines serviceAccounts with principals or namespaces.",
    rationale="""
        `serviceAccounts` (and `notServiceAccounts`) is a shorthand for identities; Istio's
        webhook and the CRD's CEL rule reject it together with `principals`, `notPrincipals`,
        `namespaces` or `notNamespaces` in the same source. Use separate `from` entries.
    """,
    bad=_ap(
        "  rules:\n  - from:\n    - source:\n"
        "        serviceAccounts: [web/frontend]\n        namespaces: [web]\n"
    ),
    good=_ap("  rules:\n  - from:\n    - source:\n        serviceAccounts: [web/frontend]\n"),
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} — 'cannot set serviceAccounts with namespaces or principals'; CEL 'Cannot set "
    "serviceAccounts with namespaces or principals'",
    catalogue=("ap-source-sa-mix",),
)
def authz_service_accounts_mixed(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, ap_rule in _rules(spec):
        for j, source in _items(ap_rule, "from", "source"):
            if not isinstance(source, dict):
                continue
            accounts = [f for f in ("serviceAccounts", "notServiceAccounts") if f in source]
            others = [
                f
                for f in ("principals", "notPrincipals", "namespaces", "notNamespaces")
                if f in source
            ]
            if accounts and others and any(source[f] is not None for f in accounts):
                if all(source[f] is None for f in others):
                    continue
                yield Finding(
                    ("spec", "rules", i, "from", j, "source", accounts[0]),
                    f"{accounts[0]} cannot be combined with {' or '.join(others)} in one source: "
                    "put them in separate `from` entries",
                    key=True,
                )


# --------------------------------------------------------------------------------------------
# Values of sources, operations and conditions


def _wildcard_problem(value: str, what: str) -> str | None:
    count = value.count("*")
    if count > 1:
        return f"{what} '{value}' has more than one '*': use one, at the start or the end"
    if count == 1 and value != "*" and value[0] != "*" and value[-1] != "*":
        return f"{what} '{value}' has a '*' in the middle: use it only at the start or the end"
    return None


def _trust_domain_problem(value: str) -> str | None:
    problem = _wildcard_problem(value, "trust domain")
    if problem is None and "/" in value:
        return (
            f"trust domain '{value}' contains '/': give the trust domain only, e.g. cluster.local"
        )
    return problem


def _service_account_problem(value: str) -> str | None:
    if "*" in value:
        return f"service account '{value}' has a '*': wildcards are not allowed here"
    ns, slash, sa = value.partition("/")
    if "/" in sa or (slash and (not ns or not sa)):
        return f"'{value}' is not a service account: write name or namespace/name"
    return None


def _port_problem(value: str) -> str | None:
    if value.isascii() and value.isdigit() and int(value) <= 65535:
        return None
    return f"'{value}' is not a port: use a number from 0 to 65535"


_PCHAR = re.compile(r"[a-zA-Z0-9\-._~%!$&'()+,;:@=]+")


def _path_template_problem(path: str) -> str | None:
    template = "{*}" in path or "{**}" in path
    seen_any = False
    for glob in path.strip("/").split("/"):
        if glob in ("{*}", "{**}"):
            if seen_any:
                return f"path '{path}': {{**}} must be the last operator of a path template"
            seen_any = glob == "{**}"
            continue
        if "{" in glob or "}" in glob:
            return (
                f"path '{path}': '{{' and '}}' are only allowed as a whole {{*}} or {{**}} segment"
            )
        if template and not _PCHAR.fullmatch(glob):
            return (
                f"path '{path}': segment '{glob}' of a path template may only use letters, "
                "digits and - . _ ~ % ! $ & ' ( ) + , ; : @ ="
            )
    return None


@rule(
    "ML767",
    "authz-source-value",
    Severity.ERROR,
    summary="A value of a rule's source is empty or malformed (IP block, service account, trust domain).",
    rationale="""
        Istio's webhook rejects empty strings in every list of a source, IP blocks that are
        neither an IP address nor a CIDR block, service accounts that contain `*` or are not
        `name` or `namespace/name`, and trust domains with more than one `*`, a `*` in the
        middle, or a `/`.
    """,
    bad=_ap("  rules:\n  - from:\n    - source:\n        ipBlocks: [10.0.0.0/33]\n"),
    good=_ap("  rules:\n  - from:\n    - source:\n        ipBlocks: [10.0.0.0/16]\n"),
    kinds=_KIND,
    istio="IST0106",
    source=f"{_S} (ValidateIPs, CheckEmptyValues, CheckServiceAccount, CheckTrustDomainValues) — "
    "'bad CIDR range', 'bad IP address', 'empty value not allowed', 'wildcard not allowed', "
    "'expected format …', 'at most one wildcard is allowed', 'trust domain must not contain /'",
    catalogue=(
        "ap-source-ip",
        "ap-source-empty-value",
        "ap-source-sa-format",
        "ap-source-td-format",
    ),
)
def authz_source_value(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, ap_rule in _rules(spec):
        for j, source in _items(ap_rule, "from", "source"):
            if not isinstance(source, dict):
                continue
            base: FieldPath = ("spec", "rules", i, "from", j, "source")
            for field in _SOURCE_FIELDS:
                for n, value in _strings(source, field):
                    problem: str | None
                    if value == "":
                        problem = f"an empty string in {field} is not allowed"
                    elif field in _IP_FIELDS:
                        problem = check_cidr(value)
                    elif field in ("serviceAccounts", "notServiceAccounts"):
                        problem = _service_account_problem(value)
                    elif field in ("trustDomains", "notTrustDomains"):
                        problem = _trust_domain_problem(value)
                    else:
                        problem = None
                    if problem:
                        yield Finding((*base, field, n), problem)


@rule(
    "ML768",
    "authz-operation-value",
    Severity.ERROR,
    summary="A value of a rule's operation is empty or malformed (port, path template).",
    rationale="""
        Istio's webhook rejects empty strings in every list of an operation, ports that are not
        decimal numbers up to 65535, and path templates it cannot translate: `{*}` and `{**}`
        must be whole path segments, `{**}` must come last, and the other segments of a template
        may only use URL path characters.
    """,
    bad=_ap('  rules:\n  - to:\n    - operation:\n        paths: ["/api/{id}/items"]\n'),
    good=_ap('  rules:\n  - to:\n    - operation:\n        paths: ["/api/{*}/items"]\n'),
    kinds=_KIND,
    istio="IST0106",
    source=f"{_S} (ValidatePorts, CheckEmptyValues, CheckValidPathTemplate) — 'bad port', "
    "'empty value not allowed', 'invalid or unsupported path'",
    catalogue=("ap-op-ports", "ap-op-empty-value", "ap-op-path-template"),
)
def authz_operation_value(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, ap_rule in _rules(spec):
        for j, op in _items(ap_rule, "to", "operation"):
            if not isinstance(op, dict):
                continue
            base: FieldPath = ("spec", "rules", i, "to", j, "operation")
            for field in _OPERATION_FIELDS:
                for n, value in _strings(op, field):
                    problem: str | None
                    if value == "":
                        problem = f"an empty string in {field} is not allowed"
                    elif field in ("ports", "notPorts"):
                        problem = _port_problem(value)
                    elif field in ("paths", "notPaths"):
                        problem = _path_template_problem(value)
                    else:
                        problem = None
                    if problem:
                        yield Finding((*base, field, n), problem)


_PLAIN_KEYS = frozenset(
    (
        "source.ip",
        "remote.ip",
        "source.namespace",
        "source.serviceAccount",
        "source.principal",
        "source.trustDomain",
        "request.auth.principal",
        "request.auth.audiences",
        "request.auth.presenter",
        "destination.ip",
        "destination.port",
        "connection.sni",
    )
)
_MAP_KEYS = ("request.headers", "request.auth.claims", "experimental.envoy.filters.")


def _condition_key_problem(key: str) -> str | None:
    for prefix in _MAP_KEYS:
        if key.startswith(prefix):
            open_ = key.find("[")
            if key.endswith("]") and 0 < open_ < len(key) - 2:
                return None
            name = prefix.rstrip(".") + ("…" if prefix.endswith(".") else "")
            return f"condition key '{key}' needs a name in brackets, e.g. {name}[name]"
    if key in _PLAIN_KEYS:
        return None
    if key == "destination.namespace":
        return (
            "destination.namespace is not supported: the policy's own namespace already limits it"
        )
    if key.startswith("destination.labels"):
        return "destination.labels is not supported: select workloads with spec.selector instead"
    if key in ("destination.name", "destination.user"):
        return f"{key} was removed with v1alpha1 policies and is not supported"
    return (
        f"'{key}' is not a supported condition key: use request.headers[…], source.ip, "
        "remote.ip, source.namespace, source.serviceAccount, source.principal, "
        "source.trustDomain, request.auth.principal, request.auth.audiences, "
        "request.auth.presenter, request.auth.claims[…], destination.ip, destination.port, "
        "connection.sni or experimental.envoy.filters.…[…]"
    )


def _condition_value_problem(key: str, value: str) -> str | None:
    if value == "":
        return "an empty string is not allowed as a condition value"
    if key in ("source.ip", "remote.ip", "destination.ip"):
        return check_cidr(value)
    if key == "destination.port":
        return _port_problem(value)
    if key == "source.serviceAccount":
        if len(value) > 320:
            return (
                f"service account '{value[:40]}…' is {len(value)} characters long, the most is 320"
            )
        return _service_account_problem(value)
    if key == "source.trustDomain":
        return _wildcard_problem(value, "trust domain")
    return None


def _conditions(spec: dict[str, Any]) -> Iterator[tuple[FieldPath, dict[str, Any], str]]:
    for i, ap_rule in _rules(spec):
        when = ap_rule.get("when")
        if isinstance(when, list):
            for k, cond in enumerate(when):
                if isinstance(cond, dict) and isinstance(cond.get("key"), str):
                    yield ("spec", "rules", i, "when", k), cond, cond["key"]


@rule(
    "ML769",
    "authz-condition",
    Severity.ERROR,
    summary="A `when` condition has an unsupported key, no values, or values its key does not accept.",
    rationale="""
        Istio's webhook checks each condition: the key is one of the supported attributes (map
        attributes such as `request.headers[name]` need a name in brackets), at least one of
        `values` or `notValues` is given, no value is empty, and values fit the key: IPs or
        CIDR blocks for `source.ip`, `remote.ip` and `destination.ip`, port numbers for
        `destination.port`, service accounts for `source.serviceAccount`, and wildcards only at
        the ends for `source.trustDomain`.
    """,
    bad=_ap("  rules:\n  - when:\n    - key: request.headers\n      values: [v1]\n"),
    good=_ap("  rules:\n  - when:\n    - key: request.headers[version]\n      values: [v1]\n"),
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W}; {_S} (ValidateAttribute) — '`key` must not be empty', 'at least one of "
    "`values` or `notValues` must be set', 'unknown attribute', 'bad key (%s): should have "
    "format a[b]', 'attribute %s is replaced by …', 'invalid `value` for `key`'",
    catalogue=(
        "ap-when-key-missing",
        "ap-when-no-values",
        "ap-when-empty-value",
        "ap-when-key-unknown",
        "ap-when-key-brackets",
        "ap-when-dest-ns",
        "ap-when-dest-labels",
        "ap-when-v1alpha1",
        "ap-when-ip-values",
        "ap-when-port-values",
        "ap-when-sa-values",
        "ap-when-td-values",
    ),
)
def authz_condition(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for where, cond, key in _conditions(spec):
        if key == "":
            yield Finding((*where, "key"), "the condition key is empty: name an attribute")
            continue
        if not (_nonempty(cond, "values") or _nonempty(cond, "notValues")):
            if any(
                f in cond and not isinstance(cond[f], list | None) for f in ("values", "notValues")
            ):
                continue
            yield Finding(
                (*where, "key"), f"condition {key} has neither values nor notValues: give one"
            )
            continue
        empty = False
        for field in ("values", "notValues"):
            values = cond.get(field)
            if key == "source.serviceAccount" and isinstance(values, list) and len(values) > 16:
                yield Finding(
                    (*where, field),
                    f"source.serviceAccount takes at most 16 {field}; this has {len(values)}",
                )
            for n, value in _strings(cond, field):
                problem = _condition_value_problem(key, value)
                empty = empty or value == ""
                if problem:
                    yield Finding((*where, field, n), problem)
        if not empty:
            problem = _condition_key_problem(key)
            if problem:
                yield Finding((*where, "key"), problem)


def _is_http_only_rule(ap_rule: dict[str, Any]) -> bool:
    """Istio's test for a DENY rule that becomes "deny all" on TCP ports."""
    sources = [s for _, s in _items(ap_rule, "from", "source") if isinstance(s, dict)]
    operations = [o for _, o in _items(ap_rule, "to", "operation") if isinstance(o, dict)]
    tcp_from = any(s.get(f) is not None for s in sources for f in _TCP_SOURCE_FIELDS)
    tcp_to = any(o.get("ports") is not None or o.get("notPorts") is not None for o in operations)
    return bool((sources and not operations and not tcp_from) or (operations and not tcp_to))


@rule(
    "ML770",
    "authz-deny-http-only",
    Severity.WARNING,
    summary="A DENY rule uses only HTTP attributes, so it denies all TCP traffic in its scope.",
    rationale="""
        HTTP attributes (paths, methods, hosts, request principals) cannot be evaluated on plain
        TCP connections; for TCP ports Istio keeps the rule without them, so a DENY rule that
        only uses them denies every TCP connection to the selected workloads. Istio's webhook
        accepts the policy with a warning; name the ports the rule is meant for.
    """,
    bad=_ap('  rules:\n  - to:\n    - operation:\n        paths: ["/admin*"]\n', action="DENY"),
    good=_ap(
        '  rules:\n  - to:\n    - operation:\n        ports: ["8080"]\n        paths: ["/admin*"]\n',
        action="DENY",
    ),
    kinds=_KIND,
    istio="IST0133",
    source=f"{_W} — warning 'configured AuthorizationPolicy will deny all traffic to TCP ports "
    "under its scope due to the use of only HTTP attributes in a DENY rule'",
    catalogue=("ap-deny-http-only",),
)
def authz_deny_http_only(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or spec.get("action") != "DENY":
        return
    for i, ap_rule in _rules(spec):
        if _is_http_only_rule(ap_rule):
            yield Finding(
                ("spec", "rules", i),
                "this DENY rule only uses HTTP attributes: on TCP ports it denies every "
                "connection; add `ports` to its operation to limit it to HTTP ports",
            )


# --------------------------------------------------------------------------------------------
# Best practice: ALLOW policies that deny or allow everything (ML771, ML772)

_AP_PRACTICE = (
    "meshlint best practice: istio/api security/v1beta1/authorization_policy.proto (an ALLOW "
    "policy without rules matches nothing; a rule without from, to and when matches every "
    "request; ALLOW policies of a workload are combined: a request one of them allows is "
    "allowed)"
)


def _enforced_allow(res: Resource, spec: dict[str, Any]) -> bool:
    """An ALLOW policy (the default action) that is enforced: a dry-run policy
    (`istio.io/dry-run: "true"`) only logs what it would decide."""
    action = spec.get("action")
    annotations = res.metadata.get("annotations")
    dry_run = isinstance(annotations, dict) and annotations.get("istio.io/dry-run") == "true"
    return (action is None or action == "ALLOW") and not dry_run


def _scope(res: Resource, spec: dict[str, Any]) -> str:
    """The workloads a policy applies to, for a message."""
    selector = spec.get("selector")
    labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    if isinstance(labels, dict) and labels:
        wanted = ", ".join(f"{k}={v}" for k, v in labels.items())
        return f"the workloads labelled {wanted}"
    if spec.get("targetRef") is not None or spec.get("targetRefs") is not None:
        return "the resources it targets"
    ns = res.metadata.get("namespace")
    ns = ns if isinstance(ns, str) and ns else "default"
    if ns == "istio-system":
        return "every workload of the mesh (a policy of the root namespace istio-system)"
    return f"every workload of namespace {ns}"


@rule(
    "ML771",
    "allow-policy-without-rules",
    Severity.WARNING,
    summary="An ALLOW AuthorizationPolicy has no rules, so it denies every request to its "
    "workloads.",
    rationale="""
        An ALLOW policy allows the requests its rules match; once a workload has an ALLOW
        policy, every request no ALLOW policy matches is denied. A policy with no `rules`
        (or `rules: []`, or an empty `spec`) matches nothing, so every request to the
        workloads it selects is denied with 403 (and TCP connections are closed), unless
        another ALLOW policy of the workloads matches it. Istio documents that as the
        "allow-nothing" policy, written `spec: {}` (or with only a selector), and such a
        policy is left alone; but an `action: ALLOW` or a `rules:` key with nothing under it
        is what is left when rules were lost in an edit or a template. When it is meant,
        write it as `spec: {}`, or say so with the `meshlint.io/ignore: ML771` annotation.
    """,
    bad=_ap(""),
    good=_ap("  rules:\n  - from:\n    - source:\n        namespaces: [web]\n"),
    kinds=_KIND,
    source=_AP_PRACTICE,
    catalogue=("ap-ml-allow-empty",),
)
def allow_policy_without_rules(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or not _enforced_allow(res, spec) or spec.get("rules") not in (None, []):
        return
    if "rules" not in spec and "action" not in spec:
        return  # Istio's documented allow-nothing policy (`spec: {}`), written as such
    if spec.get("rules") is not None:
        path: FieldPath = ("spec", "rules")
    elif "action" in spec:
        path = ("spec", "action")
    else:
        path = ("spec",)
    yield Finding(
        path,
        f"this ALLOW policy has no rules: it matches no request, so every request to "
        f"{_scope(res, spec)} is denied unless another ALLOW policy allows it; add rules, "
        "or mark an intended allow-nothing policy with `meshlint.io/ignore: ML771`",
        key=path[-1] != "action",
    )


@rule(
    "ML772",
    "allow-rule-matches-everything",
    Severity.WARNING,
    summary="A rule of an ALLOW AuthorizationPolicy has no `from`, `to` or `when`, so it "
    "allows every request.",
    rationale="""
        A rule matches a request when all of its `from`, `to` and `when` match; a rule
        with none of them (`rules: [{}]`, or `- {}` among other rules) matches every
        request. In an ALLOW policy it allows every request, from any source, to any path,
        of the workloads the policy selects, and since ALLOW policies are combined, it also
        makes every other ALLOW policy of those workloads irrelevant: only DENY policies
        still restrict them. A policy whose only rule is `{}` is Istio's documented
        "allow-all" policy: it gets an info finding that says what it does. An empty rule
        among other rules is a warning: it makes the others pointless, which is what a rule
        emptied by mistake (a `from` indented one level too deep, a template that rendered
        nothing) looks like. (For DENY, an empty rule denies every request, which is what it
        is used for.)
    """,
    bad=_ap("  rules:\n  - from:\n    - source:\n        namespaces: [web]\n  - {}\n"),
    good=_ap("  rules:\n  - from:\n    - source:\n        namespaces: [web]\n"),
    kinds=_KIND,
    source=_AP_PRACTICE,
    catalogue=(),
)
def allow_rule_matches_everything(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or not _enforced_allow(res, spec):
        return
    found = list(_rules(spec))
    for i, ap_rule in found:
        if any(ap_rule.get(key) is not None for key in ("from", "to", "when")):
            continue
        if len(found) == 1:  # Istio's documented allow-all policy: said, not warned about
            yield Finding(
                ("spec", "rules", i),
                f"this rule has no from, to or when: the policy allows every request to "
                f"{_scope(res, spec)}, and other ALLOW policies no longer restrict them",
                severity=Severity.INFO,
            )
            continue
        yield Finding(
            ("spec", "rules", i),
            f"this rule has no from, to or when: it matches every request, so the policy "
            f"allows every request to {_scope(res, spec)} and its other rules, and other "
            "ALLOW policies, no longer restrict anything; add conditions to it or remove it",
        )
