"""Cross-resource rules: ambient. See meshlint/rules/mesh.py for the framework."""

from __future__ import annotations
