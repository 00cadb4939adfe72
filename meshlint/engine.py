"""The lint pipeline: load → resources → schema and rule checks → located, filtered findings."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshlint import loader, rules
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic, Severity, format_path
from meshlint.loader import Document, LoadResult, Source
from meshlint.resource import Resource
from meshlint.rules import Finding

INTERNAL_ERROR = "ML107"
IGNORE_ANNOTATION = "meshlint.io/ignore"
ISTIO_SUPPRESS_ANNOTATION = "galley.istio.io/analyze-suppress"

_DIRECTIVE = re.compile(r"#\s*meshlint:\s*disable(-file)?\s*=\s*([A-Za-z0-9_,\s-]+)")


@dataclass
class LintResult:
    findings: list[Diagnostic] = field(default_factory=list)
    # The sources read; in a parallel run only those with findings (their text is needed for
    # code frames), which is why ``files`` is counted on its own.
    sources: list[Source] = field(default_factory=list)
    resources: int = 0
    io_error: bool = False
    files: int = 0

    def source(self, name: str) -> Source | None:
        for s in self.sources:
            if s.name == name:
                return s
        return None


# Below this many files a run stays in one process: starting workers would cost more.
PARALLEL_MIN_FILES = 40


def lint_paths(
    paths: Sequence[str],
    config: Config,
    *,
    stdin_name: str = "<stdin>",
    files: Sequence[str] | None = None,
    jobs: int = 1,
    progress: bool = False,
) -> LintResult:
    """Lint file by file: each file's node trees are freed before the next file is read.

    With ``jobs`` > 1 and enough files, contiguous slices of the files go to worker processes;
    the output is the same, in the same order, as a run in one process.
    """
    if files is None:
        files, _ = loader.discover(paths, config.exclude)
    if jobs > 1 and len(files) >= PARALLEL_MIN_FILES and "-" not in files:
        from meshlint.parallel import lint_in_workers

        return lint_in_workers(list(files), config, jobs, progress=progress)
    return lint_files(files, config, stdin_name=stdin_name)


def lint_files(files: Sequence[str], config: Config, *, stdin_name: str = "<stdin>") -> LintResult:
    result = LintResult()
    plan = _Plan(config)
    raw: list[Diagnostic] = []
    for f in files:
        load = LoadResult()
        loader.load_file(f, load, stdin_name=stdin_name)
        _lint_load(load, plan, result, raw)
    result.findings = _finalize(raw, result.sources, config)
    return result


def lint_text(text: str, config: Config | None = None, name: str = "<string>") -> LintResult:
    return lint_loaded(loader.load_text(text, name), config or Config())


def lint_loaded(load: LoadResult, config: Config) -> LintResult:
    result = LintResult()
    raw: list[Diagnostic] = []
    _lint_load(load, _Plan(config), result, raw)
    result.findings = _finalize(raw, result.sources, config)
    return result


def _lint_load(load: LoadResult, plan: _Plan, result: LintResult, raw: list[Diagnostic]) -> None:
    result.sources.extend(load.sources)
    result.files += len(load.sources)
    result.io_error = result.io_error or load.io_error
    raw.extend(load.diagnostics)
    for doc in load.documents:
        found: list[Diagnostic] = []
        res = _lint_document(doc, plan, found)
        if res is not None:
            result.resources += 1
            raw.extend(_unsuppressed_by_annotations(res, _most_specific(found)))
        else:
            raw.extend(found)
        doc.node = None  # every finding of it is placed; free the node tree


class _Plan:
    """What runs for each kind under one configuration, worked out once per run."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.schema = any(config.enabled(c) for c in ("ML206", "ML207", "ML208", "ML209"))
        self._checks: dict[str, list[rules.Rule]] = {}
        self.schemas: Any = None
        if config.schema_locations and config.enabled("ML210"):
            from meshlint.rules.external import SchemaStore

            # Checks the locations now: a bad one is a usage error (ConfigError).
            self.schemas = SchemaStore(config.schema_locations)

    def checks(self, kind: str) -> list[rules.Rule]:
        found = self._checks.get(kind)
        if found is None:
            found = self._checks[kind] = list(rules.checks_for(kind, self.config.enabled))
        return found


def _lint_document(doc: Document, plan: _Plan, out: list[Diagnostic]) -> Resource | None:
    config = plan.config
    name = doc.source.name
    if not isinstance(doc.data, dict):
        what = (
            "a list"
            if isinstance(doc.data, list)
            else "a string"
            if isinstance(doc.data, str)
            else "a single value"
        )
        out.append(
            Diagnostic(
                loader.NOT_A_RESOURCE,
                Severity.ERROR,
                f"this document is {what}, not a resource: a Kubernetes "
                "resource is a mapping with apiVersion, kind and metadata",
                name,
                doc.span,
            )
        )
        return None
    res = Resource.of(doc)
    if res is None:
        keys = [str(k) for k in list(doc.data)[:3]]
        starts = ", ".join(f"`{k}`" for k in keys)
        hint = f" It starts with {starts}: a fragment of a larger object?" if keys else ""
        out.append(
            Diagnostic(
                loader.NOT_A_RESOURCE,
                Severity.ERROR,
                "this document is not a Kubernetes resource: it has no "
                f"apiVersion and no kind.{hint}",
                name,
                doc.span,
            )
        )
        return None
    emit = _Emitter(res, config, out)
    if plan.schema:
        from meshlint.rules.schema import model_findings

        try:
            for code, finding in model_findings(res):
                if config.enabled(code):
                    emit(code, rules.get(code).severity, finding)  # type: ignore[union-attr]
                    res.schema_ok = False
        except Exception as exc:  # a bug of ours: say so on the resource, go on
            emit.internal_error("the schema check", exc)
    if plan.schemas is not None:
        from meshlint.rules.external import ExternalSchemaError, external_findings

        try:
            for finding in external_findings(res, plan.schemas):
                emit("ML210", Severity.ERROR, finding)
        except ExternalSchemaError:
            raise  # an unusable schema the user pointed to: a usage error, not ML107
        except Exception as exc:
            emit.internal_error("the external schema check", exc)
    for r in plan.checks(res.kind):
        assert r.check is not None
        try:
            for finding in r.check(res):
                emit(r.code, r.severity, finding)
        except Exception as exc:
            emit.internal_error(f"rule {r.code} ({r.name})", exc)
    return res


