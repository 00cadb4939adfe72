"""Field validation of destinationrule: what Istio's webhook and CRD rules reject."""
