"""`meshlint translate`, `meshlint route` and `meshlint certs`: the manifests as configs that run."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshlint.cli.common import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    EXIT_USAGE,
    ColorMode,
    Format,
    Inputs,
    _fail,
    app,
    load_settings,
    render_report,
    write_text,
)

if TYPE_CHECKING:
    from meshlint.config import Config
    from meshlint.diagnostics import Diagnostic
    from meshlint.engine import LintResult
    from meshlint.translate.build import Request
    from meshlint.translate.plan import Plan


class Target(str, Enum):
    envoy = "envoy"
    proxy = "proxy"


class ConfigFormat(str, Enum):
    yaml = "yaml"
    json = "json"


# Options every command that reads manifests takes, as `lint` spells them.
Paths = Annotated[
    list[str] | None,
    typer.Argument(
        help="Files or folders of manifests (recursively: *.yaml, *.yml, *.json); '-' reads stdin.",
        show_default=False,
    ),
]
Filename = Annotated[
    list[str] | None,
    typer.Option("--filename", "-f", help="A file or folder of manifests; repeatable."),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", help="Configuration file (.meshlint.yaml, pyproject.toml)."),
]
NoConfig = Annotated[bool, typer.Option("--no-config", help="Ignore configuration files.")]
StdinName = Annotated[str, typer.Option(help="The file name to show for '-' (stdin).")]
Cluster = Annotated[
    bool, typer.Option("--cluster", help="Read the manifests deployed in a cluster too.")
]
Context = Annotated[str | None, typer.Option(help="With --cluster: the kubeconfig context.")]
Namespace = Annotated[
    str | None, typer.Option("--namespace", "-n", help="With --cluster: the namespace to read.")
]
AllNamespaces = Annotated[
    bool, typer.Option("--all-namespaces", "-A", help="With --cluster: read every namespace.")
]
Kubeconfig = Annotated[str | None, typer.Option(help="With --cluster: the kubeconfig file.")]
For = Annotated[
    str | None,
    typer.Option(
        "--for",
        help="The workload whose sidecar to configure: NAMESPACE/NAME of a Deployment, "
        "StatefulSet, DaemonSet or Pod of the manifests.",
        show_default=False,
    ),
]
Gateway = Annotated[
    str | None,
    typer.Option(
        "--gateway",
        help="The Istio Gateway to configure a gateway proxy for: NAMESPACE/NAME.",
        show_default=False,
    ),
]
Endpoints = Annotated[
    Path | None,
    typer.Option(
        "--endpoints",
        help="Where service instances listen (YAML, see docs/translation.md); otherwise "
        "services are reached by their DNS names.",
    ),
]
Certs = Annotated[
    Path | None,
    typer.Option("--certs", help="Certificates written by `meshlint certs DIR`, for mTLS."),
]
Listen = Annotated[
    str, typer.Option(help="The outbound listener (a gateway's host, with its server ports).")
]
Inbound = Annotated[str, typer.Option(help="The inbound listener.")]
AppAddress = Annotated[
    str | None,
    typer.Option(
        "--app",
        help="Where the workload's application listens. (default: its first container "
        "port on 127.0.0.1)",
        show_default=False,
    ),
]
PortOffset = Annotated[
    int, typer.Option(help="Added to a gateway's server ports (so that 80 runs unprivileged).")
]


def _address(value: str, flag: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise _fail(f"{flag} takes HOST:PORT, e.g. 127.0.0.1:15001; got {value!r}")
    return host, int(port)


def _name(value: str, flag: str) -> tuple[str, str]:
    ns, sep, name = value.partition("/")
    if not sep or not ns or not name or "/" in name:
        raise _fail(f"{flag} takes NAMESPACE/NAME; got {value!r}")
    return ns, name


def _read(
    inputs: Inputs,
    cfg: Config,
    jobs: int | None = None,
    meanwhile: Callable[[LintResult], None] | None = None,
) -> LintResult:
    import os

    files = inputs.discover(cfg)
    return inputs.lint(files, cfg, jobs=jobs or os.cpu_count() or 1, meanwhile=meanwhile)


def _request(
    workload: str | None,
    gateway: str | None,
    endpoints: Path | None,
    certs: Path | None,
    listen: str,
    inbound: str,
    admin: str,
    app_address: str | None,
    port_offset: int,
) -> Request:
    from meshlint.translate.build import Request
    from meshlint.translate.endpoints import TranslateError, read

    if (workload is None) == (gateway is None):
        raise _fail("give one of --for NAMESPACE/WORKLOAD and --gateway NAMESPACE/NAME")
    try:
        table = read(str(endpoints)) if endpoints is not None else None
    except TranslateError as exc:
        raise _fail(str(exc)) from None
    if certs is not None and not certs.is_dir():
        raise _fail(f"--certs {certs}: no such folder (`meshlint certs {certs}` writes one)")
    return Request(
        workload=_name(workload, "--for") if workload else None,
        gateway=_name(gateway, "--gateway") if gateway else None,
        endpoints=table,
        certs=str(certs) if certs is not None else None,
        listen=_address(listen, "--listen"),
        inbound=_address(inbound, "--inbound"),
        admin=_address(admin, "--admin"),
        app=_address(app_address, "--app") if app_address else None,
        port_offset=port_offset,
    )


def plan_of(result: LintResult, cfg: Config, request: Request) -> tuple[Plan, list[Any]]:
    """The Plan and the findings on what it leaves out (already placed), or a usage error."""
    from meshlint import engine
    from meshlint.diagnostics import Severity
    from meshlint.mesh import MeshIndex
    from meshlint.translate.build import build
    from meshlint.translate.endpoints import TranslateError

    index = MeshIndex(result.records, namespaces=result.namespaces, settings=cfg.mesh_settings())
    try:
        plan, notes = build(index, request)
    except TranslateError as exc:
        raise _fail(str(exc)) from None
    found = [(n.code, Severity.WARNING, n.record, n.finding) for n in notes]
    return plan, engine.place_record_findings(result, found)


@app.command("translate")
def translate_command(
    paths: Paths = None,
    workload: For = None,
    gateway: Gateway = None,
    target: Annotated[Target, typer.Option(help="The data plane to configure.")] = Target.envoy,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the config to this file instead of stdout."),
    ] = None,
    config_format: Annotated[
        ConfigFormat | None,
        typer.Option(
            "--config-format",
            help="yaml (with comments naming the manifests) or json. (default: json for a "
            "-o file ending in .json, else yaml)",
            show_default=False,
        ),
    ] = None,
    endpoints: Endpoints = None,
    certs: Certs = None,
    listen: Listen = "127.0.0.1:15001",
    inbound: Inbound = "127.0.0.1:15006",
    admin: Annotated[str, typer.Option(help="Envoy's admin listener.")] = "127.0.0.1:15000",
    app_address: AppAddress = None,
    port_offset: PortOffset = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Translate even when the lint finds errors.")
    ] = False,
    fmt: Annotated[
        Format, typer.Option("--format", help="Format of the findings on stderr.")
    ] = Format.text,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Worker processes for linting, at most: fewer on fewer cores, one per MiB of "
            "input, none below 2 MiB. (default: the number of cores)",
            show_default=False,
        ),
    ] = None,
    filename: Filename = None,
    config_file: ConfigFile = None,
    no_config: NoConfig = False,
    stdin_filename: StdinName = "<stdin>",
    cluster: Cluster = False,
    context: Context = None,
    namespace: Namespace = None,
    all_namespaces: AllNamespaces = False,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Translate the manifests into the config of one proxy: an Envoy v3 bootstrap, or the
    config of the included proxy (--target proxy, served by `meshlint proxy --config`)."""
    from meshlint import engine
    from meshlint.diagnostics import Severity

    cfg = load_settings(config_file=config_file, no_config=no_config)
    inputs = Inputs(
        paths, filename, stdin_filename, cluster, context, namespace, all_namespaces, kubeconfig
    )
    request = _request(
        workload, gateway, endpoints, certs, listen, inbound, admin, app_address, port_offset
    )
    request.target = target.value
    as_json = config_format is ConfigFormat.json or (
        config_format is None and output is not None and output.suffix == ".json"
    )
    early: dict[str, Any] = {}

    def meanwhile(run: LintResult) -> None:
        # Translated while the cross-resource findings are worked out on the other core; kept
        # only if they stop nothing. Not begun when the files' own findings already stop it.
        if run.io_error or any(_stops(d, force) for d in run.findings):
            return
        try:
            early["done"] = _translate(run, cfg, request, as_json, target)
        except typer.Exit as exc:  # a usage error, raised once the lint's verdict is known
            early["exit"] = exc

    result = _read(inputs, cfg, jobs, meanwhile)
    crashed = any(d.code == engine.INTERNAL_ERROR for d in result.findings)
    errors = [d for d in result.findings if d.severity >= Severity.ERROR]
    if (errors and not force) or result.io_error or crashed:
        sys.stderr.write(render_report(result, fmt, ColorMode.auto, None, stream=sys.stderr))
        if result.io_error or crashed:
            raise typer.Exit(EXIT_USAGE)
        typer.echo(
            f"meshlint: {len(errors)} error(s) in the manifests: nothing translated "
            "(--force translates anyway)",
            err=True,
        )
        raise typer.Exit(EXIT_FINDINGS)
    if "exit" in early:
        raise early["exit"]
    notes, text = (
        early["done"] if "done" in early else _translate(result, cfg, request, as_json, target)
    )
    engine.add_findings(result, notes, cfg)
    if result.findings:
        sys.stderr.write(render_report(result, fmt, ColorMode.auto, None, stream=sys.stderr))
    if output is not None:
        write_text(output, text)
        typer.echo(f"meshlint: wrote {output} ({target.value})", err=True)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    raise typer.Exit(EXIT_CLEAN)


