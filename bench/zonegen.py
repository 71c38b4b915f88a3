"""Zone files for the throughput benchmark: ``d0001.bench.test`` … as real sending domains.

Each domain is its own zone (SOA, NS, apex A) publishing what a typical sender does:

* SPF: an ``ip4:`` of its own and two shared ESP includes that nest one more level
  (``include:_spf.esp-a…`` → two netblock includes; ``esp-b`` → ``a:`` + include, or ``esp-c``
  → ``mx:`` + include), every fourth also ``mx``: 6–7 DNS-querying terms per domain;
* DMARC ``p=none|quarantine|reject`` with ``rua`` to the domain itself, every third also to an
  external report vendor (``vendor-dmarc.test``, authorized by its ``_report._dmarc`` record);
* two MX hosts of its own, with A records and PTRs that confirm them (every fourth ``mx1``
  also has an AAAA with an ip6.arpa PTR);
* DKIM keys at one or two common selectors (one 2048-bit RSA key, generated once, reused);
* MTA-STS TXT on every second domain, TLS-RPT on every second or fifth, BIMI on every fifth
  enforcing one.

Addresses come from 198.18.0.0/15 (RFC 2544, benchmarking) and 2001:db8::/32 (documentation):
nothing here is ever connected to, the tools only read the records.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from pathlib import Path

PARENT = "bench.test"
VENDOR = "vendor-dmarc.test"
SOA = "ns1.{parent}. hostmaster.{parent}. 1 3600 600 86400 300"
#: DKIM selector sets, cycled over the domains (all among the common selectors both checkers
#: of the world guess: Google Workspace, Microsoft 365, Mailchimp, generic).
SELECTOR_SETS: tuple[tuple[str, ...], ...] = (
    ("google",),
    ("selector1", "selector2"),
    ("s1",),
    ("k1", "default"),
)
POLICIES = ("reject", "quarantine", "none")
IP6_PREFIX = "2001:db8:19::"
ESP_A_SPF = "v=spf1 include:_nb1.esp-a.bench.test include:_nb2.esp-a.bench.test ~all"
ESP_B_SPF = "v=spf1 a:relay.esp-b.bench.test include:_spf2.esp-b.bench.test ~all"


@dataclass(frozen=True)
class BenchZones:
    directory: Path
    domains: list[str]
    files: list[Path]
    domains_file: Path


def dkim_public_key() -> str:
    """The base64 SubjectPublicKeyInfo of one fresh 2048-bit RSA key (``p=`` of a DKIM record)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def txt(text: str) -> str:
    """A TXT rdata in zone-file syntax, split into character-strings of at most 255 octets."""
    chunks = [text[i : i + 250] for i in range(0, len(text), 250)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


def domain_name(index: int) -> str:
    return f"d{index:04d}.{PARENT}"


def _mx_address(index: int, host: int) -> str:
    """198.19.x.y, unique per (domain, MX host)."""
    n = 2 * index + host
    return f"198.19.{n // 250}.{n % 250 + 1}"


def _mx_address6(index: int) -> str:
    return str(ipaddress.IPv6Address(IP6_PREFIX) + index)


def _reverse4(address: str) -> str:
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa."


def _reverse6(address: str) -> str:
    nibbles = ipaddress.IPv6Address(address).exploded.replace(":", "")
    return ".".join(reversed(nibbles)) + ".ip6.arpa."


def domain_zone(index: int, dkim_key: str) -> tuple[str, list[str], list[str]]:
    """Zone text of domain ``index`` (1-based), plus its PTR lines (v4, v6) for reverse zones."""
    name = domain_name(index)
    policy = POLICIES[index % 3]
    lines = [
        "$TTL 300",
        f"@ SOA {SOA.format(parent=PARENT)}",
        f"@ NS ns1.{PARENT}.",
        f"@ NS ns2.{PARENT}.",
        f"@ A 198.18.200.{index % 250 + 1}",
    ]
    second_esp = (
        "include:_spf.esp-c.bench.test" if index % 3 == 0 else "include:_spf.esp-b.bench.test"
    )
    mx_term = " mx" if index % 4 == 0 else ""
    spf = (
        f"v=spf1{mx_term} ip4:198.18.{128 + index % 64}.{index % 250 + 1}"
        f" include:_spf.esp-a.bench.test {second_esp} ~all"
    )
    lines.append(f"@ TXT {txt(spf)}")
    lines.append(f"@ TXT {txt(f'google-site-verification=bench{index:04d}')}")
    rua = f"mailto:dmarc@{name}"
    if index % 3 == 1:
        rua += f",mailto:rua@{VENDOR}"
    lines.append(f"_dmarc TXT {txt(f'v=DMARC1; p={policy}; rua={rua}; adkim=r; aspf=r')}")
    ptr4: list[str] = []
    ptr6: list[str] = []
    for host in (1, 2):
        lines.append(f"@ MX {10 * host} mx{host}.{name}.")
        address = _mx_address(index, host)
        lines.append(f"mx{host} A {address}")
        ptr4.append(f"{_reverse4(address)} PTR mx{host}.{name}.")
    if index % 4 == 0:
        address6 = _mx_address6(index)
        lines.append(f"mx1 AAAA {address6}")
        ptr6.append(f"{_reverse6(address6)} PTR mx1.{name}.")
    dkim_record = txt(f"v=DKIM1; k=rsa; p={dkim_key}")
    for selector in SELECTOR_SETS[index % len(SELECTOR_SETS)]:
        lines.append(f"{selector}._domainkey TXT {dkim_record}")
    if index % 2 == 0:
        lines.append(f"_mta-sts TXT {txt(f'v=STSv1; id=2024{index:04d}T000000')}")
        lines.append(f"mta-sts A 198.18.201.{index % 250 + 1}")
    if index % 2 == 0 or index % 5 == 0:
        lines.append(f"_smtp._tls TXT {txt(f'v=TLSRPTv1; rua=mailto:tlsrpt@{name}')}")
    if index % 5 == 0 and policy != "none":
        bimi = f"v=BIMI1; l=https://{name}/brand/logo.svg; a="
        lines.append(f"default._bimi TXT {txt(bimi)}")
    return "\n".join(lines) + "\n", ptr4, ptr6


def shared_zones() -> dict[str, str]:
    """The parent zone, the ESPs' SPF trees and the DMARC report vendor."""
    soa = f"$TTL 300\n@ SOA {SOA.format(parent=PARENT)}\n@ NS ns1.{PARENT}.\n"
    return {
        PARENT: soa + "ns1 A 198.18.255.1\nns2 A 198.18.255.2\n",
        f"esp-a.{PARENT}": soa
        + f"_spf TXT {txt(ESP_A_SPF)}\n"
        + f"_nb1 TXT {txt('v=spf1 ip4:198.18.64.0/20 ip4:198.18.80.0/20 ~all')}\n"
        + f"_nb2 TXT {txt('v=spf1 ip6:2001:db8:a::/48 ip4:198.18.96.0/22 ~all')}\n",
        f"esp-b.{PARENT}": soa
        + f"_spf TXT {txt(ESP_B_SPF)}\n"
        + "relay A 198.18.100.10\n"
        + f"_spf2 TXT {txt('v=spf1 ip4:198.18.104.0/21 -all')}\n",
        f"esp-c.{PARENT}": soa
        + f"_spf TXT {txt('v=spf1 mx:esp-c.bench.test include:_nb.esp-c.bench.test ~all')}\n"
        + "@ MX 10 mx.esp-c.bench.test.\nmx A 198.18.112.25\n"
        + f"_nb TXT {txt('v=spf1 ip4:198.18.113.0/24 ~all')}\n",
        VENDOR: soa.replace(PARENT, VENDOR) + f"@ MX 10 mx.{VENDOR}.\nmx A 198.18.114.25\n",
    }


def write_zones(directory: Path, count: int, dkim_key: str | None = None) -> BenchZones:
    """Write ``count`` domain zones and the shared ones to ``directory``; one file per zone."""
    directory.mkdir(parents=True, exist_ok=True)
    key = dkim_key or dkim_public_key()
    files: list[Path] = []
    ptr4: list[str] = []
    ptr6: list[str] = []
    vendor_auth: list[str] = []
    domains = []
    for index in range(1, count + 1):
        name = domain_name(index)
        domains.append(name)
        text, v4, v6 = domain_zone(index, key)
        ptr4 += v4
        ptr6 += v6
        if index % 3 == 1:  # RFC 7489 §7.1: the vendor authorizes reports for this domain
            vendor_auth.append(f"{name}._report._dmarc TXT {txt('v=DMARC1')}")
        path = directory / f"{name}.zone"
        path.write_text(text, encoding="ascii")
        files.append(path)
    shared = shared_zones()
    shared[VENDOR] += "\n".join(vendor_auth) + "\n"
    soa = f"$TTL 300\n@ SOA {SOA.format(parent=PARENT)}\n"
    shared["19.198.in-addr.arpa"] = soa + "\n".join(ptr4) + "\n"
    six_origin = _reverse6(IP6_PREFIX).removesuffix(".")
    six_origin = six_origin[len("0.") * 20 :]  # drop the 20 host nibbles: a /48 zone
    shared[six_origin] = soa + "\n".join(ptr6) + "\n"
    for origin, text in shared.items():
        path = directory / f"{origin}.zone"
        path.write_text(text, encoding="ascii")
        files.append(path)
    domains_file = directory / "domains.txt"
    domains_file.write_text("\n".join(domains) + "\n", encoding="ascii")
    return BenchZones(directory, domains, files, domains_file)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Write the benchmark zones.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    zones = write_zones(args.directory, args.count)
    print(f"{len(zones.files)} zone files, {len(zones.domains)} domains in {zones.directory}")
