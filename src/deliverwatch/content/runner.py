"""Lint many files: the per-file pipeline and its spread over worker processes (``--jobs``).

:func:`lint_files` runs in one process: built-in rules, the network checks the settings turn
on, and the external scorers, ``concurrency`` files at a time so network waits overlap.
:func:`lint_parallel` splits the files into chunks linted by worker processes, since the
rules are CPU-bound and one process uses one core. Reports always come back in input order,
and a file whose linting raises or kills its worker gets a ``lint.crashed`` report of its own;
the other files' reports are unaffected.

Heavy imports (httpx for link checks and rspamd) happen only when a run needs them, so a
plain ``deliverwatch lint`` starts quickly.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from math import ceil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from deliverwatch.content.findings import clip, finding
from deliverwatch.content.lint import Network, lint, report
from deliverwatch.content.message import Message, load_file
from deliverwatch.content.options import LintOptions
from deliverwatch.content.scoring import Scale
from deliverwatch.dns import Nameserver, Resolver

if TYPE_CHECKING:
    from deliverwatch.http import HttpSettings

#: Files linted at once inside one process (network checks overlap; the rules are CPU-bound).
CONCURRENCY: Final = 16
#: A worker process is only worth its start-up for at least this many files.
MIN_FILES_PER_WORKER: Final = 4
#: Chunks per worker (smaller chunks balance uneven files) and the largest chunk.
CHUNKS_PER_WORKER: Final = 4
MAX_CHUNK: Final = 64

Report = dict[str, Any]
ChunkWork = Callable[["RunSettings", list[Path]], list[Report]]


@dataclass(frozen=True)
class RunSettings:
    """Everything a worker needs to build its own pipeline; picklable (no sockets, no loop)."""

    options: LintOptions
    scale: Scale
    headers: tuple[tuple[str, str], ...] = ()
    nameservers: tuple[Nameserver, ...] = ()
    dns_timeout: float = 2.0
    dns_retries: int = 1
    verify_dkim: bool = True
    http: HttpSettings | None = None  # link checks and URI blocklists when set
    uri_blocklists: tuple[str, ...] = ()
    spamd: tuple[str, int] | None = None
    rspamd: str | None = None
    concurrency: int = CONCURRENCY


def default_jobs() -> int:
    """The CPUs this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def crashed(path: Path | str, reason: str, scale: Scale) -> Report:
    """The report of a file that could not be linted: one ``lint.crashed`` finding."""
    message = Message(str(path), "template", error=reason)
    return report(
        message, [finding("lint.crashed", f"{path}: {clip(reason, 200)}")], scale
    ).to_dict()


async def lint_files(settings: RunSettings, paths: Sequence[Path]) -> list[Report]:
    """Lint ``paths`` in this process, in order; a file that raises gets ``lint.crashed``."""
    resolver = Resolver(
        settings.nameservers or None, timeout=settings.dns_timeout, retries=settings.dns_retries
    )
    fetcher = None
    links = None
    if settings.http is not None:
        from deliverwatch.content.rules.linkcheck import LinkChecker
        from deliverwatch.http import Fetcher

        fetcher = Fetcher(resolver, settings.http)
        links = LinkChecker(fetcher)
    network = Network(
        resolver,
        verify_dkim=settings.verify_dkim,
        links=links,
        uri_blocklists=settings.uri_blocklists if settings.http is not None else (),
    )
    slots = asyncio.Semaphore(settings.concurrency)

    async def one(path: Path) -> Report:
        async with slots:
            try:
                return await _lint_file(settings, path, network)
            except Exception as exc:  # a bug on one input must not lose the other files
                return crashed(path, f"linting failed: {exc!r}", settings.scale)

    try:
        async with resolver:
            return list(await asyncio.gather(*(one(p) for p in paths)))
    finally:
        if fetcher is not None:
            await fetcher.aclose()


async def _lint_file(settings: RunSettings, path: Path, network: Network) -> Report:
    message = load_file(path, settings.headers)
    result = await lint(message, settings.options, settings.scale, network)
    if message.error is None and (settings.spamd or settings.rspamd):
        await _external(settings, message, result.external)
    return result.to_dict()


