"""``deliverwatch tokens``: API and dashboard bearer tokens."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from deliverwatch.cli.base import TextOrJson, app, fail, load

tokens_app = typer.Typer(help="API and dashboard tokens (stored hashed).", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


ConfigOption = Annotated[Path | None, typer.Option("--config", "-c")]


@tokens_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name to tell the token by (unique).")],
    read_only: Annotated[
        bool, typer.Option("--read-only", help="May read, never change (ack, silence…).")
    ] = False,
    config_path: ConfigOption = None,
) -> None:
    """Create a token and print it once: it cannot be shown again."""
    from datetime import UTC, datetime

    from deliverwatch.store import begin_write, open_store
    from deliverwatch.store.apitokens import TokenError, create_token

    engine = open_store(load(config_path).database_url)
    try:
        with begin_write(engine) as conn:
            token, stored = create_token(conn, name, read_only=read_only, now=datetime.now(UTC))
    except TokenError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    kind = "read-only" if stored.read_only else "read-write"
    typer.echo(f"created {kind} token {stored.name!r}; it is shown once, store it now:", err=True)
    typer.echo(token)


@tokens_app.command("list")
def list_command(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
    config_path: ConfigOption = None,
    output_format: Annotated[TextOrJson, typer.Option("--format", "-f")] = TextOrJson.text,
) -> None:
    """List tokens (name, first characters, access, last use); never the tokens."""
    from deliverwatch.store import open_store
    from deliverwatch.store.apitokens import list_tokens

    engine = open_store(load(config_path).database_url)
    try:
        with engine.connect() as conn:
            tokens = list_tokens(conn, include_revoked=include_revoked)
    finally:
        engine.dispose()
    if output_format is TextOrJson.json:
        sys.stdout.write(json.dumps([t.to_dict() for t in tokens], indent=2) + "\n")
        return
    for t in tokens:
        used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
        state = "revoked" if t.revoked_at else ("read-only" if t.read_only else "read-write")
        typer.echo(f"{t.name:<24} {t.prefix}…  {state:<10} last used {used}")


@tokens_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    config_path: ConfigOption = None,
) -> None:
    """Revoke a token: requests with it are refused at once."""
    from datetime import UTC, datetime

    from deliverwatch.store import begin_write, open_store
    from deliverwatch.store.apitokens import TokenError, revoke_token

    engine = open_store(load(config_path).database_url)
    try:
        with begin_write(engine) as conn:
            revoke_token(conn, name, now=datetime.now(UTC))
    except TokenError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    typer.echo(f"revoked token {name!r}")
