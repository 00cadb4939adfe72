"""ML0: what the translation (`meshlint translate`) leaves out of a config, or translates into
traffic that cannot succeed. Found by the translation; declared here."""
