"""One placement run: build, send, search every seed concurrently, report — within the timeout.

The timeout covers the whole run. Checks get a deadline a little before it (:data:`RESERVE`)
so they stop by themselves; whatever is still running at the deadline is aborted (its
socket shut down) and reads ``missing`` — or ``error`` if it never got to log in.

Use::

    run = await run_placement(config.placement, message=path.read_bytes(), message_name=path.name)
    print(run.to_dict()["overall"]["inbox_rate"])
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import parseaddr

from deliverwatch.clock import Clock, SystemClock
from deliverwatch.placement.config import PlacementSettings, SeedConfig
from deliverwatch.placement.find import CheckOutcome, Cleanup, SeedCheck
from deliverwatch.placement.headers import (
    authentication_verdicts,
    spam_headers,
    spam_score,
)
from deliverwatch.placement.message import MessageError, build_message, for_recipient, new_token
from deliverwatch.placement.model import Placement, PlacementRun, SeedResult
from deliverwatch.placement.send import SendOutcome, send_to_seeds

log = logging.getLogger(__name__)

#: Seconds before the deadline at which checks stop by themselves (a share of short timeouts).
RESERVE = 0.5


class PlacementError(Exception):
    """The run cannot start (config incomplete, message unusable)."""


async def run_placement(
    settings: PlacementSettings,
    *,
    message: bytes | None = None,
    message_name: str = "",
    timeout: float | None = None,  # noqa: ASYNC109  (also bounds the IMAP worker threads)
    clock: Clock | None = None,
) -> PlacementRun:
    clock = clock or SystemClock()
    problems = settings.problems()
    if problems:
        raise PlacementError("; ".join(problems))
    assert settings.smtp is not None and settings.from_ is not None
    total = timeout if timeout is not None else settings.timeout
    if total <= 0:
        raise PlacementError("the timeout must be more than 0 seconds")
    begun = time.monotonic()
    deadline = begun + total
    reserve = min(RESERVE, total * 0.1)
    started_at = clock.now()

    token = new_token()
    envelope_from = parseaddr(settings.from_)[1]
    domain = envelope_from.rsplit("@", 1)[1]
    try:
        base = build_message(
            message, name=message_name, sender=settings.from_, subject=settings.subject, token=token
        )
        copies = [
            (s.address, for_recipient(base, s.address, domain=domain, dkim=settings.dkim))
            for s in settings.seeds
        ]
    except MessageError as exc:
        raise PlacementError(str(exc)) from None
    subject = str(base["Subject"] or "")

    cleanup = Cleanup(settings.cleanup, settings.cleanup_folder)
    checks = {
        seed.address: SeedCheck(
            seed,
            token,
            deadline=deadline - reserve,
            poll_interval=settings.poll_interval,
            cleanup=cleanup,
            ca_bundle=settings.ca_bundle,
        )
        for seed in settings.seeds
    }
    loop = asyncio.get_running_loop()
    workers = max(1, min(settings.concurrency, len(checks)))
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="placement-imap")
    futures = {
        address: asyncio.ensure_future(loop.run_in_executor(executor, check.run))
        for address, check in checks.items()
    }
    sent: dict[str, SendOutcome] = {}
    timed_out = False
    try:
        try:
            async with asyncio.timeout(max(0.0, deadline - reserve - time.monotonic())):
                sent = await send_to_seeds(
                    settings.smtp, envelope_from, copies, ca_bundle=settings.ca_bundle
                )
        except TimeoutError:
            timed_out = True
        for address, check in checks.items():
            outcome = sent.get(address)
            if outcome is None:
                outcome = SendOutcome(address, False, error="timed out before it was sent")
                sent[address] = outcome
            check.skip = not outcome.accepted
            check.sent.set()
        _, pending = await asyncio.wait(
            futures.values(), timeout=max(0.0, deadline - reserve / 2 - time.monotonic())
        )
        if pending:
            timed_out = True
            for check in checks.values():
                check.abort()
            await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
    finally:
        for check in checks.values():
            check.abort()
        executor.shutdown(wait=False, cancel_futures=True)

    results = []
    for seed in settings.seeds:
        future = futures[seed.address]
        checked = future.result() if future.done() and not future.cancelled() else None
        if checked is None and not checks[seed.address].started:
            checked = CheckOutcome(error="not checked before the timeout (placement.concurrency)")
        results.append(_result(seed, sent[seed.address], checked))
    # "missing" means searched for until the time was up
    timed_out = timed_out or any(r.placement == "missing" for r in results)
    for result in results:
        log.info(
            "placement %s %s (%s): %s%s",
            token,
            result.address,
            result.provider,
            result.placement,
            f" — {result.error}" if result.error else "",
        )
    return PlacementRun(
        token=token,
        started_at=started_at,
        finished_at=clock.now(),
        results=results,
        sender=settings.from_,
        subject=subject,
        timed_out=timed_out,
    )


def _result(seed: SeedConfig, sent: SendOutcome, check: CheckOutcome | None) -> SeedResult:
    base = (seed.address, seed.provider)
    if not sent.accepted:
        if sent.error:
            return SeedResult(*base, placement="error", error=sent.error)
        return SeedResult(
            *base, placement="rejected", smtp_code=sent.code, smtp_message=sent.message
        )
    if check is None:
        return SeedResult(*base, placement="missing", smtp_code=sent.code)
    if check.error:
        return SeedResult(*base, placement="error", smtp_code=sent.code, error=check.error)
    found = check.found
    if found is None:
        if not check.logged_in:
            return SeedResult(
                *base, placement="error", error="the mailbox was not reached before the timeout"
            )
        return SeedResult(*base, placement="missing", smtp_code=sent.code)
    values = [v for name, v in found.headers if name.lower() == "authentication-results"]
    spam = spam_headers(found.headers)
    placement: Placement = "spam" if found.kind == "spam" else ("tab" if found.tab else "inbox")
    seconds = None if sent.sent_at is None else max(0.0, found.found_at - sent.sent_at)
    return SeedResult(
        *base,
        placement=placement,
        folder=found.folder,
        tab=found.tab,
        seconds=seconds,
        smtp_code=sent.code,
        error=check.cleanup_error,
        authentication=authentication_verdicts(values),
        authentication_results=[" ".join(v.split()) for v in values],
        spam_headers=spam,
        spam_score=spam_score(spam),
    )
