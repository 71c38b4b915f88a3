"""File ingest against the floor, side by side in one run; and memory on a big file.

The issue's target: "File ingest: at least 40% of the throughput of the floor — a bare
``executemany`` of the same events' main fields into SQLite in one transaction, JSON parsing
included — measured side by side in one run", and "Memory stays flat while ingesting a 1 GB
file".

Two realistic files are generated (message lifecycles: ~70% processed/sent and delivered,
opens and clicks, a few % deferrals and bounces with real-looking SMTP diagnostics — each with
per-message tokens such as Gmail's queue ids, as receivers write them — 0.1% complaints, some
drops and unsubscribes; ~2 recipient domains in 5 are business domains from a long tail). The
messages are spread over ``--days`` (1) and their events written as they happen, as a log of
webhook bodies has them: in time order give or take a batch, opens hours after the send:

* ``sendgrid``: SendGrid Event Webhook bodies, a JSON array of 50–500 events per line (a log
  of webhook bodies), every field SendGrid sends (``sg_event_id``, ``smtp-id``, ``category``,
  ``useragent``, ``tls``, ``marketing_campaign_*``, custom arguments, …);
* ``generic``: JSON lines named like ``Event`` with ISO timestamps and *no* ``event_id`` (an
  MTA log export: the id is a hash of the record, the expensive case).

For each file, interleaved (so a busy machine slows all alike), ``--rounds`` times; the best
of each is reported, with the median of the per-round ratios, in wall time and in CPU time
(this process's, or the child's from ``wait4``: less sensitive to other load, but blind to the
floor's fsync wait):

* the floor, exactly as the issue defines it: read the file, ``json.loads`` each line, and
  ``executemany`` a tuple of the ten main fields as the item spells them (``item.get``, nothing
  derived) into a fresh SQLite file (WAL, ``synchronous=FULL``, a table without indexes) in one
  transaction;
* ``iter_file`` + ``insert_events`` in one ``begin_write`` transaction on a migrated store:
  the ``deliverwatch ingest`` code path in-process (unique index, rollups at three
  granularities, unique-open markers, suppressions, the raw payload kept);
* ``store.bulk.insert_file`` with two reader processes (``readers=2``): the file read, parsed
  and made into rows in two child processes (a half each) while this one stores them, as the
  CLI does for files of 4 MB or more (CPU time: this process's only);
* ``python -m deliverwatch ingest --provider NAME FILE`` in a subprocess, wall time including
  interpreter start, imports and opening the (already migrated) store: the headline (CPU
  time: the CLI's and its readers').

Then memory: SendGrid files of two sizes (``--mem-mb``, ×4 for the second; ``--big``: 256 MB
and 1 GB) are written to disk in a stream and ingested by the CLI in a subprocess each; the
peak RSS of each CLI process (its VmHWM) and of its largest reader process are compared.
Flat: they do not grow with the file.

    .venv/bin/python bench/ingest_file.py                  # 200k events, 64 + 256 MB memory
    .venv/bin/python bench/ingest_file.py --big            # memory with 256 MB + 1 GB
    .venv/bin/python bench/ingest_file.py --events 50000 --rounds 1 --mem-mb 0   # quick
"""

from __future__ import annotations

import argparse
import compileall
import gc
import heapq
import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import deliverwatch
from deliverwatch import native
from deliverwatch.events.providers import get_provider
from deliverwatch.events.providers.base import SourceSettings
from deliverwatch.store import begin_write, insert_events, open_store

START = datetime(2025, 3, 3, tzinfo=UTC)
SENDING_DOMAIN = "mail.shop.example"
FORMATS = ("sendgrid", "generic")

