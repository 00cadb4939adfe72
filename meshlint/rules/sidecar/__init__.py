"""ML66x-ML67x: what Istio rejects in a Sidecar."""
