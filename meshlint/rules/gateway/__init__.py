"""ML60x-ML61x: what Istio rejects in a Gateway (and in the TLS settings Sidecars share)."""