#: Recipient domains and their weights; the rest is a long tail of business domains.
CONSUMER = {
    "gmail.com": 30,
    "yahoo.com": 8,
    "hotmail.com": 6,
    "outlook.com": 6,
    "icloud.com": 5,
    "aol.com": 2,
    "live.com": 1,
    "comcast.net": 1,
    "gmx.de": 1,
    "web.de": 1,
    "yahoo.co.uk": 1,
    "orange.fr": 1,
}
BUSINESS_SHARE = 0.37
BUSINESS_DOMAINS = 20_000
WORDS = [
    "acme",
    "nova",
    "blue",
    "river",
    "peak",
    "north",
    "delta",
    "summit",
    "bright",
    "atlas",
    "cedar",
    "maple",
    "orbit",
    "pixel",
]
FIRST = [
    "ana",
    "bo",
    "cy",
    "dee",
    "eli",
    "fay",
    "gus",
    "hal",
    "ivy",
    "jo",
    "kim",
    "lee",
    "max",
    "ned",
    "oli",
    "pat",
    "quinn",
    "rae",
    "sam",
    "tom",
]
CAMPAIGNS = ["spring-sale", "weekly-digest", "onboarding", "winback", "product-update"]

#: (weight, status, reason template, SendGrid type, bounce_classification). ``{id}`` is a
#: per-message token (Gmail queue id, Microsoft host and date), as receivers write them.
BOUNCES = [
    (
        30,
        "5.1.1",
        "550 5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces. For "
        "more information, go to https://support.google.com/mail/?p=NoSuchUser {id} - gsmtp",
        "bounce",
        "Invalid Address",
    ),
    (
        10,
        "5.0.0",
        "554 delivery error: dd This user doesn't have a yahoo.com account ({rcpt}) [0] - "
        "mta{n}.mail.gq1.yahoo.com",
        "bounce",
        "Invalid Address",
    ),
    (
        10,
        "5.5.0",
        "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). "
        "[{id}.eurprd04.prod.outlook.com 2025-03-04T10:11:12.000Z 08DC3A1B2C3D4E5F]",
        "bounce",
        "Invalid Address",
    ),
    (
        10,
        "5.1.1",
        "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table",
        "bounce",
        "Invalid Address",
    ),
    (
        8,
        "5.2.2",
        "552 5.2.2 The recipient's inbox is out of storage space. Please direct the recipient "
        "to https://support.google.com/mail/?p=OverQuotaPerm {id} - gsmtp",
        "bounce",
        "Mailbox Unavailable",
    ),
    (
        8,
        "5.7.1",
        "550 5.7.1 Service unavailable, Client host [198.51.100.{n}] blocked using Spamhaus. "
        "To request removal from this list see https://www.spamhaus.org/query/ip/198.51.100.{n}"
        " (AS3130). [{id}.eop-EUR03.prod.protection.outlook.com 2025-03-04T10:11:12.000Z]",
        "blocked",
        "Reputation",
    ),
    (
        8,
        "5.7.26",
        "550-5.7.26 This mail is unauthenticated, which poses a security risk to the sender "
        "and Gmail users, and has been blocked. The sender must authenticate with at least one "
        "of SPF or DKIM. For this message, DKIM checks did not pass and SPF check for "
        "[shop.example] did not pass with ip: [198.51.100.{n}]. {id} - gsmtp",
        "blocked",
        "Content",
    ),
    (
        6,
        "5.7.1",
        "554 5.7.1 [TS03] All messages from 198.51.100.{n} will be permanently deferred; "
        "Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes",
        "blocked",
        "Reputation",
    ),
    (
        5,
        "5.4.4",
        "550 5.4.4 Host or domain name not found. Name service error for name=acme{n}.com "
        "type=MX: Host not found",
        "bounce",
        "Invalid Address",
    ),
    (
        5,
        "5.0.0",
        "550 Message rejected because it was identified as spam ({id})",
        "blocked",
        "Content",
    ),
]
DEFERRALS = [
    (
        "4.7.0",
        "421 4.7.0 [TSS04] Messages from 198.51.100.{n} temporarily deferred due to "
        "unexpected volume or user complaints - 4.16.55.1; see "
        "https://postmaster.yahooinc.com/error-codes",
    ),
    (
        "4.7.28",
        "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from "
        "your SPF domain [shop.example 20]. To protect our users from spam, mail sent from "
        "your domain has been temporarily rate limited. {id} - gsmtp",
    ),
    ("4.2.1", "450 4.2.1 The user you are trying to contact is receiving mail too quickly {id}"),
    ("4.4.2", "421 4.4.2 Connection dropped due to timeout"),
    ("4.7.1", "451 4.7.1 Greylisting in action, please come back later"),
]
SG_DELIVERED = {
    "gmail.com": "250 2.0.0 OK  {t} {id} - gsmtp",
    "yahoo.com": "250 ok dirdel",
    "outlook.com": "250 2.6.0 <{mid}> [InternalId={n}, Hostname={id}.prod.outlook.com] "
    "Queued mail for delivery",
}
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
]

