"""``POST /webhooks/{source}`` for every provider, through the app with its lifespan (store,
group-commit writer, outbound HTTP) running: what each answer means for the store.

SES certificates and subscription confirmations are fetched for real: an HTTPS server on
127.0.0.1 plays ``sns.us-east-1.amazonaws.com`` (tests/zones/amazonaws.com.zone points the
name there through the test DNS server).

Replays: an identical replay of a *stored* request is refused with 403 by the providers with
one-time tokens (SendGrid, Mailgun, Mandrill, Resend/Svix, SES/SNS: ``replay_checked``), and
answered 200 with every event a duplicate by those with credentials only (Postmark,
SparkPost, Mailjet, Brevo, generic).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deliverwatch.config import Config, DnsSettings, HttpSettings, ServerSettings
from deliverwatch.events.providers.base import WebhookRequest
from deliverwatch.service import webhooks
from deliverwatch.service.app import create_app
from deliverwatch.store import create_engine, open_store
from tests.events.support import (
    CERT_URL,
    NOW,
    SIGNERS,
    Signer,
    fixture_bytes,
    forge,
    sns_identity,
    sns_sign,
)
from tests.servers.dnsserver import DNSServer
from tests.servers.https import HTTPSServer
from tests.service.support import (
    SAMPLES,
    broken_sample,
    http_headers,
    running,
    sign,
    source_config,
)

IDS = [signer.provider for signer in SIGNERS]
SNS_HOST = "sns.us-east-1.amazonaws.com"
MAX_BODY = 64_000
BATCHES = {"sendgrid", "mandrill", "sparkpost", "mailjet", "generic"}


@pytest.fixture(scope="module")
def sns_endpoint() -> Iterator[HTTPSServer]:
    """Amazon SNS: the signing certificate, and the SubscribeURL of the fixture."""
    with HTTPSServer([SNS_HOST]) as server:
        server.route(SNS_HOST, CERT_URL.removeprefix(f"https://{SNS_HOST}"), sns_identity()[1])
        server.route(SNS_HOST, subscribe_path(), "<ConfirmSubscriptionResponse/>")
        yield server


def subscription_message() -> dict[str, Any]:
    message: dict[str, Any] = json.loads(fixture_bytes("ses", "sns-subscription-confirmation.json"))
    return message | {"SigningCertURL": CERT_URL}


def subscribe_path() -> str:
    return str(subscription_message()["SubscribeURL"]).removeprefix(f"https://{SNS_HOST}")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated store, copied for each test (migrating takes longer than a test)."""
    path = tmp_path_factory.mktemp("template") / "deliverwatch.db"
    open_store(f"sqlite:///{path}").dispose()
    return path


@dataclass
class Service:
    client: httpx.AsyncClient
    engine: Engine

    async def post(
        self, signer: Signer, request: WebhookRequest, source: str = ""
    ) -> httpx.Response:
        name = source or signer.source().name
        return await self.client.post(
            f"/webhooks/{name}", content=request.body, headers=http_headers(request)
        )

    def stored(self, provider: str | None = None) -> int:
        query = "SELECT COUNT(*) FROM events" + (" WHERE provider = :p" if provider else "")
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text(query), {"p": provider}).scalar_one())


