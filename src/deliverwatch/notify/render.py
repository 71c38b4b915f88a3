"""The words every channel uses, rendered once: headline, facts, sections, plain text, HTML.

Each message answers the same questions whatever the channel: what happened (headline and
summary), where (domain, mailbox provider), how bad (severity), the evidence, the likely
causes, the recommended actions, and a link to the dashboard page. Channels lay these out in
their own format (Block Kit, an Adaptive Card, an email) from the pieces here.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from deliverwatch.notify.model import Notification

STATUS = {
    "firing": "FIRING",
    "resolved": "RESOLVED",
    "reminder": "STILL FIRING",
    "escalation": "ESCALATED",
    "acknowledged": "ACKNOWLEDGED",
    "digest": "DIGEST",
    "test": "TEST",
}
SEVERITY_MARK = {"info": "ℹ️", "warning": "⚠️", "high": "🟠", "critical": "🔴"}
RESOLVED_MARK = "✅"
MAX_GROUP_LINES = 20


@dataclass(frozen=True)
class Section:
    title: str
    lines: list[str]


def status(n: Notification) -> str:
    return STATUS[n.kind]


def mark(n: Notification) -> str:
    return RESOLVED_MARK if n.is_resolved else SEVERITY_MARK[n.severity]


def headline(n: Notification) -> str:
    """``[FIRING · critical] example.com: complaint rate above 0.30%``. A title that already
    starts with its own tag (``[CRITICAL] …``, as the alert engine writes them) keeps it."""
    where = f"{n.domain}: " if n.domain and n.domain not in n.title else ""
    if n.title.startswith("["):
        tag, _, rest = n.title.partition("] ")
        return f"{tag}] {where}{rest}" if rest else f"{where}{n.title}"
    return f"[{status(n)} · {n.severity}] {where}{n.title}"


def facts(n: Notification) -> list[tuple[str, str]]:
    """Short label/value pairs: status, severity, domain, provider and the other labels."""
    pairs = [("Status", status(n)), ("Severity", n.severity)]
    if n.domain:
        pairs.append(("Domain", n.domain))
    shown = {"domain", "severity", "alertname"}
    for key, value in sorted(n.labels.items()):
        if key not in shown and value:
            pairs.append((key.replace("_", " ").capitalize(), value))
    if n.alerts:
        pairs.append(("Domains" if n.kind == "digest" else "Alerts", str(len(n.alerts))))
    return pairs


def member_line(alert: dict[str, Any]) -> str:
    """One grouped alert as a line: ``[critical] complaint rate above 0.30% (gmail) — firing``."""
    summary = str(
        alert.get("summary") or alert.get("rule") or alert.get("domain") or alert.get("fingerprint")
    )
    severity = alert.get("severity")
    provider = alert.get("provider")
    state = alert.get("state")
    text = f"[{severity}] {summary}" if severity else summary
    if provider:
        text += f" ({provider})"
    if state:
        text += f" — {state}"
    return text


def sections(n: Notification) -> list[Section]:
    """The body in order; empty sections are left out."""
    out = [
        Section("Evidence", list(n.evidence)),
        Section("Likely causes", list(n.causes)),
        Section("Recommended actions", list(n.actions)),
    ]
    if n.alerts and n.kind != "digest":  # a digest's evidence already has a line per domain
        lines = [member_line(a) for a in n.alerts[:MAX_GROUP_LINES]]
        if len(n.alerts) > MAX_GROUP_LINES:
            lines.append(f"… and {len(n.alerts) - MAX_GROUP_LINES} more")
        out.append(Section("Alerts in this group", lines))
    return [s for s in out if s.lines]


def plain_text(n: Notification) -> str:
    """The whole message as text: the email's text part, the fallback of rich formats."""
    parts = [headline(n), "", n.summary, ""]
    parts += [f"{label}: {value}" for label, value in facts(n)]
    for section in sections(n):
        parts += ["", f"{section.title}:"] + [f"- {line}" for line in section.lines]
    if n.link:
        parts += ["", f"Dashboard: {n.link}"]
    parts += ["", f"Sent by deliverwatch at {n.created_at:%Y-%m-%d %H:%M} UTC · id {n.id}"]
    return "\n".join(parts).strip() + "\n"


def html(n: Notification) -> str:
    """The whole message as a small, self-contained HTML document (inline styles only:
    mail clients drop ``<style>`` blocks and external CSS)."""
    colour = {"info": "#2563eb", "warning": "#d97706", "high": "#ea580c", "critical": "#dc2626"}
    bar = "#16a34a" if n.is_resolved else colour[n.severity]
    rows = "".join(
        f'<tr><td style="padding:2px 12px 2px 0;color:#555">{escape(k)}</td>'
        f"<td><strong>{escape(v)}</strong></td></tr>"
        for k, v in facts(n)
    )
    body = [
        f'<div style="border-left:6px solid {bar};padding:8px 16px;font-family:sans-serif">',
        f'<h2 style="margin:0 0 8px">{escape(headline(n))}</h2>',
        f"<p>{escape(n.summary)}</p>",
        f"<table>{rows}</table>",
    ]
    for section in sections(n):
        items = "".join(f"<li>{escape(line)}</li>" for line in section.lines)
        body.append(f'<h3 style="margin:16px 0 4px">{escape(section.title)}</h3><ul>{items}</ul>')
    if n.link:
        body.append(f'<p><a href="{escape(n.link, quote=True)}">Open in the dashboard</a></p>')
    body.append(
        f'<p style="color:#888;font-size:12px">Sent by deliverwatch at '
        f"{n.created_at:%Y-%m-%d %H:%M} UTC · id {escape(n.id)}</p></div>"
    )
    return "<!doctype html><html><body>" + "".join(body) + "</body></html>"


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (services reject longer fields)."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


__all__ = [
    "Section",
    "facts",
    "headline",
    "html",
    "mark",
    "member_line",
    "plain_text",
    "sections",
    "status",
    "truncate",
]
