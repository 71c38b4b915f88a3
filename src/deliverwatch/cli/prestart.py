"""``deliverwatch ingest BIG_FILE``: the file's readers start before anything else is imported.

The command line and its configuration take about a second to import and validate (typer,
pydantic models, SQLAlchemy), on one core, while the other idles. A big file's readers
(``events.reader``) need none of it: a provider, the source settings, the file, and the
store's raw-event horizon. So :func:`prestart` reads the ``ingest`` arguments it can be sure
of, guesses the store (``configfile.guess_database_url``), and starts the readers; the
command, once parsed and configured, takes them if it asks for the same provider, source
and file (``events.reader.start_early``), and the store checks their horizon.

Anything this parser does not know for certain (``--source``, ``--verify``, ``--help``, an
option it has not met) leaves the start to the command, as before.
"""

from __future__ import annotations

import os
from pathlib import Path

#: ingest's options that take a value and that the readers depend on or may ignore, by each
#: of their names (the last one given wins, as in click).
_VALUED = {
    "--provider": "--provider",
    "--domain": "--domain",
    "--config": "--config",
    "-c": "--config",
    "--format": "--format",
    "-f": "--format",
}


def ingest_arguments(argv: list[str]) -> tuple[str, str | None, Path | None, Path] | None:
    """(provider, domain, config path, first file) of a plain ``ingest`` command line."""
    if not argv or argv[0] != "ingest":
        return None
    values: dict[str, str] = {}
    files: list[str] = []
    rest = iter(argv[1:])
    for word in rest:
        if word == "--":
            files.extend(rest)
            break
        if not word.startswith("-") or word == "-":
            files.append(word)
            continue
        name, equals, value = word.partition("=")
        if (option := _VALUED.get(name)) is None:
            return None  # --source, --verify, --help, or an option added later
        if not equals:
            value = next(rest, "")
        values[option] = value
    provider = values.get("--provider")
    if not provider or not files or files[0] == "-":
        return None
    config = values.get("--config")
    domain = values.get("--domain") or None
    return provider, domain, Path(config) if config else None, Path(files[0])


def prestart(argv: list[str]) -> bool:
    """Start the readers of ``ingest``'s first file, if the arguments say so for certain;
    whether they were (``events.reader.discard_prestarted`` stops them if no command takes
    them)."""
    arguments = ingest_arguments(argv)
    if arguments is None:
        return False
    provider, domain, config, first = arguments
    from deliverwatch.configfile import guess_database_url
    from deliverwatch.events.providers import PROVIDERS
    from deliverwatch.events.providers.base import file_source
    from deliverwatch.events.reader import prestart as start_readers

    url = guess_database_url(config, os.environ)
    if url is None or provider not in PROVIDERS:
        return False
    return start_readers(url, provider, file_source(provider, domain), first)
