"""Every ESP module of this package, found by its ``PROVIDER`` attribute: no list to edit.

Adding an ESP is adding ``<name>.py`` with ``PROVIDER = <a Provider instance>`` whose
``name`` is the module's name; the registry, the docs test and the fuzz tests pick it up.

>>> sorted(PROVIDERS)[:3]
['brevo', 'generic', 'mailgun']
>>> PROVIDERS["sendgrid"].name
'sendgrid'
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

from deliverwatch.events.model import Event
from deliverwatch.events.providers.base import Provider, SourceSettings


def _discover() -> dict[str, Provider]:
    found: dict[str, Provider] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        provider = getattr(module, "PROVIDER", None)
        if not isinstance(provider, Provider):
            continue  # a shared helper module (base, batch, jsonfields, …)
        if provider.name != info.name:
            raise RuntimeError(f"{module.__name__}.PROVIDER is named {provider.name!r}")
        found[provider.name] = provider
    return dict(sorted(found.items()))


#: Provider name (as written in ``sources[].provider``) → its parser and verifier.
PROVIDERS: dict[str, Provider] = _discover()


def get_provider(name: str) -> Provider:
    """The provider called ``name``; KeyError listing the known names otherwise."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise KeyError(f"unknown provider {name!r}; known: {', '.join(PROVIDERS)}") from None


def iter_events_from_file(
    path: str | Path, provider: str, source: SourceSettings | None = None
) -> Iterator[Event]:
    """Stream the events of a saved webhook body or an export, in bounded memory.

    ``source`` supplies the default sending domain; without one the file's own name is used
    as the source name. Raises ``PayloadError`` naming the item and line of a bad record
    (events before it have been yielded).
    """
    chosen = get_provider(provider)
    settings = source or SourceSettings(name=Path(path).name, provider=provider)
    with open(path, "rb") as stream:
        yield from chosen.iter_file(stream, settings)
