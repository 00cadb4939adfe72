"""ML1: the file and its YAML (found by the loader; declared here)."""
