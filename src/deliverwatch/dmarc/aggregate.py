"""Aggregate (rua) reports, RFC 7489 appendix C and DMARCbis, parsed as a stream.

:class:`AggregateReader` reads the report header (``report_metadata``, ``policy_published``)
on construction and then yields records one at a time, so a 1 GB report needs no more memory
than a small one. ``XmlSplitter`` cuts the document into top-level elements; a record in the
plain shape every big reporter emits (no attributes, comments, entities, CDATA or namespace
prefixes) is read by a fast path of string searches, and anything else by expat. Both paths
feed the same normalization (``records.py``), so they cannot disagree on meaning (a property
test checks that they agree on every record it generates).

Vendor quirks tolerated, each counted in ``repairs``: bad or misplaced XML declarations,
stray tags around ``<feedback>`` (IKEA's ``<xs:schema>``), stray ``<`` and ``&`` (escaped),
invalid UTF-8 (replaced), upper-case result words (lower-cased), missing DKIM selector or SPF
scope (``None`` / ``mfrom``), an empty ``org_name`` (the email's domain is used), records
without a usable source IP or count (dropped and counted).
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterator
from typing import BinaryIO
from xml.etree.ElementTree import Element

from deliverwatch.dmarc.errors import AggregateError
from deliverwatch.dmarc.model import (
    AggregateReport,
    PolicyPublished,
    Record,
    ReportHeader,
    ReportMetadata,
)
from deliverwatch.dmarc.records import (
    BAD_UTF8,
    Normalizer,
    NotSimple,
    child,
    child_text,
    children,
    element_raw,
    fast_record,
    normalize_domain,
    strip_text,
)
from deliverwatch.dmarc.xmlsplit import NOT_PLAIN, RecordBatch, XmlSplitter

NAMESPACE_DMARCBIS = "urn:ietf:params:xml:ns:dmarc-2.0"
_EPOCH = re.compile(r"\s*(\d{1,12})(?:\.\d*)?\s*")


class AggregateReader:
    """One aggregate report read from ``stream`` (decompressed bytes).

    ``header`` is available at once; iterate the reader (once) for the records. After the
    iteration ``record_count`` and ``message_count`` are the totals and ``repairs`` counts
    what was tolerated. Raises :class:`AggregateError` (at construction or while iterating)
    for a document that is not a usable report.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self.repairs: Counter[str] = Counter()
        self._splitter = XmlSplitter(stream, self.repairs)
        self._children = iter(self._splitter)
        self._pending: list[Record] = []
        self._norm = Normalizer(self.repairs)
        self._needles = tuple(f"<{p.decode('ascii')}:" for p in self._splitter.prefixes)
        self.record_count = 0
        self.message_count = 0
        self.header = self._read_header()

    def __iter__(self) -> Iterator[Record]:
        pending, self._pending = self._pending, []
        for done in pending:
            self.record_count += 1
            self.message_count += done.count
            yield done
        for item in self._children:
            if isinstance(item, RecordBatch):
                for text in item.texts:
                    record = self._record_text(text, item.plain)
                    if record is not None:
                        self.record_count += 1
                        self.message_count += record.count
                        yield record
                continue
            local, element = item
            if local == "record":
                single = self._record(element)
                if single is not None:
                    self.record_count += 1
                    self.message_count += single.count
                    yield single
            elif local in ("report_metadata", "policy_published"):
                self.repairs[f"ignored a second <{local}>"] += 1

    def _read_header(self) -> ReportHeader:
        metadata: Element | None = None
        policy: Element | None = None
        version: str | None = None
        for item in self._children:
            if isinstance(item, RecordBatch):
                for text in item.texts:
                    record = self._record_text(text, item.plain)
                    if record is not None:
                        self._pending.append(record)
                continue
            local, element = item
            if local == "record":
                record = self._record(element)
                if record is not None:
                    self._pending.append(record)
            elif local == "report_metadata" and metadata is None:
                metadata = self._splitter.parse_fragment(element)
            elif local == "policy_published" and policy is None:
                policy = self._splitter.parse_fragment(element)
            elif local == "version":
                version = strip_text(self._splitter.parse_fragment(element).text)
            if metadata is not None and policy is not None:
                break
        if metadata is None:
            raise AggregateError("not an aggregate report: no <report_metadata>")
        if policy is None:
            raise AggregateError("not an aggregate report: no <policy_published>")
        return ReportHeader(
            metadata=_metadata(metadata, self.repairs),
            policy=_policy(policy, self.repairs),
            version=version,
            namespace=self._splitter.namespace,
        )

    def _record_text(self, text: str, plain: bool) -> Record | None:
        """A record of a batch: ``text`` lacks its ``</record>``."""
        if plain or self._is_plain(text):
            try:
                return fast_record(text, self._norm)
            except NotSimple:
                pass
        element = self._splitter.parse_fragment((text + "</record>").encode("utf-8"))
        return self._norm.build(element_raw(element))

    def _record(self, element: bytes) -> Record | None:
        """A record read on its own (not in a batch)."""
        if element.startswith(b"<record>"):
            try:
                text = element.decode("utf-8")
            except UnicodeDecodeError:
                text = element.decode("utf-8", "replace")
                self.repairs[BAD_UTF8] += 1
            if self._is_plain(text, closed=True):
                try:
                    return fast_record(text, self._norm)
                except NotSimple:
                    pass
        return self._norm.build(element_raw(self._splitter.parse_fragment(element)))

    def _is_plain(self, text: str, *, closed: bool = False) -> bool:
        """Whether one record (with its ``</record>`` when ``closed``) suits the fast path."""
        if any(marker in text for marker in NOT_PLAIN):
            return False
        if self._needles and any(needle in text for needle in self._needles):
            return False
        return text.count("<") == 2 * text.count("</") + (0 if closed else 1)


