"""Field validation of serviceentry: what Istio's webhook and CRD rules reject."""
