"""ML63x-ML64x: what Istio rejects in a ServiceEntry."""
