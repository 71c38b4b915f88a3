"""Hypothesis strategies for report-shaped dicts: the right keys with arbitrary values."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
SECTION_KEYS = st.sampled_from(
    [
        "record",
        "status",
        "dns_lookups",
        "policy",
        "subdomain_policy",
        "pct",
        "rua",
        "selectors",
        "hosts",
        "null_mx",
        "entries",
        "fetched",
        "logo_url",
        "adkim",
        "mode",
        "mx",
    ]
)
STATUS = st.sampled_from(["ok", "warning", "error", "unknown", "not_checked", None, 3])


def _entry() -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from(
        [
            "selector",
            "found",
            "key_bits",
            "record",
            "usable",
            "host",
            "preference",
            "zone",
            "subject",
            "listed",
            "codes",
            "address",
            "fcrdns",
            "id",
            "met",
            "code",
            "severity",
            "message",
        ]
    )
    values = (
        st.none()
        | st.booleans()
        | st.integers(-5, 5000)
        | st.sampled_from(
            ["s1", "s2", "a.test", "127.0.0.2", "error", "warning", "info", "spf.x", "dns.timeout"]
        )
        | JSON
    )
    return st.dictionaries(keys, values, max_size=6)


SECTION = st.dictionaries(
    SECTION_KEYS,
    STATUS
    | st.lists(_entry() | JSON, max_size=4)
    | JSON
    | st.sampled_from(["none", "reject", "quarantine", "enforce", "testing", "r", "s"]),
    max_size=8,
)
REPORT = st.fixed_dictionaries(
    {},
    optional={
        name: SECTION | JSON
        for name in ("spf", "dmarc", "dkim", "bimi", "mta_sts", "tlsrpt", "mx", "blocklists")
    }
    | {
        "findings": st.lists(_entry() | JSON, max_size=5) | JSON,
        "sending_ips": st.lists(_entry(), max_size=3) | JSON,
        "requirements": st.dictionaries(
            st.sampled_from(["google", "yahoo"]),
            st.fixed_dictionaries({"items": st.lists(_entry(), max_size=3)}) | JSON,
        )
        | JSON,
        "domain": JSON,
    },
)
