"""Field validation of gateway: what Istio's webhook and CRD rules reject."""
