"""The typed models' verdict on one resource, as findings of ML206-ML209 (a stage of the engine;
the rules are declared in meshlint/rules/schema/model.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from meshlint.diagnostics import Finding
from meshlint.models import SchemaIssue, fastcheck
from meshlint.resource import Resource

_BY_ISSUE = {
    "unknown_field": "ML206",
    "wrong_type": "ML207",
    "missing": "ML208",
    "invalid": "ML209",
}


def model_findings(res: Resource) -> Iterable[tuple[str, Finding]]:
    """The typed model's verdict on a resource of a modelled kind in a served version.

    It comes from the pydantic-free validator of the generated schemas (models/fastcheck.py):
    the same issues as meshlint.models.validate (tests/test_fastcheck.py holds them to it), at a
    fraction of the start-up cost.
    """
    info = res.info
    if info is None or res.version not in info.versions:
        return ()
    issues = fastcheck.validate(info, res.data)
    return _findings(issues) if issues else ()


def _findings(issues: list[SchemaIssue]) -> Iterator[tuple[str, Finding]]:
    for issue in issues:
        code = _BY_ISSUE[issue.kind]
        message = issue.message
        fix = None
        if issue.kind == "unknown_field" and issue.suggestion:
            message += f"; did you mean `{issue.suggestion}`?"
            fix = f"rename `{issue.path[-1]}` to `{issue.suggestion}`"
        elif issue.kind == "invalid" and issue.suggestion and "did you mean" not in message:
            message += f"; did you mean `{issue.suggestion}`?"
            fix = f"{issue.path[-1]}: {issue.suggestion}" if issue.path else None
        yield (
            code,
            Finding(issue.path, message, fix=fix, key=issue.kind in ("unknown_field", "missing")),
        )
