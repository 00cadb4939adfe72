"""The command line: ``meshlint [lint] PATH…``, ``translate``, ``route``, ``certs``, ``proxy``, ``rules``,
``explain``, ``schema``, ``version``.

Exit status: 0 when no finding reaches ``--fail-on``, 1 when one does, 2 for a usage, configuration
or I/O error, and when a rule failed (the report is incomplete). Heavy modules load inside the
commands that need them.
"""

from meshlint.cli import lint, proxy, rules, schema, translate
from meshlint.cli.common import Format, app, kubectl_main, main

__all__ = ["Format", "app", "kubectl_main", "lint", "main", "proxy", "rules", "schema", "translate"]
