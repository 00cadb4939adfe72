"""Cross-resource rules: tls. See meshlint/rules/mesh.py for the framework."""

from __future__ import annotations
