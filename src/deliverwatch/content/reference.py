"""The generated part of ``docs/lint.md``: every code, and the subject trigger patterns.

Regenerate in place with ``python -m deliverwatch.content.reference --write docs/lint.md``
(or print it without ``--write``); a test fails when the file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

from deliverwatch.content.catalogue import codes_markdown
from deliverwatch.content.rules.headers import SUBJECT_PATTERNS

BEGIN: Final = "<!-- BEGIN GENERATED: python -m deliverwatch.content.reference -->"
END: Final = "<!-- END GENERATED -->"


def patterns_markdown() -> str:
    lines = [
        "| pattern | catches | regular expression (case-insensitive) |",
        "| --- | --- | --- |",
    ]
    for pattern in SUBJECT_PATTERNS:
        regex = pattern.pattern.pattern.replace("|", "\\|")
        lines.append(f"| `{pattern.id}` | {pattern.description} | `{regex}` |")
    return "\n".join(lines) + "\n"


def reference_markdown() -> str:
    return (
        "## Subject patterns (`header.subject_spammy`)\n\n"
        + patterns_markdown()
        + "\n## Codes\n\n"
        + codes_markdown()
    )


def replace_generated(document: str) -> str:
    """``document`` with the text between the markers replaced by the current reference."""
    head, begin, rest = document.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"markers {BEGIN!r} … {END!r} not found")
    return f"{head}{BEGIN}\n\n{reference_markdown()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--write":
        path = Path(argv[1])
        path.write_text(replace_generated(path.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    if argv:
        print("usage: python -m deliverwatch.content.reference [--write docs/lint.md]")
        return 2
    print(reference_markdown(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
