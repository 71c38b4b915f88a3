"""Where the configuration comes from, without validating it: no pydantic here.

``config`` reads and validates the file; the command line's early start
(``cli.prestart``) only needs a guess of the store, a third of a second before pydantic and
the configuration's models are even imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

ENV_PREFIX = "DELIVERWATCH_"
#: Run the plain Python modules where the hot path is compiled (``deliverwatch.native``).
PURE_ENV = f"{ENV_PREFIX}PURE_PYTHON"
#: Install without compiling the hot path (setup.py's NO_COMPILE).
NO_COMPILE_ENV = f"{ENV_PREFIX}NO_COMPILE"
#: Variables of the prefix that are not settings: the file to read, how to build and run.
ENV_NOT_SETTINGS = frozenset({f"{ENV_PREFIX}CONFIG", PURE_ENV, NO_COMPILE_ENV})
DEFAULT_CONFIG_NAMES = ("deliverwatch.yaml", "deliverwatch.yml")
DEFAULT_DATABASE_URL = "sqlite:///deliverwatch.db"


def pure_python_requested(env: Mapping[str, str]) -> bool:
    """Whether :data:`PURE_ENV` asks for the plain modules (set, and not ``0``)."""
    return env.get(PURE_ENV, "") not in ("", "0")


def config_path(path: Path | None, env: Mapping[str, str]) -> Path | None:
    """The config file: ``path``, else ``DELIVERWATCH_CONFIG``, else ./deliverwatch.yaml if
    present; None without one."""
    if path is None and env.get(f"{ENV_PREFIX}CONFIG"):
        path = Path(env[f"{ENV_PREFIX}CONFIG"])
    if path is None:
        path = next((Path(n) for n in DEFAULT_CONFIG_NAMES if Path(n).is_file()), None)
    return path


def guess_database_url(path: Path | None, env: Mapping[str, str]) -> str | None:
    """The ``database_url`` the configuration will have, read without validating it; None
    when it cannot be told this way (a ``_FILE`` variable, a file that does not parse). Only
    for work that is checked against the real store later."""
    if env.get(f"{ENV_PREFIX}DATABASE_URL_FILE"):
        return None
    if url := env.get(f"{ENV_PREFIX}DATABASE_URL"):
        return url
    found = config_path(path, env)
    if found is None:
        return DEFAULT_DATABASE_URL
    import yaml

    try:
        data = yaml.safe_load(found.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, yaml.YAMLError):
        return None
    url = data.get("database_url", DEFAULT_DATABASE_URL) if isinstance(data, dict) else None
    return url if isinstance(url, str) else None
