"""The rule registry, and the one contract every rule follows.

A rule is one declaration: :func:`rule` gives its code, name, severity, summary, rationale,
bad and good examples, the Istio and Kiali codes it matches (``istio``, ``kiali``, and
``also`` for a rule that does what several of their checks do), the catalogue rows it implements,
what it applies to (``kinds``, and a ``scope``), its options and the old codes it replaces; the
function it decorates is its check.

- ``scope="resource"``: ``check(res, **options)`` sees one resource of the rule's kinds at a time
  and yields :class:`Finding` values about it.
- ``scope="mesh"``: ``check(rec, index, **options)`` sees one record of the rule's kinds at a
  time, with the :class:`~meshlint.mesh.MeshIndex` of the whole run to look others up in, and
  yields findings about that record.
- ``scope="stage"``: the findings come from a stage of the engine (the loader, the schema
  validation); the declaration is used without a check, as a plain call.

Rule modules live in the family folders of this package (``rules/<kind>/``, ``rules/mesh/``);
:func:`load_all` imports every one of them, so a new module needs no registration. A lint
imports only the folders it needs (:data:`FOLDERS`): those of the kinds it meets, the folders
every kind needs, and the folder of any code it asks for. They import
the rules library (``rules/lib/``), the mesh layer, the models and the diagnostics, never each
other. ``meshlint rules``, ``meshlint explain``, docs/rules.md, SARIF rule metadata and the rule
tests all read this registry.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from meshlint.diagnostics import FieldPath, Finding, Severity

__all__ = [
    "FAMILIES",
    "Finding",
    "Option",
    "Rule",
    "all_rules",
    "checks_for",
    "get",
    "load_all",
    "lookup",
    "rule",
    "walk",
]

# Families by hundreds: what each prefix covers (docs/rules.md and `meshlint rules` group by it).
FAMILIES: dict[str, str] = {
    "ML0": "translation: what a translated config leaves out",
    "ML1": "the file and its YAML",
    "ML2": "kinds, apiVersions and the typed models",
    "ML3": "metadata, workload selectors and target references, template placeholders",
    "ML4": "VirtualService",
    "ML5": "DestinationRule",
    "ML6": "Gateway, ServiceEntry and Sidecar",
    "ML7": "PeerAuthentication, RequestAuthentication and AuthorizationPolicy",
    "ML8": "Telemetry",
    "ML9": "across resources",
}

# The folders of the rule modules: the families their codes are in, and the kinds their resource
# rules apply to (None: any kind). tests/test_registry.py holds each rule to its folder's entry.
FOLDERS: dict[str, tuple[tuple[str, ...], frozenset[str] | None]] = {
    "translate": (("ML0",), frozenset()),
    "document": (("ML1",), frozenset()),
    "schema": (("ML2",), None),
    "metadata": (("ML3",), None),
    "virtualservice": (("ML4",), frozenset({"VirtualService"})),
    "destinationrule": (("ML5",), frozenset({"DestinationRule"})),
    "gateway": (("ML6",), frozenset({"Gateway", "Sidecar"})),
    "serviceentry": (("ML6",), frozenset({"ServiceEntry"})),
    "sidecar": (("ML6",), frozenset({"Sidecar"})),
    "security": (
        ("ML7",),
        frozenset({"PeerAuthentication", "RequestAuthentication", "AuthorizationPolicy"}),
    ),
    "telemetry": (("ML8",), frozenset({"Telemetry"})),
    "mesh": (("ML9",), frozenset()),
}

Scope = Literal["resource", "mesh", "stage"]
Check = Callable[..., Iterable[Finding]]

_OPTION_TYPES = ("duration", "int", "float", "bool", "str", "strings")


@dataclass(frozen=True)
class Option:
    """A setting of one rule, written in the configuration as ``options: {CODE: {name: value}}``.

    ``type`` is one of ``duration`` (an Istio duration such as ``100ms``, given to the check in
    seconds), ``int``, ``float``, ``bool``, ``str`` or ``strings`` (a list of strings). The check
    receives it as a keyword argument named like the option with ``-`` written ``_``.
    """

    name: str
    type: str
    default: Any
    help: str

    @property
    def keyword(self) -> str:
        return self.name.replace("-", "_")

    def parse(self, value: Any) -> Any:
        """The value as the check receives it; ValueError says what is wrong with it."""
        kind = self.type
        if kind == "duration":
            seconds = _duration_seconds(value)
            if seconds is None:
                raise ValueError(f"expected a duration such as 100ms or 2s, got {value!r}")
            return seconds
        if kind == "bool":
            if isinstance(value, bool):
                return value
            raise ValueError(f"expected true or false, got {value!r}")
        if kind == "int":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise ValueError(f"expected an integer, got {value!r}")
        if kind == "float":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            raise ValueError(f"expected a number, got {value!r}")
        if kind == "str":
            if isinstance(value, str):
                return value
            raise ValueError(f"expected a string, got {value!r}")
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ValueError(f"expected a list of strings, got {value!r}")


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns)$")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _duration_seconds(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    m = _DURATION.match(value.strip())
    return float(m.group(1)) * _UNIT[m.group(2)] if m else None


@dataclass(frozen=True, eq=False)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    raw_rationale: str = field(repr=False)
    raw_bad: str = field(repr=False)
    raw_good: str = field(repr=False)
    scope: Scope = "resource"
    kinds: frozenset[str] | None = None  # kinds whose resources ``check`` sees; None: every one
    check: Check | None = field(default=None, repr=False)
    istio: str | None = None  # the istioctl analyze / webhook code it matches, if any
    kiali: str | None = None
    fixable: bool = False
    # Where the verdict comes from: Istio's webhook or CRD message and its source file, for
    # rules that mirror what Istio rejects.
    source: str | None = None
    # The ids of the rows of the rules catalogue (shared/reference/rules-catalogue.md) that this
    # rule implements; docs/rules.md lists them.
    catalogue: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    # Codes this rule took over: old codes of rules merged into it, or the code of the rule it
    # was split from (which may still be a rule of its own). Selecting, ignoring or suppressing
    # such a code covers this rule too.
    aliases: tuple[str, ...] = ()
    module: str = ""  # the module that declares it
    # Further Istio or Kiali codes of checks this one rule does, beside ``istio`` and ``kiali``:
    # Kiali numbers the same check apart for each kind it looks at (KIA0110 for an
    # AuthorizationPolicy, KIA1115 for a RequestAuthentication, …).
    also: tuple[str, ...] = ()
    # Mapping keys of which at least one is written (at any depth) in every document the rule
    # finds something in: the engine does not run it on a document that has none of them.
    # Empty: it runs on every document of its kinds.
    needs: frozenset[str] = frozenset()
    # A cross-resource rule only: the name of the rules that read the same memos of the run
    # (MeshIndex.memo, memo_by and of_record) as this one. Under ``--jobs`` those rules run in
    # one process, so that each memo is worked out once. tests/test_rule_shares.py finds which
    # rules read which memos.
    shares: str | None = None

    @property
    def matches(self) -> tuple[str, ...]:
        """Every Istio and Kiali code the rule matches: ``istio``, ``kiali``, then ``also``."""
        return tuple(c for c in (self.istio, self.kiali) if c) + self.also

    @property
    def istio_codes(self) -> tuple[str, ...]:
        """The Istio codes among :attr:`matches` (Istio's suppression annotation reads them)."""
        return tuple(c for c in self.matches if c.startswith("IST"))

    @property
    def kiali_codes(self) -> tuple[str, ...]:
        return tuple(c for c in self.matches if c.startswith("KIA"))

    @property
    def family(self) -> str:
        return self.code[:3]

    # The texts are dedented when first read: most runs never show them.
    @functools.cached_property
    def rationale(self) -> str:
        return _dedent(self.raw_rationale)

    @functools.cached_property
    def bad(self) -> str:
        return _dedent(self.raw_bad)

    @functools.cached_property
    def good(self) -> str:
        return _dedent(self.raw_good)

    def applies_to(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds

    def option_values(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The keyword arguments of the check: each option's default, or the value ``given``
        (as the configuration spells it). ValueError names an unknown or malformed option."""
        given = dict(given or {})
        out: dict[str, Any] = {}
        for opt in self.options:
            raw = given.pop(opt.name, given.pop(opt.keyword, opt.default))
            try:
                out[opt.keyword] = opt.parse(raw)
            except ValueError as exc:
                raise ValueError(f"option `{opt.name}` of {self.code}: {exc}") from None
        if given:
            known = ", ".join(f"`{o.name}`" for o in self.options) or "none"
            unknown = ", ".join(f"`{k}`" for k in sorted(map(str, given)))
            raise ValueError(f"{self.code} has no option {unknown} (its options: {known})")
        return out


_REGISTRY: dict[str, Rule] = {}
_BY_NAME: dict[str, str] = {}
_ALIASES: dict[str, list[str]] = {}  # old code → the codes of the rules that took it over
_CODE = re.compile(r"^ML\d\d\d$")
_UPSTREAM = re.compile(r"^(IST|KIA)\d{4}$")
_NAME = re.compile(r"^[a-z][a-z0-9-]+$")
_loaded_folders: set[str] = set()
_loaded = False  # every folder


def _register(r: Rule) -> None:
    if not _CODE.match(r.code):
        raise ValueError(f"rule code {r.code!r} is not ML followed by three digits")
    if r.code == "ML000":
        raise ValueError("rule code ML000 is reserved")
    if not _NAME.match(r.name):
        raise ValueError(f"rule name {r.name!r} is not kebab-case")
    if r.code in _REGISTRY:
        raise ValueError(f"rule code {r.code} registered twice")
    if r.name in _BY_NAME:
        raise ValueError(f"rule name {r.name} registered twice")
    if r.family not in FAMILIES:
        raise ValueError(f"rule code {r.code} is in no family")
    if r.scope not in ("resource", "mesh", "stage"):
        raise ValueError(f"rule {r.code}: unknown scope {r.scope!r}")
    for text, what in ((r.summary, "summary"), (r.raw_rationale, "rationale")):
        if not text or text.isspace():  # (no copy of the text, as strip() would make)
            raise ValueError(f"rule {r.code} has no {what}")
    for opt in r.options:
        if opt.type not in _OPTION_TYPES:
            raise ValueError(f"rule {r.code}: option {opt.name} has unknown type {opt.type}")
        opt.parse(opt.default)  # a default the option itself refuses is a bug
    for old in r.aliases:
        if not _CODE.match(old) or old == r.code:
            raise ValueError(f"rule {r.code}: alias {old} is no other rule code")
    for tool, given, prefix in (("istio", r.istio, "IST"), ("kiali", r.kiali, "KIA")):
        if given is not None and (not _UPSTREAM.match(given) or given[:3] != prefix):
            raise ValueError(f"rule {r.code}: {tool} code {given!r} is not {prefix}nnnn")
    for extra in r.also:
        if not _UPSTREAM.match(extra) or extra in (r.istio, r.kiali):
            raise ValueError(f"rule {r.code}: `also` code {extra!r} is no further ISTnnnn/KIAnnnn")
    if r.shares is not None and (r.scope != "mesh" or not _NAME.match(r.shares)):
        raise ValueError(f"rule {r.code}: `shares` names rules of the mesh scope, in kebab-case")
    for old in r.aliases:
        _ALIASES.setdefault(old, []).append(r.code)
    _REGISTRY[r.code] = r
    _BY_NAME[r.name] = r.code


def rule(
    code: str,
    name: str,
    severity: Severity,
    *,
    summary: str,
    rationale: str,
    bad: str = "",
    good: str = "",
    kinds: Iterable[str] | None = None,
    scope: Scope = "resource",
    istio: str | None = None,
    kiali: str | None = None,
    fixable: bool = False,
    source: str | None = None,
    catalogue: Iterable[str] = (),
    options: Iterable[Option] = (),
    aliases: Iterable[str] = (),
    also: Iterable[str] = (),
    needs: Iterable[str] = (),
    shares: str | None = None,
) -> Callable[[Check], Check]:
    """Declare a rule. Used as a decorator, the function is its check; a ``scope="stage"``
    rule is declared with a plain call."""
    declared = Rule(
        code,
        name,
        severity,
        summary,
        rationale,
        bad,
        good,
        scope,
        frozenset(kinds) if kinds is not None else None,
        None,
        istio,
        kiali,
        fixable,
        source,
        tuple(catalogue),
        tuple(options),
        tuple(aliases),
        sys._getframe(1).f_globals.get("__name__", ""),
        tuple(also),
        frozenset(needs),
        shares,
    )
    _register(declared)

    def attach(fn: Check) -> Check:
        if scope == "stage":
            raise ValueError(f"rule {code} is found by a stage of the engine; it has no check")
        if _REGISTRY[code].check is not None:
            raise ValueError(f"rule {code} has two checks")
        _REGISTRY[code] = dataclasses.replace(declared, check=fn)
        return fn

    return attach


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).strip("\n") + "\n" if text.strip() else ""


def _rule_modules(folders: Iterable[str] | None = None) -> Iterator[str]:
    """The modules of the family folders (all, or of ``folders``), in a stable order (the
    library is not one)."""
    prefix = __name__ + "."
    paths = __path__ if folders is None else [f"{__path__[0]}/{f}" for f in sorted(folders)]
    for path in paths:
        start = prefix if folders is None else f"{prefix}{path.rsplit('/', 1)[1]}."
        for info in sorted(pkgutil.walk_packages([path], start), key=lambda i: i.name):
            if info.ispkg or info.name.startswith(prefix + "lib."):
                continue
            yield info.name


def _load(folders: Iterable[str]) -> dict[str, Rule]:
    """The registry, with the rules of ``folders`` in it."""
    todo = set(folders) - _loaded_folders
    if todo and not _loaded:
        before = set(_REGISTRY)
        for module in _rule_modules(todo):
            importlib.import_module(module)
        for code in set(_REGISTRY) - before:
            r = _REGISTRY[code]
            if r.scope != "stage" and r.check is None:
                raise ValueError(f"rule {r.code} ({r.scope}) has no check")
        _loaded_folders.update(todo)
    return _REGISTRY


def load_all() -> dict[str, Rule]:
    global _loaded
    if not _loaded:
        _load(FOLDERS)
        for module in _rule_modules():  # a folder FOLDERS does not name yet
            importlib.import_module(module)
        _loaded = True
    return _REGISTRY


def _folders_of_code(code: str) -> list[str]:
    return [f for f, (families, _) in FOLDERS.items() if code[:3] in families]


def _folders_of_kind(kind: str) -> list[str]:
    return [f for f, (_, kinds) in FOLDERS.items() if kinds is None or kind in kinds]


def all_rules() -> list[Rule]:
    return sorted(load_all().values(), key=lambda r: r.code)


def get(code_or_name: str) -> Rule | None:
    """The rule of a code or a name, or of an old code that one rule took over."""
    key = code_or_name.strip()
    found = _load(_folders_of_code(key.upper())).get(key.upper())
    if found is not None:
        return found
    registry = load_all()  # a name, or an old code: it may be anywhere
    code = _BY_NAME.get(key.lower())
    if code is not None:
        return registry[code]
    targets = _ALIASES.get(key.upper())
    if targets is not None and len(targets) == 1:
        return registry[targets[0]]
    return None  # unknown, or an old code several rules took over (see lookup)


def lookup(selector: str) -> list[Rule]:
    """The rules a code, a name or an old code stands for (not a prefix): a name means its
    rule; a code means its rule and the rules that took it over (merged into them, or split off
    it)."""
    registry = load_all()
    key = selector.strip()
    if key.lower() in _BY_NAME:
        return [registry[_BY_NAME[key.lower()]]]
    code = key.upper()
    found = [registry[code]] if code in registry else []
    found += [registry[c] for c in _ALIASES.get(code, ()) if c != code]
    return found


def aliases() -> dict[str, list[str]]:
    """Old codes and the codes of the rules that took them over."""
    load_all()
    return {old: list(new) for old, new in sorted(_ALIASES.items())}


def checks_for(kind: str, enabled: Callable[[str], bool]) -> Iterator[Rule]:
    """The resource rules that run on a resource of ``kind``, in code order."""
    registry = _load(_folders_of_kind(kind))
    for r in sorted(registry.values(), key=lambda r: r.code):
        if r.scope == "resource" and r.applies_to(kind) and enabled(r.code):
            yield r


def mesh_rules(enabled: Callable[[str], bool]) -> list[Rule]:
    """The cross-resource rules that run, in code order."""
    registry = _load(_folders_of_code("ML9"))
    return [
        r
        for r in sorted(registry.values(), key=lambda r: r.code)
        if r.scope == "mesh" and enabled(r.code)
    ]


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
