"""ML8: what Istio rejects in a Telemetry resource."""
