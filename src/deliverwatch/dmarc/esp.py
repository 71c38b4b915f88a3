"""Which email service provider a sending host belongs to, from its reverse DNS name.

Matching is by domain suffix on the PTR name (``a8-30.smtp-out.amazonses.com`` ends in
``amazonses.com``). Only forward-confirmed names are attributed (``rdns.py``): anyone can
point the reverse DNS of their own address at ``google.com``, not the forward DNS.
Dedicated IPs with the customer's own reverse DNS are not recognised; they group under the
customer's domain instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Esp:
    name: str
    #: Domains whose hosts send this provider's mail (PTR names end in one of them).
    suffixes: tuple[str, ...]


ESPS: tuple[Esp, ...] = (
    Esp("Google", ("google.com", "googlemail.com", "1e100.net")),
    Esp("Microsoft", ("outlook.com", "hotmail.com", "live.com", "microsoft.com", "msn.com")),
    Esp("Yahoo", ("yahoo.com", "yahoo.net", "yahoodns.net")),
    Esp("Apple iCloud", ("icloud.com", "me.com", "apple.com")),
    Esp("Zoho", ("zoho.com", "zoho.eu", "zohomail.com")),
    Esp("Fastmail", ("messagingengine.com", "fastmail.com")),
    Esp("SendGrid", ("sendgrid.net", "sendgrid.com")),
    Esp("Amazon SES", ("amazonses.com",)),
    Esp("Mailgun", ("mailgun.net", "mailgun.org", "mailgun.info")),
    Esp("Mailchimp/Mandrill", ("mcsv.net", "mcdlv.net", "rsgsv.net", "mandrillapp.com")),
    Esp("Postmark", ("mtasv.net", "postmarkapp.com")),
    Esp("SparkPost", ("sparkpostmail.com",)),
    Esp("Mailjet", ("mailjet.com",)),
    Esp("Brevo", ("sendinblue.com", "brevo.com")),
    Esp("HubSpot", ("hubspotemail.net",)),
    Esp("Klaviyo", ("klaviyomail.com",)),
    Esp("Constant Contact", ("constantcontact.com",)),
    Esp("Zendesk", ("zendesk.com",)),
    Esp("Salesforce", ("salesforce.com", "exacttarget.com")),
    Esp("Proofpoint", ("pphosted.com",)),
    Esp("Mimecast", ("mimecast.com",)),
)

_BY_SUFFIX = {suffix: esp.name for esp in ESPS for suffix in esp.suffixes}


def esp_for(name: str, table: tuple[Esp, ...] | None = None) -> str | None:
    """The provider whose domain ``name`` (a host name) is in, or None."""
    by_suffix = _BY_SUFFIX if table is None else {s: e.name for e in table for s in e.suffixes}
    labels = name.lower().rstrip(".").split(".")
    for start in range(len(labels) - 1):
        found = by_suffix.get(".".join(labels[start:]))
        if found is not None:
            return found
    return None