class _Emitter:
    __slots__ = ("config", "out", "res")

    def __init__(self, res: Resource, config: Config, out: list[Diagnostic]) -> None:
        self.res, self.config, self.out = res, config, out

    def __call__(self, code: str, severity: Severity, finding: Finding) -> None:
        doc = self.res.doc
        span = doc.locate(finding.path, key=finding.key)
        self.out.append(
            Diagnostic(
                code,
                finding.severity or severity,
                finding.message,
                doc.source.name,
                span,
                self.res.key,
                format_path(finding.path),
                finding.fix,
                doc.line,
            )
        )

    def internal_error(self, what: str, exc: BaseException) -> None:
        doc = self.res.doc
        self.out.append(
            Diagnostic(
                INTERNAL_ERROR,
                Severity.ERROR,
                f"{what} failed on this resource ({type(exc).__name__}: {exc}); "
                "the other checks still ran. Please report this.",
                doc.source.name,
                doc.span,
                self.res.key,
                "",
                None,
                doc.line,
            )
        )


def _most_specific(found: list[Diagnostic]) -> list[Diagnostic]:
    """Drop a generic wrong-type finding where a rule of its own reported the same spot.

    The metadata family knows more about labels, annotations and `metadata` itself than the
    schema stage does (it names the bad label, quotes the value to write), so on the same span
    its finding is kept and the schema's is dropped.
    """
    if len(found) < 2:
        return found
    specific = {(d.span, d.path) for d in found if d.code.startswith("ML3")}
    if not specific:
        return found
    return [d for d in found if not (d.code == "ML207" and (d.span, d.path) in specific)]


def _codes(value: Any) -> set[str]:
    if not isinstance(value, str):
        return set()
    return {v.strip() for v in value.split(",") if v.strip()}


def _unsuppressed_by_annotations(res: Resource, found: list[Diagnostic]) -> Iterable[Diagnostic]:
    annotations = res.metadata.get("annotations")
    if not isinstance(annotations, dict):
        return found
    ours = _codes(annotations.get(IGNORE_ANNOTATION))
    istio = _codes(annotations.get(ISTIO_SUPPRESS_ANNOTATION))
    if not ours and not istio:
        return found
    return [d for d in found if not _suppressed(d.code, ours, istio)]


def _suppressed(code: str, ours: set[str], istio: set[str]) -> bool:
    if "all" in ours or "ALL" in ours or code in ours:
        return True
    r = rules.get(code)
    if r is None:
        return False
    if r.name in ours:
        return True
    return bool(r.istio) and ("*" in istio or r.istio in istio)


class _Directives:
    """``# meshlint: disable=…`` comments of one source."""

    def __init__(self, source: Source) -> None:
        self.lines: dict[int, set[str]] = {}
        self.file: set[str] = set()
        self.source = source
        if "meshlint:" not in source.text:
            return
        for number, line in enumerate(source.lines, 1):
            if "meshlint:" not in line:
                continue
            m = _DIRECTIVE.search(line)
            if m is None:
                continue
            codes = _codes(m.group(2).replace(" ", ","))
            if m.group(1):
                self.file |= codes
            else:
                self.lines[number] = codes

    def covers(self, d: Diagnostic) -> bool:
        if not self.lines and not self.file:
            return False
        wanted = self.file | self.lines.get(d.line, set())
        prev = self.source.line(d.line - 1).lstrip()
        if prev.startswith("#"):
            wanted = wanted | self.lines.get(d.line - 1, set())
        if d.resource_line:
            n = d.resource_line - 1
            while n > 0:
                text = self.source.line(n).strip()
                if not text.startswith("#"):
                    break
                wanted = wanted | self.lines.get(n, set())
                n -= 1
        return _suppressed(d.code, wanted, set())


def _finalize(raw: list[Diagnostic], sources: list[Source], config: Config) -> list[Diagnostic]:
    order = {s.name: i for i, s in enumerate(sources)}
    by_name = {s.name: s for s in sources}
    directives: dict[str, _Directives] = {}
    out: list[Diagnostic] = []
    for d in raw:
        if not config.enabled(d.code) or config.ignored_in(d.file, d.code):
            continue
        src = by_name.get(d.file)
        if src is not None:
            dirs = directives.get(d.file)
            if dirs is None:
                dirs = directives[d.file] = _Directives(src)
            if dirs.covers(d):
                continue
        r = rules.get(d.code)
        if r is not None:
            d.severity = config.severity_of(d.code, d.severity)
        out.append(d)
    out.sort(key=lambda d: (order.get(d.file, len(order)), d.line, d.column, d.code, d.message))
    return out
