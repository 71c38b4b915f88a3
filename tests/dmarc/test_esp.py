"""Providers recognised from reverse DNS names."""

from __future__ import annotations

import pytest

from deliverwatch.dmarc.esp import Esp, esp_for


@pytest.mark.parametrize(
    ("name", "esp"),
    [
        ("mail-sor-f41.google.com", "Google"),
        ("mail-ej1-f54.google.com.", "Google"),
        ("mail-dm6nam10on2041.outbound.protection.outlook.com", "Microsoft"),
        ("o1.ptr2625.sendgrid.net", "SendGrid"),
        ("xtrwkhkc.outbound-mail.sendgrid.net", "SendGrid"),
        ("a8-30.smtp-out.amazonses.com", "Amazon SES"),
        ("e226-54.smtp-out.us-east-2.amazonses.com", "Amazon SES"),
        ("m228-4.mailgun.net", "Mailgun"),
        ("mail180-5.suw21.mcsv.net", "Mailchimp/Mandrill"),
        ("mail132-3.atl131.mandrillapp.com", "Mailchimp/Mandrill"),
        ("mta-72.mtasv.net", "Postmark"),
        ("mta134a.sparkpostmail.com", "SparkPost"),
        ("out2.zendesk.com", "Zendesk"),
        ("smtp02-ia4-sp3.mta.salesforce.com", "Salesforce"),
        ("notgoogle.com", None),
        ("google.com.attacker.test", None),
        ("mail.example.com", None),
    ],
)
def test_esp_for(name: str, esp: str | None) -> None:
    assert esp_for(name) == esp


def test_custom_table() -> None:
    assert esp_for("h1.relay.esp.test", (Esp("Test ESP", ("esp.test",)),)) == "Test ESP"
    assert esp_for("h1.relay.esp.test") is None
