"""What the rules can be told: the kind of mail and the thresholds (documented defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

MailKind = Literal["marketing", "transactional"]

#: Gmail clips a message whose HTML is over 102 KB.
GMAIL_CLIP_BYTES: Final = 102 * 1024


@dataclass(frozen=True, slots=True)
class LintOptions:
    """Rule settings. ``kind="transactional"`` turns off the unsubscribe requirements."""

    kind: MailKind = "marketing"
    max_link_domains: int = 5
    min_text_per_image: int = 100  # visible characters per content image
    image_only_text: int = 50  # fewer visible characters than this with images: image-only
    hidden_text_limit: int = 150  # hidden characters allowed (a preheader)
    shorteners: frozenset[str] = field(default_factory=frozenset)  # besides the built-in list
    clip_bytes: int = GMAIL_CLIP_BYTES
