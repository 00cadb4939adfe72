"""Requests and responses as the proxy holds them, and the replies it makes itself.

Header names are kept lower-case (HTTP/1.1 names are case-insensitive, and Envoy lower-cases
them too); a request's headers are a list of pairs, in the order they came, with a map of the
first value of each name for matching (several values of one name are joined with ``,`` as
Envoy joins them).
"""

from __future__ import annotations

import posixpath

# hop-by-hop headers: they concern one connection and are never forwarded
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    }
)

REASONS = {
    100: "Continue",
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    206: "Partial Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    411: "Length Required",
    413: "Payload Too Large",
    414: "URI Too Long",
    418: "I'm a teapot",
    421: "Misdirected Request",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def reason(status: int) -> str:
    return REASONS.get(status, "Unknown")


class Request:
    """One request from a client: what the router, the policies and the upstream need."""

    __slots__ = (
        "authority",
        "body",
        "headers",
        "host",
        "keep_alive",
        "map",
        "method",
        "original_path",
        "path",
        "port",
        "query",
        "scheme",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: list[tuple[str, str]],
        body: bytes,
        scheme: str,
        default_port: int,
        keep_alive: bool,
        joined: dict[str, str] | None = None,
    ) -> None:
        """``joined``: the map of ``headers`` (several values of a name joined with ``,``),
        when the caller has it already."""
        self.method = method
        path, _, query = target.partition("?")
        if "/." in path or not path.startswith("/"):
            path = normalize(path)
        self.path = path
        self.query = query
        self.original_path = target
        self.version = version
        self.headers = headers
        if joined is None:
            joined = {}
            for k, v in headers:
                joined[k] = f"{joined[k]},{v}" if k in joined else v
        self.map = joined
        self.body = body
        self.scheme = scheme
        self.keep_alive = keep_alive
        authority = joined.get("host", "")
        self.authority = authority
        host, port = split_host(authority)
        self.host = host
        self.port = port if port is not None else default_port

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def header(self, name: str) -> str | None:
        """A header's value (several joined by ``,``); pseudo-headers by their Envoy names."""
        if name[0] == ":":
            if name == ":method":
                return self.method
            if name == ":authority":
                return self.authority
            if name == ":scheme":
                return self.scheme
            if name == ":path":
                return self.target
            return None
        return self.map.get(name)

    def query_params(self) -> dict[str, str]:
        """The first value of each query parameter (as Envoy's matcher takes them)."""
        out: dict[str, str] = {}
        if not self.query:
            return out
        from urllib.parse import unquote_plus

        for part in self.query.split("&"):
            if not part:
                continue
            k, _, v = part.partition("=")
            out.setdefault(unquote_plus(k), unquote_plus(v))
        return out

    def set_header(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k != name]
        self.headers.append((name, value))
        self.map[name] = value

    def add_header(self, name: str, value: str) -> None:
        self.headers.append((name, value))
        self.map[name] = f"{self.map[name]},{value}" if name in self.map else value

    def remove_header(self, name: str) -> None:
        if name in self.map:
            self.headers = [(k, v) for k, v in self.headers if k != name]
            del self.map[name]


def split_host(authority: str) -> tuple[str, int | None]:
    """``reviews:9080`` → (``reviews``, 9080); ``[::1]:80`` → (``::1``, 80); lower-cased."""
    if authority.startswith("["):
        end = authority.find("]")
        host = authority[1:end] if end > 0 else authority
        rest = authority[end + 1 :] if end > 0 else ""
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
        return host.lower(), port
    name, sep, digits = authority.rpartition(":")
    if sep and digits.isdigit() and ":" not in name:
        return name.lower(), int(digits)
    return authority.lower(), None


def normalize(path: str) -> str:
    """RFC 3986 dot-segment removal, as Envoy's ``normalize_path`` does."""
    if not path.startswith("/"):
        path = "/" + path
    trailing = path.endswith("/") or path.endswith("/.") or path.endswith("/..")
    out = posixpath.normpath(path)
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    if trailing and not out.endswith("/"):
        out += "/"
    return out


def head(status: int, headers: list[tuple[str, str]]) -> bytes:
    """A response's status line and headers (the caller frames the body)."""
    lines = [f"HTTP/1.1 {status} {reason(status)}\r\n"]
    for k, v in headers:
        lines.append(f"{k}: {v}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1", "replace")


def local_reply(
    status: int,
    body: str | bytes,
    extra: list[tuple[str, str]] | None = None,
    *,
    close: bool = False,
    head_only: bool = False,
) -> bytes:
    """A response the proxy makes itself (Envoy's local replies: text/plain, the detail as
    body)."""
    data = body.encode() if isinstance(body, str) else body
    headers = [("content-length", str(len(data)))]
    if data and not any(k == "content-type" for k, _ in extra or ()):
        headers.append(("content-type", "text/plain"))
    headers.append(("date", http_date()))
    headers.append(("server", "meshlint"))
    if extra:
        headers.extend(extra)
    if close:
        headers.append(("connection", "close"))
    return head(status, headers) + (b"" if head_only else data)


_DATE: list[object] = [0, ""]


def http_date() -> str:
    """The Date header's value, computed once a second."""
    import time

    now = int(time.time())
    if _DATE[0] != now:
        from email.utils import formatdate

        _DATE[0] = now
        _DATE[1] = formatdate(now, usegmt=True)
    return str(_DATE[1])
