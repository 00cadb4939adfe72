"""`meshlint proxy`: serve the manifests (or a config from `translate --target proxy`) with the
included proxy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from meshlint.cli.common import (
    EXIT_FINDINGS,
    EXIT_USAGE,
    ColorMode,
    Format,
    Inputs,
    _fail,
    app,
    load_settings,
    render_report,
)
from meshlint.cli.translate import (
    AllNamespaces,
    AppAddress,
    Certs,
    Cluster,
    Context,
    Endpoints,
    Filename,
    For,
    Gateway,
    Inbound,
    Kubeconfig,
    Listen,
    Namespace,
    NoConfig,
    Paths,
    PortOffset,
    StdinName,
    _read,
    _request,
    _stops,
    plan_of,
)

if TYPE_CHECKING:
    from meshlint.translate.plan import Plan


class ManifestError(Exception):
    """The manifests do not give a Plan (errors found, or a translation refused)."""


@app.command("proxy")
def proxy_command(
    paths: Paths = None,
    workload: For = None,
    gateway: Gateway = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Serve this config (from `meshlint translate --target proxy -o FILE`) "
            "instead of manifests.",
        ),
    ] = None,
    endpoints: Endpoints = None,
    certs: Certs = None,
    listen: Listen = "127.0.0.1:15001",
    inbound: Inbound = "127.0.0.1:15006",
    admin: Annotated[str, typer.Option(help="The admin listener.")] = "127.0.0.1:15000",
    app_address: AppAddress = None,
    port_offset: PortOffset = 0,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes serving the same ports (SO_REUSEPORT).")
    ] = 1,
    drain_timeout: Annotated[
        float,
        typer.Option(help="Seconds the requests in flight may take once told to stop."),
    ] = 10.0,
    max_body: Annotated[
        int, typer.Option(help="The largest request body taken, in bytes (it is buffered).")
    ] = 8 * 1024 * 1024,
    header_timeout: Annotated[
        float, typer.Option(help="Seconds a client has to send a request's headers.")
    ] = 10.0,
    idle_timeout: Annotated[
        float, typer.Option(help="Seconds a keep-alive client connection may stay idle.")
    ] = 300.0,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch/--no-watch", help="Reload when the manifests or the config file change."
        ),
    ] = True,
    force: Annotated[
        bool, typer.Option("--force", help="Serve even when the lint finds errors.")
    ] = False,
    fmt: Annotated[
        Format, typer.Option("--format", help="Format of the findings on stderr.")
    ] = Format.text,
    filename: Filename = None,
    settings: Annotated[
        Path | None,
        typer.Option(
            "--settings", help="meshlint's configuration file (.meshlint.yaml, pyproject.toml)."
        ),
    ] = None,
    no_config: NoConfig = False,
    stdin_filename: StdinName = "<stdin>",
    cluster: Cluster = False,
    context: Context = None,
    namespace: Namespace = None,
    all_namespaces: AllNamespaces = False,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Serve one proxy's traffic with the included proxy: the manifests translated (as
    `translate` does) or a config file, until SIGTERM or SIGINT (which drain it); SIGHUP or a
    changed file reloads it without dropping a connection."""
    from meshlint import loader
    from meshlint.proxy import runner
    from meshlint.proxy.server import Limits
    from meshlint.proxy.tls import TlsConfigError
    from meshlint.translate import proxy as proxy_config

    options = runner.Options(
        limits=Limits(max_body=max_body, header_timeout=header_timeout, idle_timeout=idle_timeout),
        workers=workers,
        drain_timeout=drain_timeout,
    )
    if config is not None:
        if paths or filename or workload or gateway or cluster:
            raise _fail("--config serves a config file: give no manifests, --for or --gateway")
        path = str(config)

        def load() -> Plan:
            return proxy_config.read_file(path)

        if watch:
            options.watch = lambda: _mtimes([path])
    else:
        cfg = load_settings(config_file=settings, no_config=no_config)
        inputs = Inputs(
            paths, filename, stdin_filename, cluster, context, namespace, all_namespaces,
            kubeconfig,
        )  # fmt: skip
        request = _request(
            workload, gateway, endpoints, certs, listen, inbound, admin, app_address, port_offset
        )
        request.target = "proxy"
        first = [True]

        def load() -> Plan:
            if not first[0]:  # a reload: a file gone is said here, not as a usage error
                _, missing = loader.discover(inputs.targets, cfg.exclude)
                if missing:
                    raise ManifestError(f"no such file or folder: {', '.join(missing)}")
            result = _read(inputs, cfg)
            stopping = [d for d in result.findings if _stops(d, force)]
            if first[0] and (result.findings or result.io_error):
                sys.stderr.write(
                    render_report(result, fmt, ColorMode.auto, None, stream=sys.stderr)
                )
            if stopping or result.io_error:
                message = f"{len(stopping)} error(s) in the manifests"
                if stopping:
                    message += " (--force serves anyway)"
                if not first[0]:  # a reload: no report above says which
                    message += "".join(
                        f"; {d.file}:{d.line}:{d.column} {d.code} {d.message}" for d in stopping[:3]
                    ) + ("; …" if len(stopping) > 3 else "")
                raise ManifestError(message)
            first[0] = False
            plan, _ = plan_of(result, cfg, request)
            return plan

        if watch and not cluster and "-" not in (paths or []):
            watched = [str(endpoints)] if endpoints is not None else []

            def files() -> dict[str, float]:
                found, missing = loader.discover(inputs.targets, cfg.exclude)
                return _mtimes([*found, *missing, *watched])  # a file gone: -1

            options.watch = files
    try:
        code = runner.serve(load, options, lambda line: print(line, file=sys.stderr, flush=True))
    except proxy_config.ConfigError as exc:
        raise _fail(str(exc)) from None
    except ManifestError as exc:
        typer.echo(f"meshlint: {exc}: nothing served", err=True)
        raise typer.Exit(EXIT_FINDINGS) from None
    except (runner.StartError, TlsConfigError) as exc:
        typer.echo(f"meshlint: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    raise typer.Exit(code)


def _mtimes(files: list[str]) -> dict[str, float]:
    import os

    out = {}
    for f in files:
        try:
            out[f] = os.stat(f).st_mtime
        except OSError:
            out[f] = -1.0
    return out
