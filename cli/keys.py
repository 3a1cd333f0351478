"""`lookalike keys ...`: create, list and revoke API keys (only their hashes are stored)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.keys import KeyRing, Scope
from cli.app import app
from cli.common import fail, guard
from cli.options import DataDir, Json, make_engine

keys_app = typer.Typer(
    help="API keys. Once one key has been created, every /v1 route needs a key with the right "
    "scope: read (search, get), write (upload, PATCH, delete) or admin (keys, jobs, reindex).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(keys_app, name="keys")


def _ring(data_dir: DataDir) -> KeyRing:
    return KeyRing(make_engine(data_dir).store)


@keys_app.command("create")
@guard
def create_cmd(
    scope: Annotated[
        list[Scope],
        typer.Option("--scope", "-s", help="read, write or admin; repeat for several."),
    ],
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key.")] = "",
    rate: Annotated[
        float | None,
        typer.Option("--rate", min=0.001, help="Requests per second; the server default if unset."),
    ] = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Create a key and print its token once; store the token now, it cannot be shown again."""
    key, token = _ring(data_dir).create([s.value for s in scope], name, rate)
    if as_json:
        typer.echo(
            json.dumps({**key.model_dump(mode="json", exclude={"secret_sha256"}), "token": token})
        )
    else:
        typer.echo(f"created key {key.key_id} ({', '.join(key.scopes)}); its token, shown once:")
        typer.echo(token)


@keys_app.command("list")
@guard
def list_cmd(data_dir: DataDir = None, as_json: Json = False) -> None:
    """Every key with its scopes; tokens are never shown again."""
    keys = _ring(data_dir).list()
    if as_json:
        rows = [k.model_dump(mode="json", exclude={"secret_sha256"}) for k in keys]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not keys:
        typer.echo("no API keys: the API serves anyone who can reach it (localhost only).")
    for k in keys:
        state = "revoked" if k.revoked else "active"
        rate = f"{k.rate_per_s:g}/s" if k.rate_per_s else "default rate"
        typer.echo(f"{k.key_id}  {state:7}  {','.join(k.scopes):17}  {rate:12}  {k.name}")


@keys_app.command("revoke")
@guard
def revoke_cmd(key_id: Annotated[str, typer.Argument(help="The key's id (`keys list`).")],
               data_dir: DataDir = None) -> None:  # fmt: skip
    """Revoke a key; a running API refuses it within a second."""
    ring = _ring(data_dir)
    if key_id not in {k.key_id for k in ring.list()}:
        fail(f"No API key has the id '{key_id}'; `lookalike keys list` shows them.")
    ring.revoke(key_id)
    typer.echo(f"revoked {key_id}")
