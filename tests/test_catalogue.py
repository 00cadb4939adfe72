"""Every row of the rules catalogue that comes from Istio's webhook, CRD or CEL rules and
concerns one resource is implemented by a rule, by a shared grammar function, or listed in
meshlint.docs.NOT_IMPLEMENTED with the reason."""

from __future__ import annotations

import re

from conftest import SHARED

from meshlint import rules
from meshlint.docs import NOT_IMPLEMENTED
from meshlint.rules.lib.grammar import CATALOGUE as GRAMMAR

_ID = re.compile(r"^[a-z][a-z0-9-]+$")
_ISTIO_SOURCE = re.compile(r"\bW\b|W-warn|CRD|CEL")


def istio_rows() -> dict[str, str]:
    text = (SHARED / "reference" / "rules-catalogue.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        if not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 6:
            continue
        row = cells[0].strip("*` ")
        scope, source = cells[4], cells[5]
        if _ID.match(row) and scope.startswith("single") and _ISTIO_SOURCE.search(source):
            rows[row] = source
    return rows


def test_istio_rows_are_implemented_or_explained() -> None:
    rows = istio_rows()
    assert len(rows) > 500
    named = {row for r in rules.all_rules() for row in r.catalogue}
    missing = sorted(set(rows) - named - set(GRAMMAR) - set(NOT_IMPLEMENTED))
    assert not missing, f"catalogue rows with no rule and no reason: {missing}"


def test_named_rows_exist_in_the_catalogue() -> None:
    text = (SHARED / "reference" / "rules-catalogue.md").read_text(encoding="utf-8")
    ids = set(re.findall(r"^\| \**`?([a-z][a-z0-9-]+)`?\** \|", text, re.M))
    named = {row for r in rules.all_rules() for row in r.catalogue}
    unknown = sorted(named - ids)
    assert not unknown, f"rules name catalogue rows that do not exist: {unknown}"
    assert not set(NOT_IMPLEMENTED) & named


_UPSTREAM_CODE = re.compile(r"\b(IST\d{4}|KIA\d{4})\b")


def upstream_cross_rows() -> dict[str, str]:
    """The rows that istioctl analyze or Kiali check across resources (every scope but
    `single`), with their source cell."""
    text = (SHARED / "reference" / "rules-catalogue.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        if not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 6:
            continue
        row = cells[0].strip("*` ")
        scope, source = cells[4], cells[5]
        if _ID.match(row) and not scope.startswith("single") and _UPSTREAM_CODE.search(source):
            rows[row] = source
    return rows


def test_upstream_cross_resource_rows_are_implemented_or_explained() -> None:
    rows = upstream_cross_rows()
    assert len(rows) > 80
    named = {row for r in rules.all_rules() for row in r.catalogue}
    missing = sorted(set(rows) - named - set(NOT_IMPLEMENTED))
    assert not missing, f"analyze/Kiali rows with no rule and no reason: {missing}"


def test_rules_name_the_upstream_codes_of_their_rows() -> None:
    # A rule that implements an analyze or Kiali row names each of its codes: in `istio`,
    # `kiali` or `also` (Istio's suppression annotation, SARIF and the docs read them), or in
    # its rationale.
    rows = upstream_cross_rows()
    for r in rules.all_rules():
        codes = set(r.matches)
        for row in r.catalogue:
            upstream = set(_UPSTREAM_CODE.findall(rows.get(row, "")))
            if not upstream:
                continue
            unnamed = {c for c in upstream - codes if c not in r.rationale}
            assert not unnamed, f"{r.code} implements {row} but names {unnamed} nowhere"
