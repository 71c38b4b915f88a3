"""Every ESP module of this package, by name: a module ``<name>.py`` with ``PROVIDER = <a
Provider instance>`` whose ``name`` is the module's name. Adding an ESP is adding its module;
the registry, the docs test and the fuzz tests pick it up.

The registry imports a provider's module when it is first asked for: a command that reads
SendGrid files does not import the certificate code of SES. The package's other modules are
helpers (:data:`HELPERS`; a test checks that these, and only these, have no ``PROVIDER``).

>>> sorted(PROVIDERS)[:3]
['brevo', 'generic', 'mailgun']
>>> PROVIDERS["sendgrid"].name
'sendgrid'
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from pathlib import Path

from deliverwatch.events.model import Event
from deliverwatch.events.providers.base import Provider, SourceSettings

#: Modules of this package that are shared code, not providers.
HELPERS = frozenset({"base", "batch", "credentials", "jsonfields", "jsonstream", "sns"})


class _Registry(Mapping[str, Provider]):
    """Provider name (as written in ``sources[].provider``) → its parser and verifier,
    imported on first use."""

    def __init__(self) -> None:
        modules = (info.name for info in pkgutil.iter_modules(__path__))
        self.names = tuple(sorted(name for name in modules if name not in HELPERS))
        self.loaded: dict[str, Provider] = {}

    def __getitem__(self, name: str) -> Provider:
        if (provider := self.loaded.get(name)) is not None:
            return provider
        if name not in self.names:
            raise KeyError(name)
        provider = getattr(importlib.import_module(f"{__name__}.{name}"), "PROVIDER", None)
        if not isinstance(provider, Provider) or provider.name != name:
            raise RuntimeError(f"{__name__}.{name}.PROVIDER is not the provider {name!r}")
        self.loaded[name] = provider
        return provider

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


PROVIDERS: Mapping[str, Provider] = _Registry()


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
