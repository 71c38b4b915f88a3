"""SPF audit (RFC 7208): find the record, walk its include/redirect tree, count lookups.

The walk is an audit, not ``check_host()``: there is no connecting IP, so it evaluates what a
receiver would in the worst case (an address that matches nothing before ``all``): every
DNS-querying term up to the first ``all``, plus ``redirect=`` when there is no ``all``. Each
level of the tree is fetched concurrently and ``a``/``mx``/``exists`` names resolve in the
background while deeper levels load, so a deep tree costs one round trip per level.

Parsing lives in :mod:`deliverwatch.auth.spf_syntax` and is re-exported here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from deliverwatch.auth.findings import Finding, SectionStatus, dns_failure, finding, section_status
from deliverwatch.auth.spf_syntax import (
    Mechanism,
    Modifier,
    Qualifier,
    SpfRecord,
    SpfSyntaxError,
    is_spf_record,
    parse_spf,
    spf_records,
)
from deliverwatch.dns import Answer, Resolver, normalize_name, parse_mx

MAX_DNS_LOOKUPS: Final = 10  # RFC 7208 §4.6.4
MAX_VOID_LOOKUPS: Final = 2  # RFC 7208 §4.6.4
MAX_MX_NAMES: Final = 10  # RFC 7208 §4.6.4
MAX_RECORD_BYTES: Final = 450  # RFC 7208 §3.4: leaves room for the rest of a 512-byte answer
#: Past this many counted terms the verdict is long settled: stop resolving (the count then is
#: a lower bound). Counting runs level by level in record order, so the cut is deterministic.
EVALUATION_CAP: Final = 50

Via = Literal["root", "include", "redirect"]


@dataclass(eq=False)
class SpfNode:
    """One record in the evaluation tree: the root, or the target of an include:/redirect=.

    ``lookups`` counts this record's own DNS-querying terms (its include: and redirect= terms
    included); the lookups of the records they lead to are in ``children``.
    """

    domain: str
    via: Via = "root"
    term: str = ""  # the include:/redirect= term that led here, as written
    qualifier: Qualifier = "+"
    record: str | None = None
    parsed: SpfRecord | None = field(default=None, repr=False)
    lookups: int = 0
    children: list[SpfNode] = field(default_factory=list)
    error: str | None = None
    note: str | None = None
    path: tuple[str, ...] = field(default=(), repr=False)  # ancestors' domains: loop detection

    @property
    def total_lookups(self) -> int:
        return self.lookups + sum(child.total_lookups for child in self.children)

    @property
    def redirect_target(self) -> SpfNode | None:
        return next((c for c in self.children if c.via == "redirect"), None)

    def walk(self) -> Iterator[SpfNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "domain": self.domain,
            "via": self.via,
            "record": self.record,
            "lookups": self.lookups,
            "total_lookups": self.total_lookups,
            "children": [child.to_dict() for child in self.children],
        }
        if self.error is not None:
            data["error"] = self.error
        if self.note is not None:
            data["note"] = self.note
        return data


@dataclass
class SpfResult:
    """``dns_lookups`` is a lower bound when ``complete`` is false (a lookup failed, or the
    walk stopped at :data:`EVALUATION_CAP`)."""

    domain: str
    record: str | None = None
    parsed: SpfRecord | None = None
    tree: SpfNode | None = None
    dns_lookups: int = 0
    void_lookups: int = 0
    complete: bool = True
    findings: list[Finding] = field(default_factory=list)
    status: SectionStatus = "not_checked"

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "dns_lookups": self.dns_lookups,
            "void_lookups": self.void_lookups,
            "tree": self.tree.to_dict() if self.tree is not None else None,
            "status": self.status,
        }


async def check_spf(domain: str, resolver: Resolver) -> SpfResult:
    """Audit the SPF record of ``domain``; never raises for DNS trouble."""
    domain = normalize_name(domain)
    result = SpfResult(domain)
    audit = _Audit(resolver)
    answer = await resolver.txt(domain)
    records = spf_records(answer.records)
    if answer.failed:
        audit.fail(answer, f"SPF record of {domain}")
    elif not records:
        audit.add("spf.missing", f"{domain} has no SPF record: {_absence(answer)}")
    elif len(records) > 1:
        shown = "; ".join(repr(_shorten(r)) for r in records)
        audit.add("spf.multiple_records", f"{domain} has {len(records)} SPF records: {shown}")
    else:
        result.record = records[0]
        result.tree = root = SpfNode(domain, record=records[0])
        try:
            root.parsed = result.parsed = parse_spf(records[0])
        except SpfSyntaxError as exc:
            root.error = f"syntax error: {exc}"
            audit.add("spf.syntax_error", f"The SPF record of {domain} does not parse: {exc}")
        if root.parsed is not None:
            await audit.evaluate(root)
        audit.judge(root)
        result.dns_lookups = root.total_lookups
    result.void_lookups = len(audit.voids)
    result.complete = audit.complete
    result.findings = sorted(audit.findings, key=lambda f: (-f.severity.rank, f.code, f.message))
    result.status = section_status(result.findings, unknown=audit.unknown)
    return result


class _Audit:
    """State of one domain's walk: findings, void lookups, and whether anything is unknown."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.findings: list[Finding] = []
        self.voids: list[str] = []
        self.unknown = False
        self.complete = True
        self.counted = 0

    def add(self, code: str, message: str) -> None:
        if all((f.code, f.message) != (code, message) for f in self.findings):
            self.findings.append(finding(code, message))

    def fail(self, answer: Answer, purpose: str) -> None:
        """A lookup got no answer: report it as unknown, never as a missing record."""
        self.unknown = True
        self.complete = False
        item = dns_failure(answer, purpose)
        if item not in self.findings:
            self.findings.append(item)

    # -- walking ---------------------------------------------------------------------------
    async def evaluate(self, root: SpfNode) -> None:
        """Breadth-first: fetch each level's include/redirect targets concurrently."""
        async with asyncio.TaskGroup() as leaves:
            level = [root]
            while level:
                fetches: list[Coroutine[Any, Any, None]] = []
                for node in level:
                    fetches.extend(self._plan(node, leaves))
                await asyncio.gather(*fetches)
                level = [c for node in level for c in node.children if c.parsed is not None]

    def _count(self, node: SpfNode) -> bool:
        """Count one DNS-querying term; true when it falls past the evaluation cap."""
        node.lookups += 1
        self.counted += 1
        return self.counted > EVALUATION_CAP

    def _plan(self, node: SpfNode, leaves: asyncio.TaskGroup) -> list[Coroutine[Any, Any, None]]:
        assert node.parsed is not None
        fetches: list[Coroutine[Any, Any, None]] = []
        for mechanism in node.parsed.evaluated_mechanisms:
            if not mechanism.queries_dns:
                continue
            over = self._count(node)
            if mechanism.name == "include":
                assert mechanism.domain is not None
                fetch = self._child(node, mechanism, mechanism.domain, over)
                if fetch is not None:
                    fetches.append(fetch)
            elif mechanism.name == "ptr":  # needs the connecting IP: counted, not resolved
                self.add("spf.ptr_mechanism", f"{_where(node)} uses {mechanism.text}")
            elif over:
                self.complete = False
            elif not mechanism.has_macros:  # macros expand per message: counted, not resolved
                leaves.create_task(self._resolve(node, mechanism))
        redirect = node.parsed.effective_redirect
        if redirect is not None:
            fetch = self._child(node, redirect, redirect.value, self._count(node))
            if fetch is not None:
                fetches.append(fetch)
        return fetches

    def _child(
        self, parent: SpfNode, term: Mechanism | Modifier, spec: str, over: bool
    ) -> Coroutine[Any, Any, None] | None:
        macro = "%" in spec
        via: Via = "include" if isinstance(term, Mechanism) else "redirect"
        qualifier = term.qualifier if isinstance(term, Mechanism) else "+"
        child = SpfNode(
            spec if macro else normalize_name(spec),
            via,
            term.text,
            qualifier,
            path=(*parent.path, parent.domain),
        )
        parent.children.append(child)
        if macro:
            child.note = "contains macros, which expand per message: counted, not looked up"
        elif over:
            child.error = f"not evaluated: more than {EVALUATION_CAP} lookups counted already"
            self.complete = False
        elif child.domain in child.path:
            chain = " → ".join((*child.path, child.domain))
            child.error = f"loop: {child.domain} is already being evaluated"
            self.add(
                "spf.include_loop",
                f"{term.text} in the SPF record of {parent.domain} "
                f"leads back to a record being evaluated ({chain})",
            )
        else:
            return self._fetch(child, parent)
        return None

    async def _fetch(self, child: SpfNode, parent: SpfNode) -> None:
        label = f"{child.term} in the SPF record of {parent.domain}"
        answer = await self.resolver.txt(child.domain)
        if answer.failed:
            child.error = f"lookup failed: {answer.status}"
            self.fail(answer, f"SPF {label}")
            return
        if answer.missing:  # §4.6.4: a void lookup (NXDOMAIN or an empty answer)
            self.voids.append(f"{child.term} in {parent.domain}")
        records = spf_records(answer.records)
        if not records:
            child.error = "no SPF record"
            self.add(
                "spf.include_missing",
                f"{label}: {child.domain} has no SPF record ({_absence(answer)})",
            )
            return
        if len(records) > 1:
            child.error = f"{len(records)} SPF records"
            self.add(
                "spf.multiple_records",
                f"{label}: {child.domain} has {len(records)} SPF "
                "records, so the include is a permerror",
            )
            return
        child.record = records[0]
        try:
            child.parsed = parse_spf(records[0])
        except SpfSyntaxError as exc:
            child.error = f"syntax error: {exc}"
            self.add(
                "spf.syntax_error",
                f"The SPF record of {child.domain} ({label}) does not parse: {exc}",
            )

    async def _resolve(self, node: SpfNode, mechanism: Mechanism) -> None:
        """Resolve an a, mx or exists name for void lookups, the MX limit and DNS failures."""
        name = normalize_name(mechanism.domain or node.domain)
        purpose = f"SPF {mechanism.text} in {node.domain}"
        void = f"{mechanism.text} in {node.domain}"
        if mechanism.name == "exists":  # §5.7: always an A query, whatever the client's family
            answer = await self.resolver.query(name, "A")
            if answer.failed:
                self.fail(answer, purpose)
            elif answer.missing:
                self.voids.append(void)
            return
        if mechanism.name == "a":
            if self._addresses_void(await self.resolver.addresses(name), purpose):
                self.voids.append(void)
            return
        answer = await self.resolver.query(name, "MX")
        if answer.failed:
            self.fail(answer, purpose)
            return
        if answer.missing:
            self.voids.append(void)
            return
        hosts = [host for host in (parse_mx(r)[1] for r in answer.records) if host]
        if len(hosts) > MAX_MX_NAMES:
            self.add(
                "spf.too_many_mx",
                f"{mechanism.text} in {_where(node, 'the')}: {name} "
                f"has {len(hosts)} MX hosts; more than {MAX_MX_NAMES} is a permerror",
            )
            return
        # The hosts' address lookups are part of this one mx term: they do not count to 10.
        found = await asyncio.gather(*(self.resolver.addresses(host) for host in hosts))
        for host, pair in zip(hosts, found, strict=True):
            self._addresses_void(pair, f"{purpose}: MX host {host}")

    def _addresses_void(self, pair: tuple[Answer, Answer], purpose: str) -> bool:
        failed = [answer for answer in pair if answer.failed]
        if failed:  # one finding per name: A and AAAA usually fail together
            self.fail(failed[0], purpose)
        return not failed and all(answer.missing for answer in pair)

    # -- judging ---------------------------------------------------------------------------
    def judge(self, root: SpfNode) -> None:
        """Findings about the tree as a whole and about the domain's own records."""
        total = root.total_lookups
        if total > MAX_DNS_LOOKUPS:
            bound = "" if self.complete else "at least "
            self.add(
                "spf.too_many_lookups",
                f"SPF for {root.domain} needs {bound}{total} DNS "
                f"lookups; the limit is {MAX_DNS_LOOKUPS} ({_breakdown(root)})",
            )
        if len(self.voids) > MAX_VOID_LOOKUPS:
            self.add(
                "spf.void_lookups",
                f"{len(self.voids)} SPF lookups find no records; the "
                f"limit is {MAX_VOID_LOOKUPS}: {', '.join(sorted(self.voids))}",
            )
        chain = _own_chain(root)
        for node in chain:
            self._judge_own(node)
        self._judge_all(chain)

    def _judge_own(self, node: SpfNode) -> None:
        """Checks on records the domain owner writes: the root and its redirect= targets."""
        where = _where(node)
        if node.record is not None:
            size = len(node.record.encode("utf-8"))
            if size > MAX_RECORD_BYTES:
                self.add(
                    "spf.record_too_long",
                    f"{where} is {size} bytes; above "
                    f"{MAX_RECORD_BYTES} the DNS answer may not fit in 512 bytes",
                )
        record = node.parsed
        if record is None:
            return
        first_all, redirect = record.all, record.redirect
        if first_all is not None and redirect is not None:
            self.add(
                "spf.redirect_with_all",
                f"{where} has both {first_all.text} and "
                f"{redirect.text}: receivers ignore the redirect",
            )
        if first_all is not None and record.unreachable_mechanisms:
            dead = " ".join(m.text for m in record.unreachable_mechanisms)
            self.add(
                "spf.terms_after_all",
                f"{where} has {dead!r} after {first_all.text}: receivers never evaluate them",
            )
        for child in node.children:
            if child.via == "include" and child.qualifier in "+?" and _passes_everything(child):
                self.add(
                    "spf.permissive_all",
                    f"{child.term} in {_where(node, 'the')} authorizes "
                    f"every sender: the SPF record of {child.domain} passes any address",
                )

    def _judge_all(self, chain: Sequence[SpfNode]) -> None:
        """The effective ``all``: the root's, or that of the redirect= chain when it has none."""
        for node in chain:
            record = node.parsed
            if record is None:
                return
            first_all = record.all
            if first_all is not None:
                if first_all.qualifier in "+?":
                    effect = (
                        "every sender passes"
                        if first_all.qualifier == "+"
                        else "unlisted senders get neutral, as if there were no SPF"
                    )
                    self.add(
                        "spf.permissive_all", f"{_where(node)} has {_show(first_all)}: {effect}"
                    )
                elif first_all.qualifier == "~":
                    self.add("spf.softfail_all", f"{_where(node)} ends in ~all")
                return
            if record.redirect is None:
                self.add(
                    "spf.no_all",
                    f"{_where(node)} has neither an all mechanism nor a "
                    "redirect=: unlisted senders get neutral",
                )
                return
        # the redirect= target was not evaluated (failed, missing, loop): reported already


