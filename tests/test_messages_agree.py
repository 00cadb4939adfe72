"""What meshlint says agrees with itself: a suggestion is never something another rule flags,
two rules do not report one mistake twice, a message does not contradict the run, and the
README shows real output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import CORPUS, REPO

from meshlint.config import Config
from meshlint.engine import lint_paths, lint_text

LB = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
  namespace: shop
spec:
  host: ratings
  trafficPolicy:
    loadBalancer:
      simple: {value}
"""


def test_did_you_mean_proposes_no_deprecated_value() -> None:
    for typo in ("LEAST_CONNECTION", "LEST_CON", "least_conns"):
        result = lint_text(LB.format(value=typo), Config(select=["ML209", "ML518"]))
        (finding,) = result.findings
        assert finding.code == "ML209"
        assert finding.message.endswith("did you mean `LEAST_REQUEST`?"), finding.message
        assert finding.fix == "simple: LEAST_REQUEST"
        fixed = lint_text(LB.format(value="LEAST_REQUEST"), Config(select=["ML209", "ML518"]))
        assert fixed.findings == []


def test_a_glued_invalid_name_is_one_finding() -> None:
    text = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n"
        "  name:熔断配置\nspec:\n  host: reviews\n"
    )
    codes = [d.code for d in lint_text(text, Config(select=["ML3"])).findings]
    assert codes == ["ML302"]
    # a glued valid name: ML307, whose fix gives a resource ML302 accepts
    good = text.replace("熔断配置", "reviews")
    (finding,) = lint_text(good, Config(select=["ML3"])).findings
    assert finding.code == "ML307" and finding.fix == "name: reviews"
    fixed = good.replace("name:reviews", "name: reviews")
    assert lint_text(fixed, Config(select=["ML3"])).findings == []


def test_the_corpus_seed_with_a_glued_chinese_name() -> None:
    seed = CORPUS / "seed" / "24.yaml"
    result = lint_paths([str(seed)], Config(select=["ML3"]))
    spans = [(d.line, d.column) for d in result.findings]
    assert len(spans) == len(set(spans)), [(d.code, d.line) for d in result.findings]


def test_unknown_host_names_a_service_placed_nowhere(tmp_path: Path) -> None:
    (tmp_path / "svc.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: ratings\n"
        "spec:\n  selector: {app: ratings}\n  ports: [{name: http, port: 9080}]\n"
    )
    (tmp_path / "vs.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n"
        "  name: details\n  namespace: default\nspec:\n  hosts: [details]\n  http:\n"
        "  - route:\n    - destination:\n        host: details\n"
    )
    result = lint_paths([str(tmp_path)], Config(select=["ML906"]))
    (finding,) = result.findings
    # the run shows the Service as Service/default/ratings: the message says why it is not
    # taken as one of `default`, rather than that no Service of `default` is there
    assert "Service/default/ratings" in finding.message
    assert "names no namespace" in finding.message


def test_readme_json_example_is_real_output() -> None:
    readme = (REPO / "README.md").read_text()
    command = re.search(r"`meshlint (lint --format json [^`]+)` prints", readme)
    assert command is not None
    block = readme[command.end() :]
    shown = json.loads(
        block[block.index("```json") + 7 : block.index("```", block.index("```json") + 7)]
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "meshlint", *command.group(1).split(), "--no-config"],
        cwd=REPO,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert json.loads(proc.stdout) == shown
