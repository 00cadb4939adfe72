"""Field validation of authorizationpolicy: what Istio's webhook and CRD rules reject."""
