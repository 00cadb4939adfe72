"""Cross-resource rules: gateway. See meshlint/rules/mesh.py for the framework."""

from __future__ import annotations
