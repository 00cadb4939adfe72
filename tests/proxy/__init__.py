"""The included proxy's limits and its behaviour under faults (a package, so that its
conftest does not take the name of the suite's own, which tests import from)."""
