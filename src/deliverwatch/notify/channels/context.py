"""What a channel needs besides its own config: the pass's HTTP client, the clock, limits."""

from __future__ import annotations

from dataclasses import dataclass

from deliverwatch.clock import Clock
from deliverwatch.notify.channels.http import HttpPoster


@dataclass(frozen=True)
class ChannelContext:
    http: HttpPoster
    clock: Clock
    max_response_bytes: int = 65_536
