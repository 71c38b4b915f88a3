"""The built-in lint rules: one small function per rule, ``rule(message, options) -> findings``.

Offline rules live in :mod:`.headers`, :mod:`.structure` and :mod:`.links`; the rules that
need the network (DKIM keys, link probes, URI blocklists) in :mod:`.dkim` and
:mod:`.linkcheck`, called by :func:`deliverwatch.content.lint.lint` when given the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from deliverwatch.content.findings import LintFinding
from deliverwatch.content.message import Message
from deliverwatch.content.options import LintOptions
from deliverwatch.content.rules import headers, links, structure

Rule = Callable[[Message, LintOptions], Iterable[LintFinding]]

BUILT_IN: tuple[Rule, ...] = (*headers.RULES, *structure.RULES, *links.RULES)

__all__ = ["BUILT_IN", "Rule"]
