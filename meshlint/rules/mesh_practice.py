"""Cross-resource rules: practice. See meshlint/rules/mesh.py for the framework."""

from __future__ import annotations
