"""Field validation of virtualservice: what Istio's webhook and CRD rules reject."""
