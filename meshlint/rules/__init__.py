"""The rule registry. A rule states, in one place, everything that is said about it.

A family is a module of this package; its rules register themselves when it is imported, with
:func:`rule` (a check the engine runs on each resource of the kinds it names) or :func:`define`
(a problem another stage finds, such as the loader's syntax errors, which still needs a code, docs
and examples). ``meshlint rules``, ``meshlint explain``, docs/rules.md, SARIF rule metadata and the
example tests all read the registry.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshlint.diagnostics import FieldPath, Severity

if TYPE_CHECKING:
    from meshlint.resource import Resource

# Families by hundreds, and the modules that hold each family's rules.
FAMILIES: dict[str, tuple[str, ...]] = {
    "ML1": ("document",),
    "ML2": ("schema", "external"),
    "ML3": ("metadata",),
    "ML4": ("virtualservice",),
    "ML5": ("destinationrule",),
    "ML6": ("gateway", "serviceentry", "sidecar"),
    "ML7": ("peerauthentication", "requestauthentication", "authorizationpolicy"),
    "ML8": ("telemetry",),
    "ML9": (
        "mesh",
        "mesh_routing",
        "mesh_tls",
        "mesh_selectors",
        "mesh_gateway",
        "mesh_security",
        "mesh_practice",
        "mesh_ambient",
    ),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """What a check returns; the engine turns it into a located Diagnostic."""

    path: FieldPath
    message: str
    fix: str | None = None
    key: bool = False  # point at the key of ``path`` rather than at its value
    severity: Severity | None = None  # only to lower or raise one finding of a rule


Check = Callable[["Resource"], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    rationale: str
    bad: str
    good: str
    family: str
    istio: str | None = None  # the istioctl analyze / webhook code it matches, if any
    kiali: str | None = None
    kinds: frozenset[str] | None = None  # kinds whose resources ``check`` sees; None: every one
    check: Check | None = field(default=None, compare=False)
    fixable: bool = False
    # Where the verdict comes from: Istio's webhook or CRD message and its source file, for
    # rules that mirror what Istio rejects.
    source: str | None = None
    # The ids of the rows of the rules catalogue (shared/reference/rules-catalogue.md) that this
    # rule implements; docs/rules.md lists them.
    catalogue: tuple[str, ...] = ()

    def applies_to(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


_REGISTRY: dict[str, Rule] = {}
_CODE = re.compile(r"^ML[1-9]\d\d$")
_NAME = re.compile(r"^[a-z][a-z0-9-]+$")
_loaded = False


def _register(rule: Rule) -> Rule:
    if not _CODE.match(rule.code):
        raise ValueError(f"rule code {rule.code!r} is not ML followed by three digits")
    if not _NAME.match(rule.name):
        raise ValueError(f"rule name {rule.name!r} is not kebab-case")
    if rule.code in _REGISTRY:
        raise ValueError(f"rule code {rule.code} registered twice")
    if any(r.name == rule.name for r in _REGISTRY.values()):
        raise ValueError(f"rule name {rule.name} registered twice")
    if rule.code[:3] not in FAMILIES:
        raise ValueError(f"rule code {rule.code} is in no family")
    for text, what in ((rule.summary, "summary"), (rule.rationale, "rationale")):
        if not text.strip():
            raise ValueError(f"rule {rule.code} has no {what}")
    _REGISTRY[rule.code] = rule
    return rule


def _family_of(module: str) -> str:
    return module.rsplit(".", 1)[-1]


def define(
    code: str,
    name: str,
    severity: Severity,
    *,
    summary: str,
    rationale: str,
    bad: str,
    good: str,
    istio: str | None = None,
    kiali: str | None = None,
    fixable: bool = False,
    module: str = "",
    source: str | None = None,
    catalogue: Iterable[str] = (),
) -> Rule:
    """Register a rule whose findings another stage produces."""
    return _register(
        Rule(
            code,
            name,
            severity,
            summary,
            _dedent(rationale),
            _dedent(bad),
            _dedent(good),
            _family_of(module),
            istio,
            kiali,
            None,
            None,
            fixable=fixable,
            source=source,
            catalogue=tuple(catalogue),
        )
    )


def rule(
    code: str,
    name: str,
    severity: Severity,
    *,
    summary: str,
    rationale: str,
    bad: str,
    good: str,
    kinds: Iterable[str] | None = None,
    istio: str | None = None,
    kiali: str | None = None,
    fixable: bool = False,
    source: str | None = None,
    catalogue: Iterable[str] = (),
) -> Callable[[Check], Check]:
    """Register the decorated function as the check of a rule."""

    def wrap(fn: Check) -> Check:
        _register(
            Rule(
                code,
                name,
                severity,
                summary,
                _dedent(rationale),
                _dedent(bad),
                _dedent(good),
                _family_of(fn.__module__),
                istio,
                kiali,
                frozenset(kinds) if kinds is not None else None,
                fn,
                fixable=fixable,
                source=source,
                catalogue=tuple(catalogue),
            )
        )
        return fn

    return wrap


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).strip("\n") + "\n" if text.strip() else ""


def load_all() -> dict[str, Rule]:
    global _loaded
    if not _loaded:
        for modules in FAMILIES.values():
            for module in modules:
                importlib.import_module(f"meshlint.rules.{module}")
        _loaded = True
    return _REGISTRY


def all_rules() -> list[Rule]:
    return sorted(load_all().values(), key=lambda r: r.code)


def get(code_or_name: str) -> Rule | None:
    registry = load_all()
    key = code_or_name.strip()
    if key.upper() in registry:
        return registry[key.upper()]
    for r in registry.values():
        if r.name == key.lower():
            return r
    return None


def checks_for(kind: str, enabled: Callable[[str], bool]) -> Iterator[Rule]:
    for r in all_rules():
        if r.check is not None and r.applies_to(kind) and enabled(r.code):
            yield r


def walk(value: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, Any, bool]]:
    """Every node of plain data: (path, value, is_key). Keys come before their values."""
    stack: list[tuple[FieldPath, Any]] = [(path, value)]
    while stack:
        p, v = stack.pop()
        if isinstance(v, dict):
            items = list(v.items())
            for k, child in reversed(items):
                stack.append(((*p, k), child))
            for k, _ in items:
                yield (*p, k), k, True
        elif isinstance(v, list):
            for i in range(len(v) - 1, -1, -1):
                stack.append(((*p, i), v[i]))
        else:
            yield p, v, False
