"""ML2: kinds, apiVersions, the typed models, and JSON Schemas the user points to."""
