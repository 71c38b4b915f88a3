"""Accuracy: deliverwatch's aggregate parser against parsedmarc on the shared corpus.

For every file of the corpus, deliverwatch's reading (``iter_payloads`` + ``AggregateReader``)
and parsedmarc's (``parse_report_file`` in offline mode, run by ``parsedmarc_child.py`` in
parsedmarc's own venv) are compared: the kind of report found; for aggregate reports the
report id, the number of records, the total message count and, record by record in report
order, the source IP, count, disposition and policy-evaluated DKIM and SPF results (the DKIM-
and SPF-aligned outcomes). Records are compared with parsedmarc's per-day split of reports
over 24 hours switched off (it cuts a record into one record per day); the record count is
also shown with its default settings. Prints a table and every difference with its file;
then, for information, differences in fields outside those figures (org name, header and
envelope From, DKIM and SPF auth results), grouped by field.

    .venv/bin/python bench/dmarc_agreement.py --parsedmarc /tmp/pdm/bin/python

Exit status 0 when everything agrees, 1 when something differs; without parsedmarc the
comparison is skipped with a message (status 0).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deliverwatch.dmarc.aggregate import AggregateReader
from deliverwatch.dmarc.containers import Payload, iter_payloads
from deliverwatch.dmarc.errors import ReportError

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "corpus" / "dmarc-reports"
DEFAULT_PARSEDMARC = "/tmp/pdm/bin/python"
FIELDS = ("source_ip", "count", "disposition", "dkim", "spf")

Row = tuple[str, int, str, str, str]


@dataclass
class Ours:
    kind: str | None = None  # aggregate, failure, smtp_tls; None: refused
    error: str | None = None
    report_id: str | None = None
    org_name: str | None = None
    records: list[Row] = field(default_factory=list)
    other: list[dict[str, Any]] = field(default_factory=list)


def ours(path: Path) -> Ours:
    """Our reading of one file (the corpus has one report per file)."""
    found = Ours()
    for payload in iter_payloads(path):
        if not isinstance(payload, Payload):
            found.error = payload.reason
            continue
        found.kind = payload.kind
        if payload.kind != "aggregate":
            continue
        try:
            with payload.open() as stream:
                reader = AggregateReader(stream)
                for r in reader:
                    found.records.append((r.source_ip, r.count, r.disposition, r.dkim, r.spf))
                    found.other.append(
                        {
                            "header_from": r.header_from,
                            "envelope_from": r.envelope_from,
                            "dkim_results": [
                                [d.domain, d.selector, d.result] for d in r.dkim_results
                            ],
                            "spf_results": [[d.domain, d.scope, d.result] for d in r.spf_results],
                        }
                    )
        except ReportError as error:
            found.kind, found.error = None, str(error)
            continue
        found.report_id = reader.header.metadata.report_id
        found.org_name = reader.header.metadata.org_name
    return found


def theirs(python: str, files: list[Path]) -> dict[str, Any]:
    out = subprocess.run(
        [python, str(HERE / "parsedmarc_child.py"), "records", *map(str, files)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def compare(name: str, mine: Ours, default: dict[str, Any], whole: dict[str, Any]) -> list[str]:
    """Every difference for one file, as lines naming it."""
    diffs: list[str] = []
    their_kind = whole.get("report_type") if whole.get("ok") else None
    if mine.kind != their_kind:
        diffs.append(
            f"{name}: kind: ours {mine.kind or 'refused (' + str(mine.error) + ')'}, "
            f"parsedmarc {their_kind or 'refused (' + str(whole.get('error')) + ')'}"
        )
    if mine.kind != "aggregate" or their_kind != "aggregate":
        return diffs
    if mine.report_id != whole.get("report_id"):
        diffs.append(
            f"{name}: report_id: ours {mine.report_id!r}, parsedmarc {whole['report_id']!r}"
        )
    rows: list[list[Any]] = whole["records"]
    if len(mine.records) != len(rows):
        diffs.append(f"{name}: records: ours {len(mine.records)}, parsedmarc {len(rows)}")
    if len(mine.records) != len(default["records"]):
        diffs.append(
            f"{name}: records: ours {len(mine.records)}, parsedmarc with its per-day split "
            f"{len(default['records'])}"
        )
    ours_total = sum(r[1] for r in mine.records)
    their_total = sum(r[1] for r in rows)
    if ours_total != their_total:
        diffs.append(f"{name}: messages: ours {ours_total}, parsedmarc {their_total}")
    for n, (a, b) in enumerate(zip(mine.records, rows, strict=False), 1):
        for label, x, y in zip(FIELDS, a, b, strict=True):
            if x != y:
                diffs.append(f"{name}: record {n} {label}: ours {x!r}, parsedmarc {y!r}")
    return diffs


def informational(name: str, mine: Ours, whole: dict[str, Any]) -> list[tuple[str, str]]:
    """Differences in fields outside the agreement figures, as (field, detail) pairs."""
    found: list[tuple[str, str]] = []
    if mine.kind != "aggregate" or whole.get("report_type") != "aggregate":
        return found
    if mine.org_name != whole.get("org_name"):
        found.append(
            ("org_name", f"{name}: ours {mine.org_name!r}, parsedmarc {whole['org_name']!r}")
        )
    for n, (a, b) in enumerate(zip(mine.other, whole.get("other", []), strict=False), 1):
        for key in ("header_from", "envelope_from", "dkim_results", "spf_results"):
            if a[key] != b[key]:
                found.append((key, f"{name}: record {n}: ours {a[key]!r}, parsedmarc {b[key]!r}"))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--parsedmarc",
        default=DEFAULT_PARSEDMARC,
        help="python of a venv with parsedmarc installed (default %(default)s)",
    )
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument(
        "--show", type=int, default=5, help="informational differences shown per field"
    )
    args = parser.parse_args()
    python = args.parsedmarc
    probe = (
        subprocess.run(
            [python, "-c", "import parsedmarc; print(parsedmarc.__version__)"],
            capture_output=True,
            text=True,
            check=False,
        )
        if Path(python).exists()
        else None
    )
    if probe is None or probe.returncode != 0:
        print(f"parsedmarc not found ({python} cannot import it): comparison skipped")
        return 0
    files = sorted(p for p in args.corpus.rglob("*") if p.is_file() and p.suffix != ".md")
    result = theirs(python, files)
    print(f"parsedmarc {probe.stdout.strip()} (offline) against deliverwatch, {args.corpus}")
    header = ("file", "kind", "records", "messages", "per-record", "agree")
    table: list[tuple[str, ...]] = []
    differences: list[str] = []
    others: list[tuple[str, str]] = []
    totals = {"files": 0, "agree": 0, "records": 0, "record_agree": 0}
    for path in files:
        name = str(path.relative_to(args.corpus))
        mine = ours(path)
        default, whole = result["files"][str(path)].values()
        diffs = compare(name, mine, default, whole)
        others += informational(name, mine, whole)
        differences += diffs
        totals["files"] += 1
        totals["agree"] += not diffs
        kind = mine.kind or "refused"
        if mine.kind == "aggregate" and whole.get("records") is not None:
            rows = whole["records"]
            same = sum(1 for a, b in zip(mine.records, rows, strict=False) if list(a) == list(b))
            totals["records"] += len(mine.records)
            totals["record_agree"] += same
            their_split = len(default["records"])
            counts = f"{len(mine.records)} / {len(rows)}" + (
                f" ({their_split} split)" if their_split != len(rows) else ""
            )
            messages = f"{sum(r[1] for r in mine.records)} / {sum(r[1] for r in rows)}"
            per_record = f"{same}/{max(len(mine.records), len(rows))}"
        else:
            counts = messages = per_record = "-"
        table.append((name, kind, counts, messages, per_record, "yes" if not diffs else "NO"))
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    widths[0] = min(widths[0], 70)
    for row in [header, *table]:
        cells = [row[0][: widths[0]].ljust(widths[0])] + [
            cell.ljust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells).rstrip())
    print("(records and messages: ours / parsedmarc)")
    print(
        f"\n{totals['agree']} of {totals['files']} files agree; "
        f"{totals['record_agree']} of {totals['records']} aggregate records identical "
        f"(source IP, count, disposition, DKIM, SPF); network attempts by parsedmarc refused: "
        f"{result['blocked']}"
    )
    if differences:
        print("\ndifferences:")
        for line in differences:
            print(f"  {line}")
    if others:
        print("\nother fields (for information; not in the figures above), by field:")
        for key in sorted({key for key, _ in others}):
            lines = [line for k, line in others if k == key]
            print(f"  {key}: {len(lines)} difference(s)")
            for line in lines[: args.show]:
                print(f"    {line}")
            if len(lines) > args.show:
                print(f"    … and {len(lines) - args.show} more")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
