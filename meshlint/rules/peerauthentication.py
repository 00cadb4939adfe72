"""Field validation of peerauthentication: what Istio's webhook and CRD rules reject."""
