"""Likely causes and recommended actions, per metric and per audit section: what a
notification says beyond the numbers, so the person paged knows where to look first."""

from __future__ import annotations

METRIC_NAMES = {
    "complaint_rate": "complaint rate",
    "hard_bounce_rate": "hard bounce rate",
    "bounce_rate": "bounce rate",
    "deferral_rate": "deferral rate",
    "volume": "sending volume",
}

CAUSES: dict[str, tuple[str, ...]] = {
    "complaint_rate": (
        "mail sent to people who did not ask for it (bought, rented or stale lists)",
        "a campaign with unexpected content or frequency",
        "the unsubscribe link hard to find or not working (RFC 8058 one-click missing)",
    ),
    "hard_bounce_rate": (
        "an old or imported list with addresses that no longer exist",
        "sign-up forms without confirmation (typos, fake addresses)",
        "suppressions not applied before sending",
    ),
    "bounce_rate": (
        "blocks by a mailbox provider (reputation or authentication)",
        "invalid addresses on the list",
    ),
    "deferral_rate": (
        "a mailbox provider throttling the sending IPs (reputation, volume spike)",
        "a new IP or domain not warmed up",
    ),
    "volume": (
        "a campaign sent to a much larger list than usual, or a compromised account",
        "a sending integration broken (volume drop)",
    ),
    "dmarc": (
        "a new service sending as the domain without DKIM/SPF set up for it",
        "a DKIM key rotated or an SPF include removed",
        "someone spoofing the domain",
    ),
    "placement": (
        "content or links that filters dislike",
        "a reputation drop at the mailbox provider",
        "authentication failing for the seed messages",
    ),
}

ACTIONS: dict[str, tuple[str, ...]] = {
    "complaint_rate": (
        "pause or narrow the campaign responsible (per-campaign stats)",
        "send only to recently engaged recipients until the rate is back under 0.1%",
        "check List-Unsubscribe and List-Unsubscribe-Post headers (deliverwatch lint)",
    ),
    "hard_bounce_rate": (
        "stop sending to the list responsible; validate it before sending again",
        "check that hard-bounced addresses are suppressed (deliverwatch suppressions)",
        "use confirmed opt-in on sign-up forms",
    ),
    "bounce_rate": (
        "read the bounce diagnostics per mailbox provider (deliverwatch stats --by "
        "mailbox-provider)",
    ),
    "deferral_rate": (
        "slow down sending to the provider concerned",
        "check blocklists and the provider's postmaster tools",
    ),
    "volume": ("confirm the send was intended; check the account's API keys if not",),
    "dmarc": (
        "identify the source (deliverwatch dmarc sources) and authorize it (DKIM, SPF) or block it",
    ),
    "placement": (
        "lint the message that landed in spam (deliverwatch lint)",
        "compare authentication results of the seed messages",
    ),
}

SECTION_CAUSES: dict[str, tuple[str, ...]] = {
    "spf": ("an SPF record edited (an include added or removed, a typo)",),
    "dmarc": ("the DMARC record edited or removed",),
    "dkim": ("a DKIM key removed, rotated or replaced by a shorter one",),
    "mx": ("MX or reverse DNS (PTR) records changed at the DNS or hosting provider",),
    "blocklists": ("a sending IP or the domain was listed by a blocklist",),
    "dns": ("the domain's nameservers failing or unreachable",),
}

SECTION_ACTIONS: dict[str, tuple[str, ...]] = {
    "spf": ("compare the record with the last good audit (deliverwatch check DOMAIN)",),
    "dmarc": ("restore the previous policy, or confirm the change was intended",),
    "dkim": ("publish the selector's key again (2048-bit RSA) or re-sign with a present key",),
    "mx": ("fix the MX/PTR records; ask the IP owner to set PTR to a name that resolves back",),
    "blocklists": ("find the cause of the listing, fix it, then request delisting",),
    "dns": ("check the nameservers of the domain answer (dig +trace)",),
}


def section_of(code: str) -> str:
    """The audit section a finding code belongs to (``rdns.*`` is part of ``mx``)."""
    prefix = code.split(".", 1)[0]
    return {"rdns": "mx", "blocklist": "blocklists"}.get(prefix, prefix)
