"""Cross-resource rules: routing. See meshlint/rules/mesh.py for the framework."""

from __future__ import annotations