def parse_aggregate(data: bytes | BinaryIO) -> AggregateReport:
    """A whole report in memory: for small reports and tests. Raises AggregateError."""
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    reader = AggregateReader(stream)
    records = list(reader)
    return AggregateReport(reader.header, records, dict(reader.repairs))


def _epoch(element: Element | None, name: str) -> int:
    text = child_text(element, name)
    match = _EPOCH.fullmatch(text or "")
    if not match:
        raise AggregateError(f"report_metadata: date_range {name} {text!r} is not a Unix time")
    return int(match.group(1))


def _metadata(element: Element, repairs: Counter[str]) -> ReportMetadata:
    email = strip_text(child_text(element, "email"))
    org_name = strip_text(child_text(element, "org_name"))
    if org_name is None:
        domain = (email or "").rpartition("@")[2].strip(" <>").lower()
        if not domain:
            raise AggregateError("report_metadata: no org_name (and no email to take it from)")
        repairs["empty org_name: the email's domain is used"] += 1
        org_name = domain
    report_id = strip_text(child_text(element, "report_id"))
    if report_id is None:
        raise AggregateError("report_metadata: no report_id")
    date_range = child(element, "date_range")
    if date_range is None:
        raise AggregateError("report_metadata: no date_range")
    begin, end = _epoch(date_range, "begin"), _epoch(date_range, "end")
    if end < begin:
        repairs["date_range begin and end swapped"] += 1
        begin, end = end, begin
    errors = tuple(text for e in children(element, "error") if (text := strip_text(e.text)))
    return ReportMetadata(
        org_name=org_name,
        report_id=report_id,
        begin=begin,
        end=end,
        email=email,
        extra_contact_info=strip_text(child_text(element, "extra_contact_info")),
        errors=errors,
        generator=strip_text(child_text(element, "generator")),
    )


def _policy(element: Element, repairs: Counter[str]) -> PolicyPublished:
    domain = normalize_domain(child_text(element, "domain"))
    if domain is None:
        raise AggregateError("policy_published: no domain")
    pct_text = strip_text(child_text(element, "pct"))
    pct = int(pct_text) if pct_text is not None and pct_text.isdigit() else None
    if pct_text is not None and pct is None:
        repairs["ignored a pct that is not a number"] += 1

    def word(name: str) -> str | None:
        value = strip_text(child_text(element, name))
        return None if value is None else value.lower()

    return PolicyPublished(
        domain=domain,
        p=word("p"),
        sp=word("sp"),
        adkim=word("adkim"),
        aspf=word("aspf"),
        pct=pct,
        fo=strip_text(child_text(element, "fo")),
        np=word("np"),
        testing=word("testing"),
        discovery_method=word("discovery_method"),
    )
