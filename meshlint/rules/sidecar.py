"""Field validation of sidecar: what Istio's webhook and CRD rules reject."""
