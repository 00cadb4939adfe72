"""`meshlint schema` and `meshlint version`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from meshlint import __version__
from meshlint.cli.common import (
    _fail,
    app,
)

if TYPE_CHECKING:
    pass


@app.command("schema")
def schema_command(
    kind: Annotated[
        str | None,
        typer.Argument(help="Kind (VirtualService) or apiVersion/Kind; omit to list the schemas."),
    ] = None,
    export: Annotated[
        Path | None, typer.Option("--export", help="Write every schema into this folder.")
    ] = None,
) -> None:
    """Print or export the JSON Schemas generated from the models (for editors and CI)."""
    import json

    from meshlint import schemas
    from meshlint.models.registry import BY_GROUP_KIND, KINDS

    if export is not None:
        written = schemas.write(export)
        typer.echo(f"wrote {len(written)} schemas to {export}")
        return
    if kind is None:
        for info in KINDS:
            for v in info.versions:
                typer.echo(f"{info.api_version(v)}  {info.kind}")
        return
    api_version, _, kind_name = kind.rpartition("/")
    if not api_version:
        match = [k for k in KINDS if k.kind.lower() == kind_name.lower()]
        if not match:
            raise _fail(f"no schema for kind {kind_name!r}; `meshlint schema` lists them")
        api_version, kind_name = match[0].api_version(), match[0].kind
    from meshlint.models.registry import split_api_version

    known = BY_GROUP_KIND.get((split_api_version(api_version)[0], kind_name))
    schema = schemas.load(api_version, kind_name) if known else None
    if schema is None:
        raise _fail(f"no schema for {api_version}/{kind_name}; `meshlint schema` lists them")
    typer.echo(json.dumps(schema, indent=2))


@app.command("version")
def version_command() -> None:
    """Print meshlint's version."""
    typer.echo(f"meshlint {__version__}")
