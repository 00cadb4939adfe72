"""The Istio and Kiali codes the rules carry: known code ↔ rule pairs, and that `meshlint rules`,
SARIF and Istio's suppression annotation all see them."""

from __future__ import annotations

import json
import textwrap

import pytest
from typer.testing import CliRunner

from meshlint import rules
from meshlint.cli import app
from meshlint.config import Config
from meshlint.engine import lint_text
from meshlint.report.sarif import _descriptor

# (code, rule): istioctl analyze messages (pkg/config/analysis/msg/messages.yaml) and Kiali
# checks (models/istio_validation.go) with the rule that does the same check.
PAIRS = [
    ("IST0002", "ML205"),  # Deprecated: a removed kind
    ("IST0002", "ML211"),  # Deprecated: a deprecated field
    ("IST0002", "ML518"),  # Deprecated: LEAST_CONN
    ("IST0002", "ML981"),  # Deprecated: a Lightstep provider
    ("IST0101", "ML906"),
    ("IST0106", "ML312"),  # SchemaValidationError: the webhook's validateWorkloadSelector
    ("IST0109", "ML904"),
    ("IST0128", "ML532"),  # NoServerCertificateVerificationDestinationLevel
    ("IST0129", "ML533"),  # NoServerCertificateVerificationPortLevel
    ("IST0130", "ML408"),
    ("IST0134", "ML634"),
    ("IST0145", "ML958"),  # ConflictingGateways: the same host on one port of one workload
    ("IST0173", "ML903"),
    ("IST0174", "ML905"),
    ("KIA0207", "ML930"),
    ("KIA0208", "ML930"),
    ("KIA0505", "ML931"),
    ("KIA0506", "ML931"),
    ("KIA0110", "ML995"),
    ("KIA1115", "ML995"),
    ("KIA1117", "ML995"),
    ("KIA1101", "ML906"),
    ("KIA1104", "ML451"),
    ("KIA1105", "ML968"),  # the same host and subset twice in one route
    ("KIA1108", "ML405"),  # a gateway named the old way
    ("KIA1109", "ML998"),
    ("KIA1113", "ML998"),
    ("KIA1114", "ML997"),
    ("KIA0212", "ML997"),
]

# Rules that look like an upstream check but are not one: IST0145 compares the hosts of
# Gateways on one port, not their protocols (ML964 reports what istiod does with the latter).
NOT_PAIRS = [("IST0145", "ML964"), ("IST0130", "ML430")]


@pytest.mark.parametrize(("code", "ml"), PAIRS, ids=[f"{c}-{m}" for c, m in PAIRS])
def test_rule_carries_the_code(code: str, ml: str) -> None:
    r = rules.get(ml)
    assert r is not None and code in r.matches
    assert code in (r.istio_codes if code.startswith("IST") else r.kiali_codes)
    descriptor = _descriptor(ml, r)
    assert code in descriptor["properties"]["tags"]
    assert f"`{code}`" in descriptor["help"]["markdown"]


@pytest.mark.parametrize(("code", "ml"), NOT_PAIRS, ids=[f"{c}-{m}" for c, m in NOT_PAIRS])
def test_rule_does_not_claim_a_check_it_does_not_do(code: str, ml: str) -> None:
    r = rules.get(ml)
    assert r is not None and code not in r.matches


def test_every_code_carried_is_well_formed_and_once_per_rule() -> None:
    for r in rules.all_rules():
        assert len(set(r.matches)) == len(r.matches), r.code
        assert all(c[:3] in ("IST", "KIA") and c[3:].isdigit() for c in r.matches), r.code


def test_meshlint_rules_lists_every_code() -> None:
    out = CliRunner().invoke(app, ["rules", "--format", "json"])
    assert out.exit_code == 0, out.output
    listed = {r["code"]: r for r in json.loads(out.output)}
    for code, ml in PAIRS:
        entry = listed[ml]
        assert code in {entry["istio"], entry["kiali"], *entry["also"]}, (code, ml)


DR = textwrap.dedent("""\
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata:
      name: db
      namespace: prod
    {annotations}spec:
      host: db.example.com
      trafficPolicy:
        tls:
          mode: SIMPLE
        portLevelSettings:
        - port:
            number: 5432
          tls:
            mode: SIMPLE
    """)


@pytest.mark.parametrize(
    ("value", "left"),
    [("", ["ML532", "ML533"]), ("IST0128", ["ML533"]), ("IST0129", ["ML532"]), ("*", [])],
)
def test_istio_suppression_annotation_names_the_code(value: str, left: list[str]) -> None:
    annotations = (
        f'  annotations:\n    galley.istio.io/analyze-suppress: "{value}"\n' if value else ""
    )
    text = DR.format(annotations=annotations)
    found = lint_text(text, Config(select=["ML532", "ML533"]), name="dr.yaml").findings
    assert sorted(d.code for d in found) == left


def test_meshlint_rules_text_shows_every_code() -> None:
    out = CliRunner().invoke(app, ["rules"])
    assert out.exit_code == 0, out.output
    lines = {ln.split()[0]: ln for ln in out.output.splitlines() if ln.startswith("ML")}
    assert lines["ML995"].endswith("[KIA0110, KIA1115, KIA1117]")
    assert lines["ML532"].endswith("[IST0128]")
    assert lines["ML968"].endswith("[KIA1105]")
