"""ML7: what Istio rejects in PeerAuthentication, RequestAuthentication and
AuthorizationPolicy, and lints of one policy."""