def _stops(d: Diagnostic, force: bool) -> bool:
    """Whether a finding stops the translation: an internal error, or an error unless forced."""
    from meshlint import engine
    from meshlint.diagnostics import Severity

    return d.code == engine.INTERNAL_ERROR or (d.severity >= Severity.ERROR and not force)


def _translate(
    result: LintResult, cfg: Config, request: Request, as_json: bool, target: Target
) -> tuple[list[Diagnostic], str]:
    """The findings of the translation (placed) and the config's text."""
    # What follows makes many small objects and frees none: collecting would only rescan the
    # run's records, already read, again and again.
    import gc

    from meshlint.translate import envoy

    gc.freeze()
    gc.disable()
    plan, notes = plan_of(result, cfg, request)
    if target is Target.proxy:
        from meshlint.translate import proxy

        data = proxy.render(plan)
    else:
        data = envoy.render(plan)
    return notes, envoy.to_json(data) if as_json else envoy.to_yaml(data)


@app.command("certs")
def certs_command(
    folder: Annotated[Path, typer.Argument(help="Where to write the CA and the certificates.")],
    paths: Paths = None,
    renew: Annotated[
        bool, typer.Option("--renew", help="Mint new workload certificates over existing ones.")
    ] = False,
    filename: Filename = None,
    config_file: ConfigFile = None,
    no_config: NoConfig = False,
    stdin_filename: StdinName = "<stdin>",
    cluster: Cluster = False,
    context: Context = None,
    namespace: Namespace = None,
    all_namespaces: AllNamespaces = False,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Mint a local CA, a SPIFFE certificate for every service account of the manifests and one
    for every Gateway credential, so that mTLS can be tried on a laptop."""
    from meshlint.mesh import MeshIndex
    from meshlint.translate import certs
    from meshlint.translate.endpoints import TranslateError

    cfg = load_settings(config_file=config_file, no_config=no_config)
    inputs = Inputs(
        paths, filename, stdin_filename, cluster, context, namespace, all_namespaces, kubeconfig
    )
    result = _read(inputs, cfg)
    index = MeshIndex(result.records, namespaces=result.namespaces, settings=cfg.mesh_settings())
    wanted = certs.wanted_by(index)
    if not wanted.accounts and not wanted.credentials:
        raise _fail("no workload, ServiceAccount or Gateway in the manifests: nothing to certify")
    try:
        written = certs.mint(str(folder), wanted, renew=renew)
    except TranslateError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write into {folder}: {exc.strerror or exc}") from None
    kept = (
        len(wanted.accounts)
        + len(wanted.credentials)
        - sum(1 for w in written if w.endswith(("cert-chain.pem", "/cert.pem")))
    )
    typer.echo(
        f"meshlint: {folder}: CA and {len(wanted.accounts)} workload identities "
        f"({wanted.trust_domain}), {len(wanted.credentials)} gateway credentials; "
        f"{len(written)} files written"
        + (f", {kept} kept (--renew rewrites them)" if kept else ""),
        err=True,
    )
    raise typer.Exit(EXIT_CLEAN)


@app.command("route")
def route_command(
    method: Annotated[str, typer.Argument(help="The request's method (GET, POST, …).")],
    url: Annotated[str, typer.Argument(help="The request's URL: http://reviews:9080/path?q=1")],
    paths: Paths = None,
    workload: For = None,
    gateway: Gateway = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help="A request header, 'name: value'; repeatable."),
    ] = None,
    endpoints: Endpoints = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
    filename: Filename = None,
    config_file: ConfigFile = None,
    no_config: NoConfig = False,
    stdin_filename: StdinName = "<stdin>",
    cluster: Cluster = False,
    context: Context = None,
    namespace: Namespace = None,
    all_namespaces: AllNamespaces = False,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Where does this request go? The route, clusters, endpoints and policies that apply to it,
    and the authorization verdict at the destination, from the manifests alone."""
    import json

    from meshlint.translate import simulate

    cfg = load_settings(config_file=config_file, no_config=no_config)
    inputs = Inputs(
        paths, filename, stdin_filename, cluster, context, namespace, all_namespaces, kubeconfig
    )
    request = _request(
        workload,
        gateway,
        endpoints,
        None,
        "127.0.0.1:15001",
        "127.0.0.1:15006",
        "127.0.0.1:15000",
        None,
        0,
    )
    request.require_certs = False
    headers: list[tuple[str, str]] = []
    for h in header or []:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise _fail(f"-H takes 'name: value'; got {h!r}")
        headers.append((name.strip().lower(), value.strip()))
    try:
        call = simulate.Call.parse(method, url, headers)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    result = _read(inputs, cfg)
    from meshlint.mesh import MeshIndex
    from meshlint.translate.build import build
    from meshlint.translate.endpoints import TranslateError

    index = MeshIndex(result.records, namespaces=result.namespaces, settings=cfg.mesh_settings())
    try:
        plan, _ = build(index, request)
        answer = simulate.route(plan, call, index, request)
    except TranslateError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(answer.to_data(), indent=2))
    else:
        typer.echo(answer.text())
    raise typer.Exit(EXIT_CLEAN)
