"""Field validation of telemetry: what Istio's webhook and CRD rules reject."""