# One lifecycle step: (kind, seconds after the send, details).
Step = tuple[str, int, dict[str, Any]]


class Lifecycles:
    """Messages and their events, in the proportions of a real sending stream."""

    def __init__(self, seed: int, recipients: int) -> None:
        self.rng = random.Random(seed)
        self.recipients = max(recipients, 1000)
        self.consumer = list(CONSUMER)
        self.weights = list(CONSUMER.values())
        self.message = 0
        self.bounce_weights = [b[0] for b in BOUNCES]

    def token(self) -> str:
        return f"{self.rng.getrandbits(64):016x}{self.rng.getrandbits(24):06x}si"

    def recipient(self) -> str:
        rng = self.rng
        if rng.random() < BUSINESS_SHARE:
            n = rng.randrange(BUSINESS_DOMAINS)
            domain = f"{WORDS[n % len(WORDS)]}{n}.com"
        else:
            domain = rng.choices(self.consumer, self.weights)[0]
        who = rng.randrange(self.recipients)
        return f"{FIRST[who % len(FIRST)]}.{who}@{domain}"

    def fill(self, template: str, recipient: str) -> str:
        return template.format(
            id=self.token(), rcpt=recipient, n=self.rng.randrange(1, 250), t=0, mid=""
        )

    def messages(self) -> Iterator[tuple[int, str, datetime, list[Step]]]:
        """(message number, recipient, send time, steps) forever."""
        rng = self.rng
        while True:
            self.message += 1
            recipient = self.recipient()
            sent = START + timedelta(seconds=rng.randrange(7 * 86400))
            steps: list[Step] = [("processed", 0, {})]
            if rng.random() < 0.04:
                status, text = rng.choice(DEFERRALS)
                steps.append(("deferred", 60, {"status": status, "text": self.fill(text, "")}))
            roll = rng.random()
            if roll < 0.05:
                _, status, text, sg_type, label = rng.choices(BOUNCES, self.bounce_weights)[0]
                details = {
                    "status": status,
                    "text": self.fill(text, recipient),
                    "sg_type": sg_type,
                    "label": label,
                }
                steps.append(("bounce", 90, details))
            elif roll < 0.058:
                reason = rng.choice(["Bounced Address", "Unsubscribed Address", "Invalid"])
                steps.append(("dropped", 1, {"status": "5.0.0", "text": reason}))
            else:
                steps.append(("delivered", 4, {}))
                if rng.random() < 0.3:
                    for n in range(rng.randint(1, 3)):
                        steps.append(("open", 600 + 5400 * n + rng.randrange(600), {}))
                    if rng.random() < 0.17:
                        steps.append(("click", 700 + rng.randrange(600), {}))
                if rng.random() < 0.0026:
                    steps.append(("spamreport", 7200, {}))
                if rng.random() < 0.004:
                    steps.append(("unsubscribe", 7300, {}))
            yield self.message, recipient, sent, steps


GENERIC_TYPES = {
    "processed": "sent",
    "deferred": "deferred",
    "bounce": "bounced",
    "dropped": "dropped",
    "delivered": "delivered",
    "open": "opened",
    "click": "clicked",
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
}


