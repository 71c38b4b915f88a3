"""The one interface every channel implements, and the two ways a send can fail.

A channel turns a :class:`~deliverwatch.notify.model.Notification` into its service's payload
(a pure ``render`` function in its module) and sends it. It raises :class:`TemporaryError`
when trying again later may work (a timeout, a 5xx, 408, 429 — with the server's
``Retry-After`` when given) and :class:`PermanentError` when it cannot (any other 4xx, an SMTP
5xx reply): the outbox retries the first and records the second. Messages never include
credentials: channel URLs often are the credential (Slack, Teams), so errors name the
status and the service's short answer, not the URL.
"""

from __future__ import annotations

from typing import Protocol

from deliverwatch.notify.model import Notification


class ChannelError(Exception):
    """A send that did not succeed; the message is safe to log and show."""

    permanent: bool = False


class TemporaryError(ChannelError):
    """Try again later; ``retry_after`` (seconds) when the service said how long to wait."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ChannelError):
    """Sending this again will fail the same way: recorded, never retried."""

    permanent = True


class Channel(Protocol):
    """A configured destination. ``send`` returns once the service accepted the message."""

    name: str

    async def send(self, notification: Notification) -> None: ...


__all__ = ["Channel", "ChannelError", "PermanentError", "TemporaryError"]
