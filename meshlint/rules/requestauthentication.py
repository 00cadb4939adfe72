"""Field validation of requestauthentication: what Istio's webhook and CRD rules reject."""
