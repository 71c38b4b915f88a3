"""Run the lint rules over a :class:`~deliverwatch.content.message.Message` and score them.

:func:`lint_offline` is pure: built-in rules only, no I/O. :func:`lint` adds the checks that
need the network, each only when its seam is injected through :class:`Network`: DKIM
verification (a resolver), link probes (a :class:`LinkChecker` over the Fetcher) and URI
blocklists (zones). A rule that raises is reported as ``lint.rule_error``; the others still run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from deliverwatch.content.findings import LintFinding, clip, finding
from deliverwatch.content.message import Message
from deliverwatch.content.options import LintOptions
from deliverwatch.content.rules import BUILT_IN, Rule
from deliverwatch.content.rules.dkim import verify_dkim
from deliverwatch.content.scoring import Scale, Verdict, total, verdict, weigh

if TYPE_CHECKING:  # linkcheck brings in the HTTP client: imported only when links are checked
    from deliverwatch.content.rules.linkcheck import LinkChecker
    from deliverwatch.dns import Resolver


@dataclass
class LintReport:
    file: str
    score: int
    verdict: Verdict
    findings: list[LintFinding]
    #: Results of external scorers by name (``spamd``, ``rspamd``); never part of ``score``.
    external: dict[str, Any] = field(default_factory=dict)

    @property
    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "score": self.score,
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "external": self.external,
        }


@dataclass
class Network:
    """The network seams :func:`lint` may use; leave one out to skip its checks."""

    resolver: Resolver
    verify_dkim: bool = True
    links: LinkChecker | None = None
    uri_blocklists: Sequence[str] = ()


def run_rules(
    message: Message, options: LintOptions, rules: Iterable[Rule] = BUILT_IN
) -> list[LintFinding]:
    """Every rule's findings, unweighted; unreadable input gives only ``message.unparseable``."""
    if message.error is not None:
        return [finding("message.unparseable", f"{message.path}: {message.error}")]
    findings: list[LintFinding] = []
    for rule in rules:
        try:
            findings.extend(rule(message, options))
        except Exception as exc:  # a bug in one rule must not hide the others' findings
            findings.append(
                finding("lint.rule_error", f"rule {rule.__name__} failed: {clip(repr(exc), 120)}")
            )
    return findings


def report(message: Message, findings: Iterable[LintFinding], scale: Scale) -> LintReport:
    weighed = weigh(findings, scale)
    score = total(weighed)
    return LintReport(message.path, score, verdict(score, scale), weighed)


def lint_offline(
    message: Message, options: LintOptions | None = None, scale: Scale | None = None
) -> LintReport:
    """The built-in rules only: pure, no network."""
    return report(message, run_rules(message, options or LintOptions()), scale or Scale())


async def lint(
    message: Message,
    options: LintOptions | None = None,
    scale: Scale | None = None,
    network: Network | None = None,
) -> LintReport:
    """Built-in rules plus the network checks ``network`` enables."""
    findings = run_rules(message, options or LintOptions())
    if network is not None and message.error is None:
        checks: list[tuple[str, Awaitable[list[LintFinding]]]] = []
        if network.verify_dkim:
            checks.append(("verify_dkim", verify_dkim(message, network.resolver)))
        if network.links is not None:
            checks.append(("check_links", network.links.check(message)))
        if network.uri_blocklists:
            from deliverwatch.content.rules.linkcheck import check_uri_blocklists

            blocklists = check_uri_blocklists(message, network.resolver, network.uri_blocklists)
            checks.append(("check_uri_blocklists", blocklists))
        outcomes = await asyncio.gather(*(c for _, c in checks), return_exceptions=True)
        for (name, _), outcome in zip(checks, outcomes, strict=True):
            if isinstance(outcome, Exception):
                text = f"rule {name} failed: {clip(repr(outcome), 120)}"
                findings.append(finding("lint.rule_error", text))
            elif isinstance(outcome, BaseException):
                raise outcome  # cancellation and the like are not rule failures
            else:
                findings += outcome
    return report(message, findings, scale or Scale())
