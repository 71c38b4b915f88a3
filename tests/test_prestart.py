"""The command line's early start: which ``ingest`` arguments it trusts, and its guess of the
store (checked against the real one later, so a guess may be wrong but never unsafe)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliverwatch.cli.prestart import ingest_arguments
from deliverwatch.configfile import DEFAULT_DATABASE_URL, guess_database_url

C = ["-c", "c.yml"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ingest", "--provider", "sendgrid", "a.json"], ("sendgrid", None, None, "a.json")),
        (
            ["ingest", "a.json", "b.json", "--provider=generic", "--domain", "x.test", *C],
            ("generic", "x.test", "c.yml", "a.json"),
        ),
        (
            ["ingest", "-f", "json", "--config=d.yaml", "--provider", "ses", "--", "-odd.json"],
            ("ses", None, "d.yaml", "-odd.json"),
        ),
        (  # the last of an option's names wins, as in click
            ["ingest", "--config", "a.yml", "--provider", "ses", "-c", "b.yml", "a.json"],
            ("ses", None, "b.yml", "a.json"),
        ),
        (["ingest", "--provider", "sendgrid", "--source", "sg", "a.json"], None),
        (["ingest", "--provider", "sendgrid", "--verify", "a.json"], None),
        (["ingest", "--provider", "sendgrid", "--help"], None),
        (["ingest", "--provider", "sendgrid"], None),  # no file
        (["ingest", "a.json"], None),  # no provider: typer will say so
        (["ingest", "--provider", "sendgrid", "-"], None),
        (["stats", "--provider", "sendgrid", "a.json"], None),
        ([], None),
    ],
)
def test_only_a_plain_ingest_is_started_early(
    argv: list[str], expected: tuple[str, str | None, str | None, str] | None
) -> None:
    found = ingest_arguments(argv)
    if expected is None:
        assert found is None
    else:
        provider, domain, config, first = expected
        assert found == (provider, domain, Path(config) if config else None, Path(first))


def test_the_store_is_guessed_as_the_configuration_will_have_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deliverwatch.config import load_config

    monkeypatch.chdir(tmp_path)
    assert guess_database_url(None, {}) == DEFAULT_DATABASE_URL == load_config().database_url
    (tmp_path / "deliverwatch.yaml").write_text("database_url: sqlite:///here.db\n")
    assert guess_database_url(None, {}) == "sqlite:///here.db" == load_config().database_url
    env = {"DELIVERWATCH_DATABASE_URL": "sqlite:///env.db"}
    assert guess_database_url(None, env) == "sqlite:///env.db" == load_config(env=env).database_url
    other = tmp_path / "other.yml"
    other.write_text("dns: {timeout: 2}\n")
    assert guess_database_url(other, {}) == DEFAULT_DATABASE_URL
    assert guess_database_url(None, {"DELIVERWATCH_CONFIG": str(other)}) == DEFAULT_DATABASE_URL
    # What it cannot tell for certain, it does not guess.
    assert guess_database_url(None, {"DELIVERWATCH_DATABASE_URL_FILE": "/run/secret"}) is None
    other.write_text("database_url: [not, a, url\n")
    assert guess_database_url(other, {}) is None
    other.write_text("database_url: 5\n")
    assert guess_database_url(other, {}) is None
    assert guess_database_url(tmp_path / "missing.yaml", {}) is None
