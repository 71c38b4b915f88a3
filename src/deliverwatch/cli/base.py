"""The typer app and what every command shares: config loading and usage errors."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from deliverwatch import __version__
from deliverwatch.config import Config, ConfigError, load_config

USAGE_ERROR = 2


class TextOrJson(StrEnum):
    """``--format`` of commands that print either a table or JSON."""

    text = "text"
    json = "json"


app = typer.Typer(
    name="deliverwatch",
    help="Email deliverability monitoring: authentication audits, events, DMARC, alerts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect and validate deliverwatch.yaml.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def fail(message: str) -> typer.Exit:
    """Print a usage/config error to stderr; raise the returned Exit (code 2)."""
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(USAGE_ERROR)


def load(config_path: Path | None) -> Config:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise fail(str(exc)) from None


@config_app.command("validate")
def config_validate(
    config_path: Annotated[Path | None, typer.Argument(help="Config file.")] = None,
) -> None:
    """Validate a config file (and environment overrides); print the effective config."""
    config = load(config_path)
    Console().print_json(config.model_dump_json(exclude={"sources"}))
    for source in config.sources:
        Console().print(f"source {source.name}: provider {source.provider}")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"deliverwatch {__version__}")
