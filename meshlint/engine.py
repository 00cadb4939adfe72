"""The lint pipeline: load → resources → schema and rule checks → located, filtered findings."""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshlint import loader, rules
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic, FieldPath, Finding, Severity, Span, format_path
from meshlint.loader import Document, LoadResult, Places, Source
from meshlint.mesh import (
    MESH_KINDS,
    SUPPRESS_ANNOTATIONS,
    UNMODELLED_MESH_KINDS,
    Record,
    light_data,
)
from meshlint.resource import Resource
from meshlint.rules.lib.placeholders import has_placeholder

if TYPE_CHECKING:
    from meshlint.mesh import MeshIndex

# A check that raised: never filtered by select/ignore, never suppressed, and it makes the run
# exit 2 (the report is incomplete).
INTERNAL_ERROR = "ML107"
IGNORE_ANNOTATION, ISTIO_SUPPRESS_ANNOTATION = SUPPRESS_ANNOTATIONS
# The rule that reports unrendered template placeholders; no other rule speaks of such a value.
PLACEHOLDER_RULE = "ML306"

# Called with every internal error a run reports (the tests fail a run that has one).
internal_error_listeners: list[Callable[[Diagnostic], None]] = []


def note_internal_errors(findings: Iterable[Diagnostic]) -> None:
    """Tell the listeners of the internal errors among ``findings``."""
    if internal_error_listeners:
        for d in findings:
            if d.code == INTERNAL_ERROR:
                for listener in internal_error_listeners:
                    listener(d)


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
    # What the cross-resource stage needs of every resource of a modelled kind, in file order,
    # and the namespaces of the resources (of any kind but VirtualService) linted.
    records: list[Record] = field(default_factory=list)
    namespaces: set[str] = field(default_factory=set)

    def source(self, name: str) -> Source | None:
        for s in self.sources:
            if s.name == name:
                return s
        return None


# A worker process pays for itself (its start, the records it sends back) only with about this
# much input to read: a run gets one worker per this many bytes at most, and stays in one
# process below twice as much (the CLI decides; meshlint.parallel runs the workers).
BYTES_PER_WORKER = 1 << 20


def workers_for(files: Sequence[str], jobs: int) -> int:
    """How many worker processes a run of ``files`` gets when ``jobs`` are allowed: no more
    than the cores, the files, and one per :data:`BYTES_PER_WORKER` of input; 1 means it runs
    in this process, as it does when a file is a stream (stdin, a pipe), which can be read
    once only: the process that reads it is the one that places its findings."""
    if jobs <= 1 or len(files) < 2:
        return 1
    sizes = loader.input_sizes(files)
    return workers_for_size(None if sizes is None else sum(sizes), len(files), jobs)


