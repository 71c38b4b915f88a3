"""External scorers reported beside the built-in findings: SpamAssassin's spamd and rspamd.

spamd speaks the SPAMC/1.5 protocol over TCP (``spamd(8)``, "The SPAMC/SPAMD protocol"): a
request line such as ``REPORT SPAMC/1.5``, a ``Content-length`` header, a blank line and the
message; the answer is ``SPAMD/1.1 0 EX_OK``, a ``Spam: True ; 15.3 / 5.0`` header and, for
REPORT, the rule table (``pts rule name description``); for SYMBOLS, the rule names
comma-separated. rspamd takes the message as the body of ``POST /checkv2`` and answers JSON.

Neither is ever part of the lint score; failures are reported as ``{"error": ...}``.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any, Final

from deliverwatch.content.message import Message

MAX_RESPONSE: Final = 1_000_000
_SPAM_HEADER: Final = re.compile(
    r"^(True|False|Yes|No)\s*;\s*(-?\d+(?:\.\d+)?)\s*/\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE
)
_RULE_LINE: Final = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Za-z0-9_]+)\s*(.*)$")


class ScorerError(Exception):
    """The scorer could not be reached or answered something we cannot read."""


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    score: float | None = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "score": self.score, "description": self.description}


@dataclass(frozen=True, slots=True)
class ScorerResult:
    score: float
    threshold: float | None
    spam: bool
    symbols: list[Symbol] = field(default_factory=list)
    action: str | None = None  # rspamd's recommended action

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "score": self.score,
            "threshold": self.threshold,
            "spam": self.spam,
            "symbols": [s.to_dict() for s in self.symbols],
        }
        if self.action is not None:
            data["action"] = self.action
        return data


def parse_host_port(text: str, default_port: int = 783) -> tuple[str, int]:
    """``HOST:PORT``, ``HOST`` or ``[v6]:PORT``; raises ValueError."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else default_port
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    else:
        host, port = text, default_port
    if not host or not 0 < port < 65536:
        raise ValueError(f"not HOST:PORT: {text!r}")
    return host, port


def parse_report(body: str) -> list[Symbol]:
    """The rules of a spamd REPORT: the lines after the ``---- ----`` separator."""
    symbols: list[Symbol] = []
    table = False
    for line in body.splitlines():
        if re.match(r"^\s*-{3,}\s+-{3,}", line):
            table = True
            continue
        if not table or not line.strip():
            continue
        matched = _RULE_LINE.match(line)
        if matched:
            score, name, text = matched.groups()
            symbols.append(Symbol(name, float(score), text.strip()))
        elif symbols and line.startswith(" "):  # a wrapped description
            last = symbols[-1]
            symbols[-1] = Symbol(last.name, last.score, f"{last.description} {line.strip()}")
    return symbols


class SpamdClient:
    """One TCP connection per request, as spamd expects; ``timeout`` covers the whole exchange."""

    def __init__(self, host: str, port: int = 783, *, timeout: float = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    async def request(self, command: str, message: bytes) -> tuple[dict[str, str], str]:
        """Send ``command`` (REPORT, SYMBOLS, CHECK) with ``message``: (headers, body)."""
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                try:
                    writer.write(
                        f"{command} SPAMC/1.5\r\nContent-length: {len(message)}\r\n\r\n".encode()
                        + message
                    )
                    await writer.drain()
                    if writer.can_write_eof():
                        writer.write_eof()
                    data = await reader.read(MAX_RESPONSE + 1)
                    while data and len(data) <= MAX_RESPONSE:
                        more = await reader.read(MAX_RESPONSE + 1 - len(data))
                        if not more:
                            break
                        data += more
                finally:
                    writer.close()
        except TimeoutError:
            raise ScorerError(f"spamd {self.host}:{self.port}: timed out") from None
        except OSError as exc:
            raise ScorerError(f"spamd {self.host}:{self.port}: {exc.strerror or exc}") from None
        if len(data) > MAX_RESPONSE:
            raise ScorerError("spamd answer too large")
        return _parse_response(data)

    async def report(self, message: bytes) -> ScorerResult:
        headers, body = await self.request("REPORT", message)
        score, threshold, spam = _spam_header(headers)
        return ScorerResult(score, threshold, spam, parse_report(body))

    async def symbols(self, message: bytes) -> ScorerResult:
        headers, body = await self.request("SYMBOLS", message)
        score, threshold, spam = _spam_header(headers)
        names = [n.strip() for n in body.replace("\n", ",").split(",") if n.strip()]
        return ScorerResult(score, threshold, spam, [Symbol(n) for n in names])


def _parse_response(data: bytes) -> tuple[dict[str, str], str]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(None, 2)
    if len(status) < 2 or not status[0].startswith("SPAMD/"):
        raise ScorerError(f"not a spamd answer: {lines[0][:80]!r}")
    if status[1] != "0":
        raise ScorerError(f"spamd error: {' '.join(status[1:])[:120]}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, body.decode("utf-8", "replace")


def _spam_header(headers: dict[str, str]) -> tuple[float, float, bool]:
    matched = _SPAM_HEADER.match(headers.get("spam", ""))
    if matched is None:
        raise ScorerError(f"spamd answer without a Spam header: {headers.get('spam', '')!r}")
    flag, score, threshold = matched.groups()
    return float(score), float(threshold), flag.lower() in ("true", "yes")


async def rspamd_check(url: str, message: bytes, *, seconds: float = 30.0) -> ScorerResult:
    """POST the message to rspamd's ``/checkv2`` (appended when ``url`` has no path)."""
    import httpx  # here, not at the top: only ``--rspamd`` needs it (CLI start-up)

    target = httpx.URL(url)
    if target.path in ("", "/"):
        target = target.copy_with(path="/checkv2")
    try:
        async with httpx.AsyncClient(timeout=seconds, trust_env=False) as client:
            response = await client.post(target, content=message)
    except httpx.HTTPError as exc:
        raise ScorerError(f"rspamd {target}: {exc}") from None
    if response.status_code != 200:
        raise ScorerError(f"rspamd {target}: HTTP {response.status_code}")
    try:
        data = response.json()
        symbols = [
            Symbol(
                str(item.get("name", name)),
                float(item["score"]) if "score" in item else None,
                str(item.get("description", "")),
            )
            for name, item in dict(data.get("symbols") or {}).items()
        ]
        return ScorerResult(
            float(data["score"]),
            float(data["required_score"]) if "required_score" in data else None,
            str(data.get("action", "")) in ("reject", "add header", "rewrite subject"),
            sorted(symbols, key=lambda s: -(s.score or 0)),
            str(data.get("action")) if "action" in data else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ScorerError(f"rspamd {target}: unreadable answer ({exc})") from None


def message_bytes(message: Message) -> bytes:
    """What a scorer gets: a full message as read; a template built into a MIME message with
    its given headers (Content-* headers are set from the body)."""
    if message.kind == "message":
        return message.raw
    mime = EmailMessage(policy=policy.SMTP)
    for header in message.headers:
        name = header.name.lower()
        if name.startswith("content-") or name == "mime-version":
            continue
        try:
            mime[header.name] = header.value
        except (ValueError, TypeError, IndexError):
            continue  # a header the email package refuses: the scorer goes without it
    text = next((p.text for p in message.text_parts), None)
    html = next((p.text for p in message.html_parts), None)
    if html is not None and text is not None:
        mime.set_content(text)
        mime.add_alternative(html, subtype="html")
    elif html is not None:
        mime.set_content(html, subtype="html")
    else:
        mime.set_content(text or "")
    return mime.as_bytes()
