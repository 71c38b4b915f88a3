"""One module per channel type, each a ``render_*`` function (notification → payload) and a
class implementing :class:`~deliverwatch.notify.channels.base.Channel`.

:func:`build_channel` is the only place that maps a config ``type`` to its class.
"""

from __future__ import annotations

from deliverwatch.notify.channels.alertmanager import AlertmanagerChannel
from deliverwatch.notify.channels.base import Channel, ChannelError, PermanentError, TemporaryError
from deliverwatch.notify.channels.context import ChannelContext
from deliverwatch.notify.channels.pagerduty import PagerDutyChannel
from deliverwatch.notify.channels.slack import SlackChannel
from deliverwatch.notify.channels.smtp import EmailChannel
from deliverwatch.notify.channels.teams import TeamsChannel
from deliverwatch.notify.channels.webhook import WebhookChannel
from deliverwatch.notify.config import (
    AlertmanagerChannelConfig,
    ChannelConfig,
    EmailChannelConfig,
    PagerDutyChannelConfig,
    SlackChannelConfig,
    TeamsChannelConfig,
    WebhookChannelConfig,
)


def build_channel(config: ChannelConfig, context: ChannelContext) -> Channel:
    """The channel for one ``notifications.channels`` entry."""
    match config:
        case SlackChannelConfig():
            return SlackChannel(config, context)
        case EmailChannelConfig():
            return EmailChannel(config, context)
        case WebhookChannelConfig():
            return WebhookChannel(config, context)
        case PagerDutyChannelConfig():
            return PagerDutyChannel(config, context)
        case TeamsChannelConfig():
            return TeamsChannel(config, context)
        case AlertmanagerChannelConfig():
            return AlertmanagerChannel(config, context)
    raise AssertionError(f"no channel for {config!r}")  # pragma: no cover


__all__ = [
    "Channel",
    "ChannelContext",
    "ChannelError",
    "PermanentError",
    "TemporaryError",
    "build_channel",
]
