"""The human report: one rich panel per domain, worst news first, every finding with its fix."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

STATUS_STYLE = {
    "ok": "green",
    "warning": "yellow",
    "error": "red",
    "unknown": "magenta",
    "not_checked": "dim",
}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def render_report(report: dict[str, Any]) -> RenderableType:
    status = report["status"]
    title = Text.assemble(
        (report["domain"], "bold"),
        "  ",
        (f"{report['score']}/100 grade {report['grade']}", "bold"),
        "  ",
        (status.upper(), STATUS_STYLE[status]),
    )
    parts: list[RenderableType] = [_sections_table(report)]
    spf_tree = report["spf"].get("tree")
    if spf_tree:
        tree = Tree(
            Text(
                f"SPF include tree — {report['spf'].get('dns_lookups', 0)}/10 lookups", style="bold"
            )
        )
        _add_spf_branch(tree, spf_tree)
        parts.append(tree)
    parts.append(_findings_table(report["findings"]))
    parts.append(_requirements_line(report.get("requirements", {})))
    return Panel(Group(*parts), title=title, title_align="left", border_style=STATUS_STYLE[status])


def _sections_table(report: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for name, label, detail in (
        ("spf", "SPF", report["spf"].get("record")),
        ("dmarc", "DMARC", report["dmarc"].get("record")),
        ("dkim", "DKIM", _dkim_summary(report["dkim"])),
        ("mx", "MX", _mx_summary(report["mx"])),
        (
            "mta_sts",
            "MTA-STS",
            (report["mta_sts"].get("policy") or {}).get("mode") or report["mta_sts"].get("record"),
        ),
        ("tlsrpt", "TLS-RPT", report["tlsrpt"].get("record")),
        ("bimi", "BIMI", report["bimi"].get("record")),
        ("blocklists", "Blocklists", _blocklist_summary(report["blocklists"])),
    ):
        status = report[name].get("status", "not_checked")
        table.add_row(label, Text(status, style=STATUS_STYLE.get(status, "")), detail or "—")
    return table


def _dkim_summary(section: dict[str, Any]) -> str:
    found = [
        f"{s['selector']} ({s.get('key_type') or '?'} {s.get('key_bits') or '?'})"
        for s in section.get("selectors", [])
        if s.get("found")
    ]
    return ", ".join(found) or f"no key at {section.get('checked', 0)} selectors"


def _mx_summary(section: dict[str, Any]) -> str:
    if section.get("null_mx"):
        return "null MX (receives no mail)"
    return ", ".join(f"{h['preference']} {h['host']}" for h in section.get("hosts", []))


def _blocklist_summary(section: dict[str, Any]) -> str:
    entries = section.get("entries", [])
    listed = [f"{e['subject']} on {e['zone']}" for e in entries if e.get("listed")]
    return "; ".join(listed) or f"not listed ({len(entries)} queries)"


def _add_spf_branch(tree: Tree, node: dict[str, Any]) -> None:
    for child in node.get("children", []):
        label = Text.assemble(
            (child.get("domain", "?"), "bold"),
            f"  {child.get('total_lookups', child.get('lookups', 0))} lookups",
        )
        if child.get("error"):
            label.append(f"  {child['error']}", style="red")
        branch = tree.add(label)
        _add_spf_branch(branch, child)


def _findings_table(findings: list[dict[str, Any]]) -> RenderableType:
    if not findings:
        return Text("No findings.", style="green")
    table = Table(show_lines=False, expand=True)
    table.add_column("", no_wrap=True)
    table.add_column("code", no_wrap=True)
    table.add_column("finding and fix", overflow="fold")
    for item in findings:
        body = Text(item["message"])
        body.append("\n→ " + item["fix"], style="dim")
        table.add_row(
            Text(item["severity"], style=SEVERITY_STYLE[item["severity"]]), item["code"], body
        )
    return table


def _requirements_line(requirements: dict[str, Any]) -> Text:
    line = Text("Bulk-sender requirements: ", style="bold")
    for provider, result in requirements.items():
        met = result.get("met")
        mark, style = (
            ("met", "green")
            if met
            else (("unknown", "magenta") if met is None else ("NOT met", "red"))
        )
        line.append(f"{provider} ", style="bold")
        line.append(mark, style=style)
        if result.get("unmet"):
            line.append(f" ({', '.join(result['unmet'])})", style=style)
        line.append("  ")
    return line
