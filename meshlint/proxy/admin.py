"""The admin listener (127.0.0.1 by default, as Envoy's): ``/ready``, ``/stats`` (Envoy's
names, ``?filter=REGEX``), ``/stats/prometheus``, ``/config_dump`` (the Plan served),
``/clusters`` (endpoints and their health), ``/server_info`` (the processes serving: their
pids, event loop and requests) and ``POST /quitquitquit`` (drain and stop).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import parse_qs

import httptools

from meshlint.proxy.http import local_reply


class Admin:
    """What the admin listener shows; the runner supplies each view."""

    def __init__(
        self,
        ready: Callable[[], bool],
        stats: Callable[[], dict[str, int]],
        prometheus: Callable[[], str],
        config: Callable[[], dict[str, Any]],
        clusters: Callable[[], str],
        quit: Callable[[], None],
        info: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.ready = ready
        self.stats = stats
        self.prometheus = prometheus
        self.config = config
        self.clusters = clusters
        self.quit = quit
        self.info = info or (lambda: {})

    def answer(self, method: str, target: str) -> tuple[int, str, str]:
        path, _, query = target.partition("?")
        params = parse_qs(query)
        if path == "/ready":
            ok = self.ready()
            return (200, "LIVE\n", "text/plain") if ok else (503, "DRAINING\n", "text/plain")
        if path == "/stats":
            stats = self.stats()
            wanted = params.get("filter", [None])[0]
            if wanted:
                try:
                    pattern = re.compile(wanted)
                except re.error as exc:
                    return 400, f"bad filter: {exc}\n", "text/plain"
                stats = {k: v for k, v in stats.items() if pattern.search(k)}
            if params.get("format", [""])[0] == "json":
                data = {"stats": [{"name": k, "value": v} for k, v in stats.items()]}
                return 200, json.dumps(data), "application/json"
            return 200, "".join(f"{k}: {v}\n" for k, v in stats.items()), "text/plain"
        if path == "/stats/prometheus":
            return 200, self.prometheus(), "text/plain; version=0.0.4"
        if path == "/config_dump":
            return 200, json.dumps(self.config(), indent=2), "application/json"
        if path == "/clusters":
            return 200, self.clusters(), "text/plain"
        if path == "/server_info":
            return 200, json.dumps(self.info(), indent=2), "application/json"
        if path == "/quitquitquit":
            if method != "POST":
                return 405, "use POST\n", "text/plain"
            self.quit()
            return 200, "OK\n", "text/plain"
        if path == "/":
            return (
                200,
                "/ready /stats /stats/prometheus /config_dump /clusters /server_info "
                "/quitquitquit\n",
                "text/plain",
            )
        return 404, "not found\n", "text/plain"


class AdminProtocol(asyncio.Protocol):
    def __init__(self, admin: Admin) -> None:
        self.admin = admin
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(local_reply(400, "bad request", close=True))
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        assert self.transport is not None
        method = self.parser.get_method().decode()
        status, body, kind = self.admin.answer(method, self.url.decode("latin-1"))
        keep = self.parser.should_keep_alive()
        self.transport.write(local_reply(status, body, [("content-type", kind)], close=not keep))
        if not keep:
            self.transport.close()
