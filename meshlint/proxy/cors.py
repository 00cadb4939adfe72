"""A route's CORS policy, as Envoy's CORS filter applies it: a preflight from an allowed origin
is answered by the proxy; an actual request from one gets the ``access-control-*`` headers on
its response. A request without ``Origin`` is no CORS request."""

from __future__ import annotations

from meshlint.proxy.http import Request
from meshlint.proxy.router import string_check
from meshlint.translate.plan import Cors

Headers = list[tuple[str, str]]


class CorsPolicy:
    def __init__(self, cors: Cors) -> None:
        self.cors = cors
        self.checks = [string_check(m) for m in cors.allow_origins]

    def allowed(self, origin: str) -> bool:
        # Envoy: an origin matcher that takes "*" allows every origin
        return any(c("*") or c(origin) for c in self.checks)

    def preflight(self, req: Request) -> Headers | None:
        """The headers of the proxy's answer to a preflight, or None when it is forwarded."""
        origin = req.map.get("origin")
        if (
            req.method != "OPTIONS"
            or not origin
            or "access-control-request-method" not in req.map
            or not self.allowed(origin)
        ):
            return None
        c = self.cors
        out = [("access-control-allow-origin", origin)]
        if c.allow_credentials:
            out.append(("access-control-allow-credentials", "true"))
        if c.allow_methods:
            out.append(("access-control-allow-methods", ",".join(c.allow_methods)))
        if c.allow_headers:
            out.append(("access-control-allow-headers", ",".join(c.allow_headers)))
        if c.max_age is not None:
            out.append(("access-control-max-age", str(c.max_age)))
        return out

    def refused_preflight(self, req: Request) -> bool:
        """A preflight from an origin not allowed that the policy does not forward."""
        origin = req.map.get("origin")
        return (
            req.method == "OPTIONS"
            and bool(origin)
            and "access-control-request-method" in req.map
            and not self.allowed(origin or "")
            and not self.cors.forward_unmatched_preflights
        )

    def response(self, req: Request) -> Headers:
        """The headers an actual request from an allowed origin gets on its response."""
        origin = req.map.get("origin")
        if not origin or not self.allowed(origin):
            return []
        c = self.cors
        out = [("access-control-allow-origin", origin)]
        if c.allow_credentials:
            out.append(("access-control-allow-credentials", "true"))
        if c.expose_headers:
            out.append(("access-control-expose-headers", ",".join(c.expose_headers)))
        return out