async def _external(settings: RunSettings, message: Message, external: dict[str, Any]) -> None:
    from deliverwatch.content.external import (
        ScorerError,
        SpamdClient,
        message_bytes,
        rspamd_check,
    )

    data = message_bytes(message)
    if settings.spamd is not None:
        try:
            external["spamd"] = (await SpamdClient(*settings.spamd).report(data)).to_dict()
        except ScorerError as exc:
            external["spamd"] = {"error": str(exc)}
    if settings.rspamd is not None:
        try:
            external["rspamd"] = (await rspamd_check(settings.rspamd, data)).to_dict()
        except ScorerError as exc:
            external["rspamd"] = {"error": str(exc)}


def lint_chunk(settings: RunSettings, paths: list[Path]) -> list[Report]:
    """A worker's job: one chunk of files on the worker's own event loop and resolver."""
    return asyncio.run(lint_files(settings, paths))


def worker_count(files: int, jobs: int) -> int:
    """Worker processes for ``files`` files with ``--jobs jobs``; 1 means in-process."""
    return max(1, min(jobs, files // MIN_FILES_PER_WORKER))


def chunks(
    count: int, workers: int, *, per_worker: int = CHUNKS_PER_WORKER, largest: int = MAX_CHUNK
) -> list[range]:
    """Consecutive index ranges: about ``per_worker`` per worker, at most ``largest`` long."""
    size = max(1, min(largest, ceil(count / (workers * per_worker))))
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


def lint_parallel(
    settings: RunSettings, paths: Sequence[Path], jobs: int, *, work: ChunkWork = lint_chunk
) -> list[Report]:
    """Lint ``paths`` over up to ``jobs`` worker processes; reports in input order.

    ``jobs == 1`` (or too few files to be worth a worker) lints in this process. With link
    checks, each worker gets one chunk, so a URL is fetched at most once per worker (the
    link cache lives in the chunk's process) instead of once per chunk. When a chunk
    fails (its worker died, which breaks the whole pool, or it raised), each failed chunk is
    rerun alone in a fresh process and halved until the file at fault is found; that file
    gets ``lint.crashed`` and the others their normal reports. ``work`` is the chunk function
    (a seam for the crash tests; it must be picklable, i.e. a module-level function).
    """
    files = list(paths)
    workers = worker_count(len(files), jobs)
    if workers == 1:
        return asyncio.run(lint_files(settings, files))
    results: list[Report | None] = [None] * len(files)
    failed: list[range] = []
    if settings.http is not None:
        parts = chunks(len(files), workers, per_worker=1, largest=len(files))
    else:
        parts = chunks(len(files), workers)
    with ProcessPoolExecutor(workers, mp_context=_context()) as pool:
        submitted: list[tuple[range, Future[list[Report]]]] = [
            (chunk, pool.submit(work, settings, [files[i] for i in chunk])) for chunk in parts
        ]
        for chunk, future in submitted:
            try:
                reports = future.result()
            except Exception:
                failed.append(chunk)
                continue
            for index, item in zip(chunk, reports, strict=True):
                results[index] = item
    for chunk in failed:
        _isolate(settings, files, chunk, results, work)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def _isolate(
    settings: RunSettings,
    files: list[Path],
    chunk: range,
    results: list[Report | None],
    work: ChunkWork,
) -> None:
    """Rerun ``chunk`` alone; on failure halve it until the failing file is found."""
    outcome = _alone(settings, [files[i] for i in chunk], work)
    if not isinstance(outcome, Exception):
        for index, item in zip(chunk, outcome, strict=True):
            results[index] = item
    elif len(chunk) > 1:
        middle = len(chunk) // 2
        _isolate(settings, files, chunk[:middle], results, work)
        _isolate(settings, files, chunk[middle:], results, work)
    else:
        reason = str(outcome) or type(outcome).__name__
        results[chunk[0]] = crashed(files[chunk[0]], f"worker failed: {reason}", settings.scale)


def _alone(settings: RunSettings, paths: list[Path], work: ChunkWork) -> list[Report] | Exception:
    with ProcessPoolExecutor(1, mp_context=_context()) as pool:
        try:
            return pool.submit(work, settings, paths).result()
        except Exception as exc:
            return exc


def _context() -> Any:
    """``fork`` where there is one: workers start at once with the parent's modules loaded
    (the rules' tables and the Public Suffix List), instead of importing them again."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)
