"""Everything users can name is documented: finding codes, config keys, CLI options."""

from __future__ import annotations

from pathlib import Path
from typing import get_origin

import typer.main
from pydantic import BaseModel

from deliverwatch.auth.findings import CATALOGUE, catalogue_markdown
from deliverwatch.cli import app
from deliverwatch.config import Config

ROOT = Path(__file__).resolve().parents[2]


def config_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        name = field.alias or name  # the key as written in YAML (`from`, not `from_`)
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (None,))[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += config_keys(annotation, f"{prefix}{name}.")
        elif isinstance(inner, type) and issubclass(inner, BaseModel):
            # A list of sections is documented as `key[].sub`, an optional section (`X | None`)
            # as `key.sub`.
            brackets = "[]" if get_origin(annotation) is list else ""
            keys += config_keys(inner, f"{prefix}{name}{brackets}.")
        else:
            keys.append(prefix + name)
    return keys


def test_findings_doc_is_generated_from_the_catalogue() -> None:
    doc = (ROOT / "docs" / "findings.md").read_text()
    assert doc == catalogue_markdown(), (
        "run: python -m deliverwatch.auth.findings > docs/findings.md"
    )
    for code in CATALOGUE:
        assert f"### `{code}`" in doc


def test_every_config_key_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    keys = config_keys(Config)
    assert "dns.timeout" in keys and "domains[].sending_ips" in keys
    missing = [key for key in keys if f"`{key}`" not in doc]
    assert not missing, f"undocumented config keys: {missing}"


def test_example_config_is_valid_and_covers_every_section() -> None:
    from deliverwatch.config import load_config

    config = load_config(ROOT / "deliverwatch.example.yaml", env={})
    assert config.domains
    text = (ROOT / "deliverwatch.example.yaml").read_text()
    for section in ("dns:", "http:", "blocklists:", "check:", "domains:"):
        assert section in text


def test_every_cli_option_is_documented() -> None:
    doc = (ROOT / "docs" / "cli.md").read_text()
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert "check" in commands
    undocumented = [f"deliverwatch {n}" for n in commands if f"deliverwatch {n}" not in doc]
    for name, command in commands.items():
        for param in getattr(command, "params", []):
            if param.param_type_name == "option":
                for flag in param.opts:
                    if flag.startswith("--") and flag not in doc:
                        undocumented.append(f"{name} {flag}")
    assert not undocumented, f"undocumented options: {undocumented}"
