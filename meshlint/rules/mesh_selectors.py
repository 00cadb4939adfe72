"""Cross-resource rules: selectors. See meshlint/rules/mesh.py for the framework."""

from __future__ import annotations
