"""ML5: what Istio rejects in a DestinationRule, and lints of one DestinationRule."""