def workers_for_size(size: int | None, count: int, jobs: int) -> int:
    """:func:`workers_for` of ``count`` files of ``size`` bytes in all (None: a stream is
    among them), for a caller that has measured them already."""
    import os

    if size is None or jobs <= 1 or count < 2:
        return 1
    cap = min(jobs, os.cpu_count() or 1, count)
    return max(1, min(cap, size // BYTES_PER_WORKER))


def lint_paths(
    paths: Sequence[str],
    config: Config,
    *,
    stdin_name: str = "<stdin>",
    files: Sequence[str] | None = None,
) -> LintResult:
    """Lint the files under ``paths`` (or ``files``, already discovered) in this process."""
    if files is None:
        files, _ = loader.discover(paths, config.exclude)
    return lint_files(files, config, stdin_name=stdin_name)


def lint_files(
    files: Sequence[str],
    config: Config,
    *,
    stdin_name: str = "<stdin>",
    mesh: bool = True,
    unfreeze: bool = True,
) -> LintResult:
    """Lint the files one by one, then (unless ``mesh`` is false, as in a worker of a parallel
    run, whose parent does it over all files) run the cross-resource rules over all of them.
    With ``unfreeze`` false, what the run keeps stays out of the collector's sight (see
    below) for the caller to give back with ``gc.unfreeze()``."""
    result = LintResult()
    plan = _Plan(config)
    raw: list[Diagnostic] = []

    def each(doc: Document) -> None:
        _lint_one(doc, plan, result, raw)
        # What the run keeps (sources, records, findings) lives to the end: move it out of the
        # collector's sight, or each full collection scans a heap that grows with every
        # document and a large run (or a large file) turns quadratic. Documents are linted
        # as they are read, with the collector paused (see loader.load_text).
        gc.freeze()

    keys = loader.KeyTable()
    for f in files:
        load = LoadResult(each=each, keys=keys)
        loader.load_file(f, load, stdin_name=stdin_name)
        _lint_load(load, plan, result, raw)
        gc.freeze()
    if unfreeze:
        gc.unfreeze()
    if mesh:
        raw.extend(_mesh_findings(result, config))
    result.findings = _finalize(raw, result.sources, config)
    return result


def lint_text(text: str, config: Config | None = None, name: str = "<string>") -> LintResult:
    return lint_loaded(loader.load_text(text, name), config or Config())


def lint_loaded(load: LoadResult, config: Config) -> LintResult:
    result = LintResult()
    raw: list[Diagnostic] = []
    _lint_load(load, _Plan(config), result, raw)
    raw.extend(_mesh_findings(result, config))
    result.findings = _finalize(raw, result.sources, config)
    return result


def _lint_load(load: LoadResult, plan: _Plan, result: LintResult, raw: list[Diagnostic]) -> None:
    result.sources.extend(load.sources)
    result.files += len(load.sources)
    result.io_error = result.io_error or load.io_error
    raw.extend(load.diagnostics)
    for doc in load.documents:
        _lint_one(doc, plan, result, raw)


def _lint_one(doc: Document, plan: _Plan, result: LintResult, raw: list[Diagnostic]) -> None:
    found: list[Diagnostic] = []
    res = _lint_document(doc, plan, found)
    if res is not None:
        result.resources += 1
        raw.extend(_unsuppressed_by_metadata(res.metadata, _most_specific(found)))
        _keep_record(res, result)
    else:
        raw.extend(found)
    doc.node = None  # every finding of it is placed; free the node tree


def _keep_record(res: Resource, result: LintResult) -> None:
    if res.kind != "VirtualService":  # see MeshIndex.namespaces
        result.namespaces.add(res.effective_namespace)
    # The kinds the cross-resource rules read (Gateway API Gateways are referenced too).
    if res.kind not in MESH_KINDS or (res.info is None and res.kind not in UNMODELLED_MESH_KINDS):
        return
    doc = res.doc
    result.records.append(
        Record(
            doc.source.name,
            doc.index,
            doc.item,
            res.kind,
            res.group,
            res.namespace,
            res.name,
            light_data(res.kind, res.data),
            doc.line,
            Places.of(doc),
        )
    )


# What a cross-resource rule found on a record: (code, severity, record, finding).
MeshFound = tuple[str, Severity, Record, Finding]
# Runs rules (each with its options) over the records of an index and places what they find
# (see place_record_findings): run_and_place, or a runner that shares the rules among processes.
MeshRunner = Callable[
    [LintResult, "MeshIndex", list[tuple[rules.Rule, dict[str, Any]]]], list[Diagnostic]
]


def _mesh_findings(
    result: LintResult, config: Config, runner: MeshRunner | None = None
) -> list[Diagnostic]:
    """The cross-resource rules over every record of the run, placed and annotation-filtered.

    Each finding is placed by loading its file again (its node trees were freed): from the
    sources of the run, or, for a file a worker process read, from disk. A file read here is
    added to ``result.sources`` so that its comments and code frames are there too.
    """
    todo = rules.mesh_rules(config.enabled)
    if not todo or not result.records:
        return []
    # The stage makes no cyclic garbage worth collecting, and every collection would scan the
    # records of the whole run: with the collector on, its cost grows faster than the run.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _mesh_stage(result, config, todo, runner or run_and_place)
    finally:
        if enabled:
            gc.enable()


def _mesh_stage(
    result: LintResult, config: Config, todo: list[rules.Rule], runner: MeshRunner
) -> list[Diagnostic]:
    from meshlint.mesh import MeshIndex

    index = MeshIndex(result.records, namespaces=result.namespaces, settings=config.mesh_settings())
    return runner(result, index, [(r, r.option_values(config.options_for(r.code))) for r in todo])


def run_and_place(
    result: LintResult, index: MeshIndex, todo: list[tuple[rules.Rule, dict[str, Any]]]
) -> list[Diagnostic]:
    """What the cross-resource rules find over the records of ``index``, placed."""
    return place_record_findings(result, run_mesh_rules(index, todo))


def run_mesh_rules(
    index: MeshIndex, todo: list[tuple[rules.Rule, dict[str, Any]]]
) -> list[MeshFound]:
    """What the cross-resource rules find over the records of ``index``, in the rules' order."""
    found: list[MeshFound] = []
    for r, options in todo:
        check = r.check
        assert check is not None
        for rec in index.records_of(r.kinds):
            try:
                for f in check(rec, index, **options):
                    found.append((r.code, r.severity, rec, f))
            except Exception as exc:  # a bug of ours: say so on the record, go on
                found.append((INTERNAL_ERROR, Severity.ERROR, rec, Finding((), _crashed(r, exc))))
    return found


def place_record_findings(result: LintResult, found: list[MeshFound]) -> list[Diagnostic]:
    """Findings on records of a run (whose node trees were freed) as located diagnostics,
    annotation-filtered: (code, severity, record, finding) each.

    Each is placed from what its record kept of where its fields are written; a file that the
    run has no source of (one a worker process read) is read again, not parsed, and added to
    ``result.sources`` so that its comments and code frames are there too.
    """
    if not found:
        return []
    known: dict[str, Source | None] = {s.name: s for s in result.sources}
    out: list[Diagnostic] = []
    for code, severity, rec, f in found:
        if code != INTERNAL_ERROR and _on_placeholder(rec.data, f):
            continue
        places = rec.places
        if places is None:
            span = Span.point(rec.line)
        elif code == INTERNAL_ERROR:
            span = places.span
        else:
            span = places.locate(f.path, key=f.key)
        if rec.file in known:
            source = known[rec.file]
        else:
            source = known[rec.file] = loader.read_source(rec.file)
            if source is not None:
                result.sources.append(source)
        if f.at is not None and places is not None and code != INTERNAL_ERROR and source:
            span = _char_of(source, span, rec.data, f)
        d = Diagnostic(
            code,
            f.severity or severity,
            f.message,
            rec.file,
            span,
            rec.key,
            format_path(f.path),
            f.fix,
            rec.line,
        )
        meta = rec.data.get("metadata")
        out.extend(_unsuppressed_by_metadata(meta if isinstance(meta, dict) else {}, [d]))
    return out


def _char_of(source: Source, span: Span, data: Any, f: Finding) -> Span:
    """The character ``f.at`` of the string at ``f.path`` of a record, written at ``span``."""
    value = _at(data, f.path)
    if not isinstance(value, str) or f.at is None:
        return span
    return loader.char_span(source, span, value, loader.scalar_style(source, span), f.at)


def _crashed(r: rules.Rule, exc: BaseException) -> str:
    return (
        f"rule {r.code} ({r.name}) failed on this resource ({type(exc).__name__}: {exc}); "
        "the other checks still ran. Please report this."
    )


def add_findings(result: LintResult, raw: list[Diagnostic], config: Config) -> None:
    """Findings of a later stage (the translation's), filtered and suppressed as any, merged
    into the run's in file order."""
    mine = _finalize(raw, result.sources, config)
    order = {s.name: i for i, s in enumerate(result.sources)}
    result.findings.extend(mine)
    result.findings.sort(
        key=lambda d: (order.get(d.file, len(order)), d.line, d.column, d.code, d.message)
    )


def finish_in_parent(
    result: LintResult, config: Config, files: Sequence[str], runner: MeshRunner | None = None
) -> None:
    """After a parallel run: the cross-resource findings over the records of all workers,
    merged into the findings (already final) in the order of one process."""
    merge_mesh_findings(result, mesh_stage_findings(result, config, runner), files)


def mesh_stage_findings(
    result: LintResult, config: Config, runner: MeshRunner | None = None
) -> list[Diagnostic]:
    """The cross-resource findings of a parallel run, final (filtered and suppressed); a file
    read again to place them is added to ``result.sources``."""
    raw = _mesh_findings(result, config, runner)
    return _finalize(raw, result.sources, config) if raw else []


def merge_mesh_findings(result: LintResult, found: list[Diagnostic], files: Sequence[str]) -> None:
    if not found:
        return
    order = {f: i for i, f in enumerate(files)}
    result.findings.extend(found)
    result.findings.sort(
        key=lambda d: (order.get(d.file, len(order)), d.line, d.column, d.code, d.message)
    )


# A resource rule as a run calls it: the rule, its check, its options, the keys it needs.
_Check = tuple[rules.Rule, rules.Check, dict[str, Any], frozenset[str] | None]


class _Plan:
    """What runs for each kind under one configuration, worked out once per run."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.schema = any(config.enabled(c) for c in ("ML206", "ML207", "ML208", "ML209"))
        self._checks: dict[str, list[_Check]] = {}
        self.schemas: Any = None
        if config.schema_locations and config.enabled("ML210"):
            from meshlint.schemas.external import SchemaStore

            # Checks the locations now: a bad one is a usage error (ConfigError).
            self.schemas = SchemaStore(config.schema_locations)

    def checks(self, kind: str) -> list[_Check]:
        """The rules for a kind meshlint models, each with its check, its options and the keys
        it needs (None: none); for ``""`` (a kind of another API group, such as the Gateway
        API's Gateway) only the rules that apply to every kind."""
        found = self._checks.get(kind)
        if found is None:
            config = self.config
            found = self._checks[kind] = [
                (r, r.check, r.option_values(config.options_for(r.code)), r.needs or None)
                for r in rules.checks_for(kind, config.enabled)
                if r.check is not None
            ]
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
        from meshlint.models.verdict import model_findings

        try:
            for code, finding in model_findings(res):
                if config.enabled(code):
                    emit(code, rules.get(code).severity, finding)  # type: ignore[union-attr]
        except Exception as exc:  # a bug of ours: say so on the resource, go on
            emit.internal_error("the schema check", exc)
    if plan.schemas is not None:
        from meshlint.schemas.external import ExternalSchemaError, external_findings

        try:
            for finding in external_findings(res, plan.schemas):
                emit("ML210", Severity.ERROR, finding)
        except ExternalSchemaError:
            raise  # an unusable schema the user pointed to: a usage error, not ML107
        except Exception as exc:
            emit.internal_error("the external schema check", exc)
    words = doc.words
    for r, check, options, needs in plan.checks(res.kind if res.info is not None else ""):
        if needs is not None and words is not None and words.isdisjoint(needs):
            continue  # none of the keys it needs is written here: it would find nothing
        try:
            for finding in check(res, **options) if options else check(res):
                emit(r.code, r.severity, finding)
        except Exception as exc:
            emit.internal_error(f"rule {r.code} ({r.name})", exc)
    return res


class _Emitter:
    __slots__ = ("config", "out", "res")

    def __init__(self, res: Resource, config: Config, out: list[Diagnostic]) -> None:
        self.res, self.config, self.out = res, config, out

    def __call__(self, code: str, severity: Severity, finding: Finding) -> None:
        if code != PLACEHOLDER_RULE and _on_placeholder(self.res.data, finding):
            return
        doc = self.res.doc
        span = doc.locate(finding.path, key=finding.key, at=finding.at)
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


def _on_placeholder(data: Any, finding: Finding) -> bool:
    """Whether the finding is on a value (or key) that holds an unrendered template
    placeholder such as ``{{ .Values.host }}``: ML306 reports those, once."""
    path = finding.path
    if not path:
        return False
    value = path[-1] if finding.key else _at(data, path)
    return isinstance(value, str) and has_placeholder(value)


def _at(data: Any, path: FieldPath) -> Any:
    for part in path:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


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


def _unsuppressed_by_metadata(
    metadata: dict[str, Any], found: list[Diagnostic]
) -> Iterable[Diagnostic]:
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        return found
    ours = _codes(annotations.get(IGNORE_ANNOTATION))
    istio = _codes(annotations.get(ISTIO_SUPPRESS_ANNOTATION))
    if not ours and not istio:
        return found
    return [d for d in found if d.code == INTERNAL_ERROR or not _suppressed(d.code, ours, istio)]


def _suppressed(code: str, ours: set[str], istio: set[str]) -> bool:
    if "all" in ours or "ALL" in ours or code in ours:
        return True
    r = rules.get(code)
    if r is None:
        return False
    if r.name in ours or any(old in ours for old in r.aliases):
        return True
    codes = r.istio_codes
    return bool(codes) and ("*" in istio or any(c in istio for c in codes))


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
        if d.code == INTERNAL_ERROR:  # never filtered, never suppressed
            out.append(d)
            continue
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
    note_internal_errors(out)
    return out
