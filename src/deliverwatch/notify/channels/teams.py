"""Microsoft Teams through a Workflows webhook ("When a Teams webhook request is received"),
posting an Adaptive Card.

The Workflows trigger takes the same envelope the retired Office 365 connectors took: a
``message`` with an ``attachments`` list holding the card. It answers 202 Accepted.
"""

from __future__ import annotations

import json
from typing import Any

from deliverwatch.notify import render
from deliverwatch.notify.channels.context import ChannelContext
from deliverwatch.notify.config import TeamsChannelConfig
from deliverwatch.notify.model import Notification

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"  # what Teams renders everywhere (desktop, web, mobile)
_COLOUR = {"info": "Accent", "warning": "Warning", "high": "Warning", "critical": "Attention"}


def render_card(n: Notification) -> dict[str, Any]:
    """The Adaptive Card alone."""
    colour = "Good" if n.is_resolved else _COLOUR[n.severity]
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": render.headline(n),
            "weight": "Bolder",
            "size": "Medium",
            "color": colour,
            "wrap": True,
        },
        {"type": "TextBlock", "text": n.summary, "wrap": True},
        {
            "type": "FactSet",
            "facts": [{"title": label, "value": value} for label, value in render.facts(n)],
        },
    ]
    for section in render.sections(n):
        body.append({"type": "TextBlock", "text": section.title, "weight": "Bolder", "wrap": True})
        # Adaptive Card TextBlocks take a Markdown subset; "- " lines become a list.
        body.append(
            {"type": "TextBlock", "text": "\n".join(f"- {x}" for x in section.lines), "wrap": True}
        )
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }
    if n.link:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open in the dashboard", "url": n.link}
        ]
    return card


def render_teams(n: Notification) -> dict[str, Any]:
    """The Workflows webhook body for ``n``."""
    return {
        "type": "message",
        "summary": render.truncate(render.headline(n), 250),
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": render_card(n),
            }
        ],
    }


class TeamsChannel:
    def __init__(self, config: TeamsChannelConfig, context: ChannelContext) -> None:
        self.name = config.name
        self._config = config
        self._context = context

    async def send(self, notification: Notification) -> None:
        body = json.dumps(render_teams(notification)).encode()
        await self._context.http.post(
            self._config.url.get_secret_value(),
            body,
            timeout=self._config.timeout,
            max_bytes=self._context.max_response_bytes,
            now=self._context.clock.now(),
        )
