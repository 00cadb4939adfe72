"""ML4: what Istio rejects in a VirtualService, and lints of one VirtualService."""