def _own_chain(root: SpfNode) -> list[SpfNode]:
    chain = [root]
    while (target := chain[-1].redirect_target) is not None and target.record is not None:
        chain.append(target)
    return chain


def _passes_everything(node: SpfNode) -> bool:
    """Whether the record passes any address: +all, or a +include of such a record."""
    record = node.parsed
    if record is None:
        return False
    first_all = record.all
    if first_all is not None and first_all.qualifier == "+":
        return True
    # children are +include: targets and the redirect= target (which exists only without all)
    return any(child.qualifier == "+" and _passes_everything(child) for child in node.children)


def _breakdown(root: SpfNode) -> str:
    """Lookups per top-level term: "a 1, include:_spf.example.net 4, ..."."""
    if root.parsed is None:
        return ""
    children = iter(root.children)
    parts: list[str] = []
    for mechanism in root.parsed.evaluated_mechanisms:
        if mechanism.name == "include":
            parts.append(f"{mechanism.text} {1 + next(children).total_lookups}")
        elif mechanism.queries_dns:
            parts.append(f"{mechanism.text} 1")
    redirect = root.redirect_target
    if redirect is not None:
        parts.append(f"{redirect.term} {1 + redirect.total_lookups}")
    return ", ".join(parts)


def _where(node: SpfNode, article: str = "The") -> str:
    if node.via == "root":
        return f"{article} SPF record of {node.domain}"
    return f"{article} SPF record of {node.domain} (reached through {node.term})"


def _show(mechanism: Mechanism) -> str:
    return mechanism.text if mechanism.text[0] in "+-~?" else f"{mechanism.text} (the same as +all)"


def _absence(answer: Answer) -> str:
    if answer.status == "nxdomain":
        return "the name does not exist"
    if not answer.records:
        return "it has no TXT records"
    return "none of its TXT records starts with v=spf1"


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


__all__ = [
    "EVALUATION_CAP",
    "MAX_DNS_LOOKUPS",
    "MAX_MX_NAMES",
    "MAX_RECORD_BYTES",
    "MAX_VOID_LOOKUPS",
    "Mechanism",
    "Modifier",
    "SpfNode",
    "SpfRecord",
    "SpfResult",
    "SpfSyntaxError",
    "check_spf",
    "is_spf_record",
    "parse_spf",
    "spf_records",
]
