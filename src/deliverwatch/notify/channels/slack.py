"""Slack incoming webhooks: Block Kit blocks, with ``text`` as the notification fallback.

Slack answers 200 ``ok``; 400 (``invalid_payload``), 403, 404 (``no_service``) and 410
(``channel_is_archived``) will not change on retry; 429 comes with ``Retry-After``.
"""

from __future__ import annotations

import json
from typing import Any

from deliverwatch.notify import render
from deliverwatch.notify.channels.context import ChannelContext
from deliverwatch.notify.config import SlackChannelConfig
from deliverwatch.notify.model import Notification

# Block Kit limits: header text 150 characters, section text 3,000, at most 10 fields of
# 2,000, at most 50 blocks per message.
HEADER_MAX = 150
TEXT_MAX = 3000
FIELDS_MAX = 10


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters in mrkdwn (``<`` starts a link or a mention)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_slack(n: Notification) -> dict[str, Any]:
    """The webhook body for ``n``."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": render.truncate(f"{render.mark(n)} {render.headline(n)}", HEADER_MAX),
                "emoji": True,
            },
        },
        {"type": "section", "text": _mrkdwn(escape_mrkdwn(n.summary or n.title))},
        {
            "type": "section",
            "fields": [
                _mrkdwn(f"*{escape_mrkdwn(label)}*\n{escape_mrkdwn(value)}")
                for label, value in render.facts(n)[:FIELDS_MAX]
            ],
        },
    ]
    for section in render.sections(n):
        lines = "\n".join(f"• {escape_mrkdwn(line)}" for line in section.lines)
        blocks.append({"type": "section", "text": _mrkdwn(f"*{section.title}*\n{lines}")})
    if n.link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in the dashboard"},
                        "url": n.link,
                    }
                ],
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [_mrkdwn(f"deliverwatch · {n.created_at:%Y-%m-%d %H:%M} UTC · {n.id}")],
        }
    )
    fallback = f"{render.headline(n)}: {n.summary}" if n.summary else render.headline(n)
    return {"text": escape_mrkdwn(render.truncate(fallback, TEXT_MAX)), "blocks": blocks}


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": render.truncate(text, TEXT_MAX)}


class SlackChannel:
    def __init__(self, config: SlackChannelConfig, context: ChannelContext) -> None:
        self.name = config.name
        self._config = config
        self._context = context

    async def send(self, notification: Notification) -> None:
        body = json.dumps(render_slack(notification)).encode()
        await self._context.http.post(
            self._config.url.get_secret_value(),
            body,
            timeout=self._config.timeout,
            max_bytes=self._context.max_response_bytes,
            now=self._context.clock.now(),
        )