def sendgrid_item(
    life: Lifecycles, number: int, recipient: str, at: datetime, kind: str, info: dict[str, Any]
) -> dict[str, Any]:
    rng = life.rng
    sg_id = f"{number:x}.{life.token()[:8]}"
    campaign = CAMPAIGNS[number % len(CAMPAIGNS)]
    item: dict[str, Any] = {
        "email": recipient,
        "timestamp": int(at.timestamp()),
        "smtp-id": f"<{sg_id}@ismtpd0001p1lon1.sendgrid.net>",
        "event": kind,
        "category": ["newsletter", campaign] if number % 3 else "newsletter",
        "sg_event_id": f"{life.token()}{rng.getrandbits(40):010x}",
        "sg_message_id": f"{sg_id}.filter0001.{number % 99991}.65E1A2B3.0",
        "marketing_campaign_id": 1000 + number % len(CAMPAIGNS),
        "marketing_campaign_name": campaign,
        "user_id": str(number % 50_000),
        "tenant": "shop",
    }
    domain = recipient.rpartition("@")[2]
    if kind == "delivered":
        template = SG_DELIVERED.get(domain, "250 2.0.0 Ok: queued as {id}")
        item["response"] = template.format(
            t=int(at.timestamp()), id=life.token(), mid=item["smtp-id"][1:-1], n=number
        )
        item["ip"] = "198.51.100.7"
        item["tls"] = 1
    elif kind == "deferred":
        item.update(response=info["text"], attempt="1", ip="198.51.100.7", tls=1)
    elif kind == "bounce":
        item.update(
            reason=info["text"],
            status=info["status"],
            type=info["sg_type"],
            bounce_classification=info["label"],
            ip="198.51.100.7",
            tls=1,
        )
    elif kind == "dropped":
        item.update(reason=info["text"], status=info["status"])
    elif kind in ("open", "click"):
        item["useragent"] = rng.choice(USER_AGENTS)
        item["ip"] = f"203.0.113.{rng.randrange(1, 255)}"
        item["sg_machine_open"] = kind == "open" and rng.random() < 0.4
        if kind == "click":
            item["url"] = f"https://shop.example/{campaign}?utm_source=email&u={number}"
            item["url_offset"] = {"index": rng.randrange(4), "type": "html"}
    elif kind == "unsubscribe":
        item["asm_group_id"] = 42
    return item


def generic_item(
    life: Lifecycles, number: int, recipient: str, at: datetime, kind: str, info: dict[str, Any]
) -> dict[str, Any]:
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    item: dict[str, Any] = {
        "type": GENERIC_TYPES[kind],
        "timestamp": stamp,
        "recipient": recipient,
        "message_id": f"<{number:x}.{number % 977}@{SENDING_DOMAIN}>",
        "sending_domain": SENDING_DOMAIN,
        "campaign": CAMPAIGNS[number % len(CAMPAIGNS)],
        "tags": ["newsletter", CAMPAIGNS[number % len(CAMPAIGNS)]],
    }
    if kind in ("deferred", "bounce", "dropped"):
        item["smtp_status"] = info["status"]
        item["diagnostic"] = info["text"]
    if kind == "delivered":
        item["smtp_status"] = "250"
        item["diagnostic"] = f"250 2.0.0 Ok: queued as {life.token()[:12].upper()}"
    if kind in ("processed", "delivered", "deferred", "bounce"):
        item["ip"] = "198.51.100.7"
    elif kind in ("open", "click"):
        item["user_agent"] = life.rng.choice(USER_AGENTS)
    return item


