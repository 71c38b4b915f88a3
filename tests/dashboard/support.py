"""Traffic for the dashboard tests: the same records are stored directly (views tests) or
posted to the real webhook endpoint (browser tests), and DMARC aggregate reports written as
XML files and imported through the real importer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from deliverwatch.dmarc.importer import import_paths
from deliverwatch.events.classify import classify
from deliverwatch.events.mailbox import mailbox_provider
from deliverwatch.events.model import Event, EventType

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
MAILBOXES = ("gmail.com", "yahoo.com", "outlook.com")


@dataclass(frozen=True, slots=True)
class Profile:
    """A domain's daily traffic: ``per_day`` messages, every ``bounce_every``-th bounces
    hard, every ``complaint_every``-th delivered one is reported as spam."""

    domain: str
    per_day: int = 150
    bounce_every: int = 50
    complaint_every: int = 0
    defer_every: int = 20


#: shop.test is healthy; news.test has a complaint problem; billing.test bounces a lot.
PROFILES = (
    Profile("shop.test"),
    Profile("news.test", complaint_every=40),
    Profile("billing.test", bounce_every=8),
)


def records(profile: Profile, now: datetime = NOW, days: int = 10) -> Iterator[dict[str, Any]]:
    """Generic-provider records (docs/providers.md) of ``days`` days up to ``now``."""
    start = now - timedelta(days=days)
    step = timedelta(days=1) / profile.per_day
    for n in range(days * profile.per_day):
        at = start + step * n
        mailbox = MAILBOXES[n % len(MAILBOXES)]
        base = {
            "recipient": f"user{n}@{mailbox}",
            "sending_domain": profile.domain,
            "message_id": f"<{n}@{profile.domain}>",
        }
        kinds: list[tuple[str, int, dict[str, str]]] = [("sent", 0, {})]
        if profile.defer_every and n % profile.defer_every == 1:
            kinds.append(("deferred", 30, {"smtp_status": "4.7.0", "diagnostic": "421 later"}))
        if profile.bounce_every and n % profile.bounce_every == 0:
            kinds.append(("bounced", 60, {"smtp_status": "5.1.1", "diagnostic": "550 no user"}))
        else:
            kinds.append(("delivered", 60, {}))
            if n % 7 in (0, 3):
                kinds.append(("opened", 600, {}))
            if n % 10 == 0:
                kinds.append(("clicked", 700, {}))
            if profile.complaint_every and n % profile.complaint_every == 3:
                kinds.append(("complained", 3600, {}))
        for kind, seconds, extra in kinds:
            yield {
                **base,
                "event_id": f"{profile.domain}-{n}-{kind}",
                "type": kind,
                "timestamp": (at + timedelta(seconds=seconds)).isoformat(),
                **extra,
            }


def to_event(item: dict[str, Any]) -> Event:
    """A record as the generic provider would normalize it."""
    recipient = item["recipient"]
    domain = recipient.rsplit("@", 1)[1]
    kind = EventType(item["type"])
    bounce = None
    if kind in (EventType.BOUNCED, EventType.DEFERRED):
        bounce = classify(kind, item.get("smtp_status"), item.get("diagnostic"))
    return Event(
        event_id=item["event_id"],
        provider="generic",
        type=kind,
        timestamp=datetime.fromisoformat(item["timestamp"]),
        recipient=recipient,
        recipient_domain=domain,
        mailbox_provider=mailbox_provider(domain),
        sending_domain=item["sending_domain"],
        message_id=item["message_id"],
        bounce_class=bounce,
        smtp_status=item.get("smtp_status"),
        diagnostic=item.get("diagnostic"),
    )


def aggregate_report(
    domain: str,
    day: datetime,
    rows: list[tuple[str, int, bool]],
    *,
    org: str = "google.com",
    report_id: str | None = None,
) -> str:
    """An aggregate report of one UTC day: (source IP, messages, passes DMARC) rows."""
    begin = int(day.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
    records = "".join(
        f"""  <record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated><disposition>none</disposition>
        <dkim>{"pass" if passes else "fail"}</dkim><spf>{"pass" if passes else "fail"}</spf>
      </policy_evaluated>
    </row>
    <identifiers><header_from>{domain}</header_from></identifiers>
    <auth_results><spf><domain>{domain}</domain>
      <result>{"pass" if passes else "fail"}</result></spf></auth_results>
  </record>
"""
        for ip, count, passes in rows
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>{org}</org_name>
    <email>noreply-dmarc@{org}</email>
    <report_id>{report_id or f"{domain}-{begin}"}</report_id>
    <date_range><begin>{begin}</begin><end>{begin + 86399}</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>none</p><sp>none</sp><pct>100</pct>
  </policy_published>
{records}</feedback>
"""


def import_dmarc(engine: Engine, folder: Path, domain: str, now: datetime = NOW) -> int:
    """A week of reports for ``domain``: a legitimate ESP and a spoofing IP; returns the
    number imported."""
    folder.mkdir(parents=True, exist_ok=True)
    for back in range(7):
        day = now - timedelta(days=back + 1)
        rows = [("192.0.2.10", 900 + back * 10, True), ("192.0.2.10", 5, False)]
        rows.append(("198.51.100.7", 40 + back, False))
        name = folder / f"{domain}-{back}.xml"
        name.write_text(aggregate_report(domain, day, rows))
    outcomes = list(import_paths(engine, [folder]))
    assert all(o.status == "imported" for o in outcomes), [o.to_dict() for o in outcomes]
    return len(outcomes)
