"""Which folders of a seed mailbox to search, and what a Gmail label means (pure functions).

The junk folder is found two ways, because providers differ:

* SPECIAL-USE ``\\Junk`` (RFC 6154) in the ``LIST`` response — Dovecot, Fastmail, Gmail;
* by name — ``[Gmail]/Spam``, Outlook's ``Junk Email``, Yahoo's ``Bulk``, ``Spam``, ``Junk`` —
  for servers that do not mark it.

Gmail files everything under "All Mail" and shows the inbox split in category tabs; over IMAP
the category is visible through its X-GM-EXT-1 extension (``X-GM-LABELS`` and ``X-GM-RAW``
``category:`` searches). A message in INBOX under a category other than Primary is a ``tab``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FolderKind = Literal["inbox", "spam"]

#: Junk folder names (compared case-insensitively with the full name and the last level).
JUNK_NAMES = (
    "[gmail]/spam",
    "[google mail]/spam",
    "junk email",
    "junk e-mail",
    "bulk",
    "bulk mail",
    "spam",
    "junk",
)
#: Gmail's category tabs besides Primary, as ``X-GM-RAW "category:<name>"`` spells them.
GMAIL_CATEGORIES = ("promotions", "social", "updates", "forums")
_UNSELECTABLE = {"\\noselect", "\\nonexistent"}
_LIST = re.compile(r'^\((?P<flags>[^)]*)\)\s+(?P<delim>"(?:[^"\\]|\\.)*"|NIL)\s+(?P<name>.*)$')


@dataclass(frozen=True)
class Mailbox:
    name: str  # as the server spells it (quoted or not), ready to send back
    flags: frozenset[str]  # lower-case, with the backslash
    delimiter: str | None

    @property
    def plain_name(self) -> str:
        name = self.name
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = re.sub(r"\\(.)", r"\1", name[1:-1])
        return name

    @property
    def selectable(self) -> bool:
        return not (self.flags & _UNSELECTABLE)


def parse_list_line(line: bytes | str | tuple[bytes, bytes]) -> Mailbox | None:
    """One ``LIST`` response item as imaplib returns it (a literal name comes as a tuple)."""
    if isinstance(line, tuple):
        head, literal = line
        text = head.decode("utf-8", "replace")
        text = re.sub(r"\{\d+\}$", "", text).rstrip() + " " + _quote(literal.decode("utf-8"))
    else:
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    match = _LIST.match(text.strip())
    if match is None:
        return None
    delimiter = match.group("delim")
    flags = frozenset(flag.lower() for flag in match.group("flags").split())
    name = match.group("name").strip()
    return Mailbox(
        name=name, flags=flags, delimiter=None if delimiter == "NIL" else delimiter[1:-1]
    )


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quoted(name: str) -> str:
    """A mailbox name ready for a command (always quoted; already-quoted names kept)."""
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return name
    return _quote(name)


def is_junk(mailbox: Mailbox, extra_names: tuple[str, ...] = ()) -> bool:
    if "\\junk" in mailbox.flags:
        return True
    full = mailbox.plain_name.lower()
    last = full.rsplit(mailbox.delimiter, 1)[-1] if mailbox.delimiter else full
    names = JUNK_NAMES + tuple(n.lower() for n in extra_names)
    return full in names or last in names


def folders_to_search(
    mailboxes: list[Mailbox], extra_junk: tuple[str, ...] = ()
) -> list[tuple[str, FolderKind]]:
    """INBOX first, then every selectable junk folder (by flag or name), each once."""
    chosen: list[tuple[str, FolderKind]] = [("INBOX", "inbox")]
    seen = {"inbox"}
    for mailbox in mailboxes:
        key = mailbox.plain_name.lower()
        if key in seen or not mailbox.selectable:
            continue
        if is_junk(mailbox, extra_junk):
            chosen.append((mailbox.plain_name, "spam"))
            seen.add(key)
    return chosen


def gmail_tab(labels: list[str]) -> str | None:
    """The category tab named by Gmail labels (``X-GM-LABELS``), None for Primary/unknown.

    Gmail has exposed categories under several spellings (``CATEGORY_PROMOTIONS`` in its
    API, ``Promotions``/``\\Promotions`` or ``Categories/Promotions`` as IMAP labels); any of
    them is taken. When no label names a category, the caller asks ``X-GM-RAW``.
    """
    for label in labels:
        text = label.strip().strip('"').lstrip("\\").lower()
        text = text.removeprefix("category_").removeprefix("categories/")
        text = text.removeprefix("category/")
        if text in GMAIL_CATEGORIES:
            return text
    return None


def parse_gm_labels(fetch_line: str) -> list[str]:
    """The labels in a FETCH response part ``X-GM-LABELS (\\Inbox "Foo bar" Baz)``."""
    match = re.search(r"X-GM-LABELS \(([^)]*)\)", fetch_line, re.IGNORECASE)
    if match is None:
        return []
    return [a or b for a, b in re.findall(r'"((?:[^"\\]|\\.)*)"|(\S+)', match.group(1))]