@pytest.fixture(params=["fast-path", "route"])
def via(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Webhook posts go to the plain ASGI handler; with it off, through the FastAPI route.
    Both must answer alike."""
    if request.param == "route":
        monkeypatch.setattr(webhooks, "fast_path_source", lambda scope: None)
    return str(request.param)


@pytest.fixture
async def service(
    tmp_path: Path,
    template: Path,
    dns_server: DNSServer,
    sns_endpoint: HTTPSServer,
    via: str,
) -> AsyncIterator[Service]:
    database = tmp_path / "deliverwatch.db"
    shutil.copy(template, database)
    config = Config(
        database_url=f"sqlite:///{database}",
        dns=DnsSettings(nameservers=[dns_server.address], timeout=1.0),
        http=HttpSettings(
            allow_private=True, ca_bundle=str(sns_endpoint.ca_file), https_port=sns_endpoint.port
        ),
        server=ServerSettings(max_body_bytes=MAX_BODY),
        sources=[source_config(signer.source()) for signer in SIGNERS],
    )
    engine = create_engine(config.database_url)
    app = create_app(config, engine=engine, now=lambda: NOW)
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://dw") as client:
        yield Service(client, engine)
    engine.dispose()


# --- accepted ---------------------------------------------------------------------------


@pytest.mark.parametrize("signer", SIGNERS, ids=IDS)
async def test_signed_request_is_stored(service: Service, signer: Signer) -> None:
    response = await service.post(signer, signer.signed())
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] > 0
    assert answer == {
        "accepted": answer["accepted"],
        "inserted": answer["accepted"],
        "duplicates": 0,
        "expired": 0,
    }
    assert service.stored() == answer["accepted"]


@pytest.mark.parametrize("signer", SIGNERS, ids=IDS)
async def test_identical_replay_is_refused_or_a_duplicate(service: Service, signer: Signer) -> None:
    request = signer.signed()
    first = (await service.post(signer, request)).json()
    again = await service.post(signer, request)
    if signer.replay_checked:  # a one-time token, recorded with the stored events
        assert again.status_code == 403, again.text
        assert again.json() == {"error": "replayed request"}
    else:  # credentials only: the ESP's retry is stored once
        assert again.status_code == 200, again.text
        assert again.json()["inserted"] == 0
        assert again.json()["duplicates"] == first["accepted"]
    assert service.stored() == first["inserted"]


#: Not for Resend, whose event id is the Svix message id, also its one-time token (a delivery
#: with a new id is a new event, one with the same id a replay), nor Mandrill, which signs
#: only the URL and the body: the same events posted again bear the same signature, its
#: one-time token, and are refused as a replay for a day.
REDELIVERED = [s for s in SIGNERS if s.provider not in ("resend", "mandrill")]


@pytest.mark.parametrize("signer", REDELIVERED, ids=lambda s: s.provider)
async def test_a_new_delivery_of_the_same_events_is_a_duplicate(
    service: Service, signer: Signer
) -> None:
    """An ESP sending the same events again with a fresh signature: 200, nothing new."""
    raw = fixture_bytes(signer.provider, SAMPLES[signer.provider])
    first = await service.post(signer, sign(signer, raw, nonce="a"))
    second = await service.post(signer, sign(signer, raw, nonce="b"))
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert second.json()["inserted"] == 0
    assert second.json()["duplicates"] == first.json()["accepted"] > 0
    assert service.stored() == first.json()["inserted"]


# --- refused: nothing stored --------------------------------------------------------------


@pytest.mark.parametrize("signer", SIGNERS, ids=IDS)
async def test_wrong_key_or_credentials_is_403(service: Service, signer: Signer) -> None:
    response = await service.post(signer, signer.signed(wrong_key=True))
    assert response.status_code == 403, response.text
    assert response.json()["error"]
    assert service.stored() == 0


SIGNED_BODIES = [s for s in SIGNERS if s.signs_body]


@pytest.mark.parametrize("signer", SIGNED_BODIES, ids=lambda s: s.provider)
async def test_forged_body_is_403(service: Service, signer: Signer) -> None:
    response = await service.post(signer, forge(signer.signed()))
    assert response.status_code == 403, response.text
    assert service.stored() == 0


@pytest.mark.parametrize("signer", SIGNERS, ids=IDS)
async def test_unsigned_request_is_401(service: Service, signer: Signer) -> None:
    response = await service.post(signer, signer.unsigned())
    assert response.status_code == 401, response.text
    assert response.json()["error"]
    assert service.stored() == 0


@pytest.mark.parametrize("signer", SIGNERS, ids=IDS)
async def test_body_that_is_not_json_is_400_with_the_reason(
    service: Service, signer: Signer
) -> None:
    response = await service.post(signer, sign(signer, b'{"not": json'))
    assert response.status_code == 400, response.text
    assert "JSON" in response.json()["error"]
    assert service.stored() == 0


@pytest.mark.parametrize("signer", SIGNERS, ids=IDS)
async def test_signed_item_that_does_not_parse_is_400_naming_it(
    service: Service, signer: Signer
) -> None:
    response = await service.post(signer, sign(signer, broken_sample(signer.provider)))
    assert response.status_code == 400, response.text
    reason = response.json()["error"]
    assert "got a number" in reason
    assert reason.startswith(("item ", "message:"))
    assert service.stored() == 0


@pytest.mark.parametrize("signer", [s for s in SIGNERS if s.provider in BATCHES], ids=str)
async def test_batch_with_one_bad_item_stores_nothing_of_it(
    service: Service, signer: Signer
) -> None:
    good = fixture_bytes(signer.provider, SAMPLES[signer.provider])
    bad = broken_sample(signer.provider)
    response = await service.post(signer, sign(signer, bad, nonce="bad"))
    assert response.status_code == 400, response.text
    assert service.stored() == 0
    if signer.provider != "sparkpost":  # its first item is the broken one
        assert not response.json()["error"].startswith("item 0")
    # the ESP's corrected retry
    fixed = await service.post(signer, sign(signer, good, nonce="good"))
    assert fixed.status_code == 200, fixed.text
    assert service.stored() == fixed.json()["inserted"] > 1


async def test_unknown_source_is_404(service: Service) -> None:
    signer = SIGNERS[0]
    response = await service.post(signer, signer.signed(), source="nobody")
    assert response.status_code == 404
    assert "nobody" in response.json()["error"]
    assert service.stored() == 0


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_body_over_the_limit_is_413(service: Service, chunked: bool) -> None:
    signer = next(s for s in SIGNERS if s.provider == "generic")
    line = fixture_bytes("generic", "events.jsonl").splitlines()[0] + b"\n"
    body = line * (MAX_BODY // len(line) + 1)
    request = replace(sign(signer, body), content_type="application/json")

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = await service.client.post(
        f"/webhooks/{signer.source().name}",
        content=stream() if chunked else body,
        headers=http_headers(request),
    )
    assert response.status_code == 413, response.text
    assert str(MAX_BODY) in response.json()["error"]
    assert service.stored() == 0


# --- SES through SNS ----------------------------------------------------------------------


async def test_ses_certificate_is_fetched_over_https_once(
    service: Service, sns_endpoint: HTTPSServer
) -> None:
    signer = next(s for s in SIGNERS if s.provider == "ses")
    path = CERT_URL.removeprefix(f"https://{SNS_HOST}")
    before = sns_endpoint.hits.count((SNS_HOST, path))
    for nonce in "123":
        response = await service.post(signer, signer.signed(nonce=nonce))
        assert response.status_code == 200, response.text
    assert sns_endpoint.hits.count((SNS_HOST, path)) == before + 1  # then cached


async def test_sns_subscription_is_confirmed_by_getting_the_subscribe_url(
    service: Service, sns_endpoint: HTTPSServer
) -> None:
    signer = next(s for s in SIGNERS if s.provider == "ses")
    body = json.dumps(sns_sign(subscription_message())).encode()
    request = WebhookRequest(
        body=body, headers={"x-amz-sns-message-type": "SubscriptionConfirmation"}
    )
    response = await service.post(signer, request)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "accepted": 0,
        "control": "subscription_confirmation",
        "confirmed": True,
    }
    assert (SNS_HOST, subscribe_path()) in sns_endpoint.hits
    assert service.stored() == 0


async def test_sns_subscription_that_cannot_be_confirmed_is_502(
    service: Service, sns_endpoint: HTTPSServer
) -> None:
    signer = next(s for s in SIGNERS if s.provider == "ses")
    message = subscription_message()
    message["SubscribeURL"] = f"https://{SNS_HOST}/?Action=ConfirmSubscription&Token=unknown"
    request = WebhookRequest(body=json.dumps(sns_sign(message)).encode(), headers={})
    response = await service.post(signer, request)
    assert response.status_code == 502, response.text  # 404 upstream: SNS will retry
    assert (SNS_HOST, "/?Action=ConfirmSubscription&Token=unknown") in sns_endpoint.hits
