"""ML9: rules across resources, each checking one resource against the index of the run."""