def generate(
    path: Path, fmt: str, *, events: int = 0, size: int = 0, days: float = 1.0, seed: int = 7
) -> int:
    """Write ``events`` events (or ``size`` bytes' worth) of format ``fmt`` to ``path`` as a
    stream, spread over ``days``; returns the number of events.

    Messages are sent at a steady rate and their events written when they happen, as a log of
    webhook bodies has them: in time order, SendGrid's in arrays of 50–500 events whose order
    is shuffled (so are generic lines, a few at a time), opens and clicks hours after the send.
    """
    expected = events or size // (460 if fmt == "sendgrid" else 330)
    life = Lifecycles(seed, recipients=expected // 3)
    make = sendgrid_item if fmt == "sendgrid" else generic_item
    per_message = 2.6  # events per message, on average (see Lifecycles)
    step = days * 86400 / max(expected / per_message, 1)  # seconds between two sends
    written = 0
    order = 0
    due: list[tuple[datetime, int, str]] = []  # (when, tie-breaker, item JSON): a heap
    ready: list[str] = []  # happened, not yet posted
    done = False
    with path.open("w", encoding="utf-8") as out:
        for number, recipient, _, steps in life.messages():
            now = START + timedelta(seconds=number * step)
            if not done:
                for kind, offset, info in steps:
                    at = now + timedelta(seconds=offset, milliseconds=life.rng.randrange(1000))
                    item = make(life, number, recipient, at, kind, info)
                    order += 1
                    text = json.dumps(item, separators=(",", ":") if fmt == "sendgrid" else None)
                    heapq.heappush(due, (at, order, text))
            while due and (done or due[0][0] <= now):
                ready.append(heapq.heappop(due)[2])
            while ready:
                if fmt == "sendgrid":
                    batch = ready[: life.rng.randint(50, 500)]
                    if len(batch) < 50 and not done:
                        break  # a webhook post waits for a fuller batch
                    life.rng.shuffle(batch)
                    out.write("[" + ",".join(batch) + "]\n")  # compact, as SendGrid posts
                else:
                    batch = ready[:8]
                    life.rng.shuffle(batch)
                    out.write("".join(line + "\n" for line in batch))
                del ready[: len(batch)]
                written += len(batch)
            if done and not due and not ready:
                break
            done = done or bool((events and written >= events) or (size and out.tell() >= size))
    return written


#: The ten main fields as each format's items spell them (the floor reads no other).
MAIN_FIELDS = {
    "sendgrid": (
        "sg_event_id",
        "provider",
        "event",
        "timestamp",
        "email",
        "recipient_domain",
        "mailbox_provider",
        "sending_domain",
        "sg_message_id",
        "bounce_classification",
    ),
    "generic": (
        "event_id",
        "provider",
        "type",
        "timestamp",
        "recipient",
        "recipient_domain",
        "mailbox_provider",
        "sending_domain",
        "message_id",
        "bounce_class",
    ),
}


def floor_rows(path: Path, fmt: str) -> Iterator[tuple[Any, ...]]:
    fields = MAIN_FIELDS[fmt]
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            value = json.loads(line)
            for item in value if isinstance(value, list) else [value]:
                yield tuple([item.get(name) for name in fields])


def floor_run(path: Path, fmt: str, db: Path) -> tuple[float, float]:
    """The issue's floor: JSON parsing + one bare executemany of the main fields; (wall, CPU)
    seconds."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"CREATE TABLE events ({', '.join(MAIN_FIELDS['generic'])})")
    insert = f"INSERT INTO events VALUES ({', '.join('?' * len(MAIN_FIELDS[fmt]))})"
    started, cpu = time.perf_counter(), time.process_time()
    conn.execute("BEGIN")
    conn.executemany(insert, floor_rows(path, fmt))
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started, time.process_time() - cpu
    conn.close()
    return elapsed


def source_for(fmt: str) -> SourceSettings:
    return SourceSettings(name=f"file:{fmt}", provider=fmt, sending_domain=SENDING_DOMAIN)


def timed(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result) of ``run()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def fresh_store(db: Path) -> str:
    url = f"sqlite:///{db}"
    open_store(url).dispose()  # migrations are not part of an ingest
    return url


def inprocess_run(
    path: Path, fmt: str, db: Path, readers: int = 0
) -> tuple[float, float, dict[str, int]]:
    """What ``deliverwatch ingest`` does per file, in this process, reading the file here
    (``readers=0``: ``iter_file`` + ``insert_events``) or in reader processes
    (``store.bulk.insert_file``, as the CLI does for big files): (wall, CPU, result)."""
    from deliverwatch.store.bulk import insert_file

    engine = open_store(fresh_store(db))
    provider, source = get_provider(fmt), source_for(fmt)

    def ingest() -> dict[str, int]:
        with begin_write(engine) as conn:
            if readers:
                return insert_file(conn, fmt, source, path, readers=readers).to_dict()
            with path.open("rb") as stream:
                return insert_events(conn, provider.iter_file(stream, source)).to_dict()

    try:
        return timed(ingest)
    finally:
        engine.dispose()


def parts_run(path: Path, fmt: str, db: Path) -> dict[str, tuple[float, float]]:
    """Where the time goes, for reference: (wall, CPU) of parsing alone, of building the
    events (``iter_file``), of ``insert_events`` on events built beforehand, and of the bare
    storage (an executemany of the finished rows into the events table, unique index and raw
    payload included, and the commit: what no Python change can remove)."""
    # Internals, imported here: the rest of this benchmark runs on older versions too.
    from deliverwatch.events.providers.jsonstream import iter_chunks, iter_json_items
    from deliverwatch.store.engine import driver_executemany
    from deliverwatch.store.events import EVENT_COLUMNS, EventWriter

    provider, source = get_provider(fmt), source_for(fmt)

    def parse() -> None:
        with path.open("rb") as stream:
            for _ in iter_json_items(iter_chunks(stream)):
                pass

    def build() -> None:
        with path.open("rb") as stream:
            for _ in provider.iter_file(stream, source):
                pass

    out = {"parse": timed(parse)[:2], "build": timed(build)[:2]}
    with path.open("rb") as stream:
        built = list(provider.iter_file(stream, source))
    # Out of the collector's sight while timed, as streamed events are (see store/events.py):
    # 200,000 live events traversed by every full collection would be timed too.
    gc.freeze()
    engine = open_store(fresh_store(db))
    try:
        with begin_write(engine) as conn:  # the finished rows, made outside the timing
            rows = EventWriter(conn).rows.prepare(built).rows
        for leftover in db.parent.glob(f"{db.name}*"):
            leftover.unlink()
        engine.dispose()
        engine = open_store(fresh_store(db))

        def bare() -> None:
            with begin_write(engine) as conn:
                driver_executemany(conn, EventWriter(conn).insert, EVENT_COLUMNS, rows)

        out["storage"] = timed(bare)[:2]
        for leftover in db.parent.glob(f"{db.name}*"):
            leftover.unlink()
        engine.dispose()
        engine = open_store(fresh_store(db))

        def insert() -> None:
            with begin_write(engine) as conn:
                insert_events(conn, built)

        out["insert"] = timed(insert)[:2]
    finally:
        engine.dispose()
        gc.unfreeze()
    return out


# The CLI, run so that it reports its own peak RSS as it exits: VmHWM of its own address space.
# (wait4's ru_maxrss is no good here: it starts from this process's size at the fork.) And the
# largest peak RSS of its reader processes (they are not forks: their ru_maxrss is their own).
_CLI = """
import atexit, resource, sys

def peak():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                sys.stderr.write("PEAK_RSS_KIB " + line.split()[1] + "\\n")
    readers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sys.stderr.write("READER_PEAK_KIB " + str(readers) + "\\n")

atexit.register(peak)
sys.argv[0] = "deliverwatch"
from deliverwatch.cli import main
main()
"""


def cli_command(path: Path, fmt: str) -> list[str]:
    """``python -m deliverwatch ingest --provider FMT FILE``, as ``_CLI`` runs it."""
    return [
        *(sys.executable, "-c", _CLI, "ingest"),
        *("--provider", fmt, "--domain", SENDING_DOMAIN, "--format", "json", str(path)),
    ]


def run_cli(
    path: Path, fmt: str, db: Path, cwd: Path
) -> tuple[float, float, tuple[int, int], dict[str, Any]]:
    """The CLI in a subprocess: (wall, CPU seconds (``wait4``: with its readers'), peak RSS KiB
    of the CLI and of its largest reader, its result)."""
    env = {**os.environ, "DELIVERWATCH_DATABASE_URL": f"sqlite:///{db}"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(cli_command(path, fmt), cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        errors = err.read().decode()
        if child.returncode != 0:
            raise RuntimeError(f"ingest failed ({child.returncode}): {errors[-2000:]}")
        peak = int(errors.rpartition("PEAK_RSS_KIB ")[2].split()[0])
        reader = int(errors.rpartition("READER_PEAK_KIB ")[2].split()[0])
        cpu = usage.ru_utime + usage.ru_stime
        return elapsed, cpu, (peak, reader), json.loads(out.read())[0]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; {native.describe()}"
    )


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def mix(path: Path, fmt: str) -> str:
    kinds: Counter[str] = Counter()
    key = "event" if fmt == "sendgrid" else "type"
    for _, _, kind in _peek(path, key):
        kinds[kind] += 1
    total = sum(kinds.values())
    return ", ".join(f"{kind} {n / total:.1%}" for kind, n in kinds.most_common())


def _peek(path: Path, key: str) -> Iterator[tuple[int, int, str]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            value = json.loads(line)
            for index, item in enumerate(value if isinstance(value, list) else [value]):
                yield number, index, item[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events per format")
    parser.add_argument("--days", type=float, default=1.0, help="days the events span")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, interleaved")
    parser.add_argument(
        "--mem-mb", type=int, default=64, help="smaller memory-check file (MB; 0: skip)"
    )
    parser.add_argument("--big", action="store_true", help="memory check with 256 MB and 1 GB")
    parser.add_argument("--formats", default=",".join(FORMATS), help="sendgrid,generic")
    parser.add_argument("--tmp", type=Path, default=None, help="work directory (default: /tmp)")
    parser.add_argument(
        "--no-parts",
        dest="parts",
        action="store_false",
        help="skip the breakdown (it uses internals of this version)",
    )
    args = parser.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    # The package as installed: with its modules' bytecode cached, which the CLI and each
    # reader would otherwise compile from source as they start (0.1 s each) where Python runs
    # with PYTHONDONTWRITEBYTECODE set, as it does here. (A wheel's install compiles them.)
    compileall.compile_dir(str(Path(deliverwatch.__file__).parent), quiet=1)
    print(machine())
    print(f"load average at start: {loadavg()}")
    with tempfile.TemporaryDirectory(prefix="dw-ingest-", dir=args.tmp) as tmp:
        root = Path(tmp)
        files = {}
        for fmt in formats:
            path = root / f"{fmt}.json"
            count = generate(path, fmt, events=args.events, days=args.days)
            files[fmt] = (path, count)
            size = path.stat().st_size
            print(f"{fmt}: {count:,} events, {size / 1e6:.1f} MB ({size / count:.0f} B/event)")
            print(f"  mix: {mix(path, fmt)}")
        # (wall, cpu) per run, per format and path
        runs: dict[str, dict[str, list[tuple[float, float]]]] = {
            f: {"floor": [], "inproc": [], "bulk": [], "cli": []} for f in formats
        }
        stored: dict[str, Any] = {}
        rss: dict[str, int] = {}
        for i in range(args.rounds):
            for fmt in formats:
                path, count = files[fmt]
                runs[fmt]["floor"].append(floor_run(path, fmt, root / f"floor-{fmt}{i}.db"))
                wall, cpu, stored[fmt] = inprocess_run(path, fmt, root / f"in-{fmt}{i}.db")
                runs[fmt]["inproc"].append((wall, cpu))
                wall, cpu, bulk = inprocess_run(path, fmt, root / f"in-{fmt}{i}b.db", 2)
                runs[fmt]["bulk"].append((wall, cpu))
                assert bulk == stored[fmt], (bulk, stored[fmt])
                db = root / f"cli-{fmt}{i}.db"
                fresh_store(db)
                wall, cpu, (peak, _), outcome = run_cli(path, fmt, db, root)
                runs[fmt]["cli"].append((wall, cpu))
                rss[fmt] = max(rss.get(fmt, 0), peak)
                assert outcome["inserted"] == stored[fmt]["inserted"], (outcome, stored[fmt])
                for name in ("floor", "in", "cli"):
                    for leftover in root.glob(f"{name}-{fmt}{i}*.db*"):
                        leftover.unlink()
        parts: dict[str, dict[str, tuple[float, float]]] = {}
        for i in range(args.rounds if args.parts else 0):
            for fmt in formats:
                found = parts_run(files[fmt][0], fmt, root / f"parts-{fmt}{i}.db")
                for name, (wall, cpu) in found.items():
                    old = parts.setdefault(fmt, {}).get(name, (float("inf"), float("inf")))
                    parts[fmt][name] = (min(old[0], wall), min(old[1], cpu))
                for leftover in root.glob(f"parts-{fmt}{i}.db*"):
                    leftover.unlink()
        print(f"load average after the throughput runs: {loadavg()}")
        print(
            f"\nthroughput: best of {args.rounds} interleaved runs, events/s; ratio to the floor:"
            " best/best, and the median of the per-run ratios"
        )
        for fmt in formats:
            _, count = files[fmt]
            print(f"{fmt}: {stored[fmt]}, CLI peak RSS {rss[fmt] / 1024:.0f} MB")
            floor = runs[fmt]["floor"]
            for name, label in (
                ("floor", "floor (json.loads + bare executemany)"),
                ("inproc", "iter_file + insert_events, in-process"),
                ("bulk", "insert_file, two reader processes"),
                ("cli", "deliverwatch ingest, subprocess"),
            ):
                line = f"  {label:38s}"
                for k, unit in ((0, "wall"), (1, "CPU")):
                    best = min(run[k] for run in runs[fmt][name])
                    line += f"  {unit} {count / best:>8,.0f}/s"
                    if name != "floor":
                        ratios = sorted(
                            f[k] / r[k] for f, r in zip(floor, runs[fmt][name], strict=True)
                        )
                        median = ratios[len(ratios) // 2]
                        ratio = min(f[k] for f in floor) / best
                        line += f" ({ratio:.0%}, median {median:.0%})"
                print(line)
            rounds = zip(*(runs[fmt][name] for name in ("floor", "cli")), strict=True)
            print(
                "  each round, wall events/s, floor / CLI (ratio): "
                + ", ".join(
                    f"{count / f[0]:,.0f} / {count / c[0]:,.0f} ({f[0] / c[0]:.0%})"
                    for f, c in rounds
                )
            )
            us = 1e6 / count
            if fmt not in parts:
                continue
            print(
                "  where the time goes, µs/event wall (CPU), best of the runs: "
                + ", ".join(
                    f"{label} {parts[fmt][name][0] * us:.1f} ({parts[fmt][name][1] * us:.1f})"
                    for name, label in (
                        ("parse", "parsing"),
                        ("build", "parsing + building the events"),
                        ("insert", "insert_events on built events"),
                        ("storage", "of which the bare storage of the rows + commit"),
                    )
                )
            )
        if args.mem_mb or args.big:
            sizes = (256, 1024) if args.big else (args.mem_mb, args.mem_mb * 4)
            print("\nmemory: deliverwatch ingest --provider sendgrid (subprocess, peak RSS)")
            for megabytes in sizes:
                path = root / f"big-{megabytes}.json"
                count = generate(
                    path, "sendgrid", size=megabytes << 20, days=args.days, seed=megabytes
                )
                db = root / f"big-{megabytes}.db"
                fresh_store(db)
                wall, _, (peak, reader), outcome = run_cli(path, "sendgrid", db, root)
                size = path.stat().st_size
                print(
                    f"  {size / 1e6:>7.0f} MB, {count:>9,} events: peak RSS {peak / 1024:6.1f} MB"
                    f" (a reader: {reader / 1024:.1f} MB),"
                    f" {count / wall:,.0f} events/s, {outcome['inserted']:,} stored, "
                    f"database {db.stat().st_size / 1e6:.0f} MB"
                )
                path.unlink()
                for leftover in root.glob(f"big-{megabytes}.db*"):
                    leftover.unlink()
        print(f"load average at the end: {loadavg()}")


if __name__ == "__main__":
    main()
