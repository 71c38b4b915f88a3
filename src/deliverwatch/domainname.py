"""Domain names as deliverwatch writes them, without the DNS machinery (``deliverwatch.dns``
imports dnspython, which event ingest has no use for)."""

from __future__ import annotations


def normalize_name(name: str) -> str:
    """Lower-case, no trailing dot: the form names take everywhere in reports."""
    return name.strip().rstrip(".").lower()
