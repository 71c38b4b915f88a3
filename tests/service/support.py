"""Helpers for the service tests: configs from the event tests' signers, requests signed over
any body, and a real ``deliverwatch serve`` process."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.types import ASGIApp

from deliverwatch.config import SourceConfig
from deliverwatch.events.providers.base import SourceSettings, WebhookRequest
from tests.events.support import (
    NOW,
    BasicAuthSigner,
    MailgunSigner,
    MandrillSigner,
    SendGridSigner,
    Signer,
    SNSSigner,
    SvixSigner,
    basic,
    ecdsa_key,
    fixture_bytes,
    sns_notification,
    sns_sign,
)
from tests.servers.ports import free_port

ROOT = Path(__file__).resolve().parents[2]

#: The fixture each signer's requests are built from.
SAMPLES = {
    "sendgrid": "batch.json",
    "mailgun": "delivered.json",
    "mandrill": "events.json",
    "resend": "delivered.json",
    "ses": "delivery.json",
    **BasicAuthSigner.samples,
}


def source_config(settings: SourceSettings) -> SourceConfig:
    """The ``sources:`` entry that gives ``settings``."""
    values = {f.name: getattr(settings, f.name) for f in fields(SourceSettings)}
    values["topic_arns"] = list(settings.topic_arns)
    return SourceConfig(**{k: v for k, v in values.items() if v is not None})


def sign(signer: Signer, raw: bytes, *, nonce: str = "x", at: datetime = NOW) -> WebhookRequest:
    """A request carrying ``raw`` (a payload as in the fixtures), signed as ``signer``'s ESP
    would sign it, whatever the payload holds: for posts that verify but do not parse."""
    stamp = str(int(at.timestamp()))
    if isinstance(signer, SendGridSigner):
        signature = ecdsa_key().sign(stamp.encode() + raw, ec.ECDSA(hashes.SHA256()))
        headers = {
            "x-twilio-email-event-webhook-signature": base64.b64encode(signature).decode(),
            "x-twilio-email-event-webhook-timestamp": stamp,
        }
        return WebhookRequest(body=raw, headers=headers, content_type="application/json")
    if isinstance(signer, MailgunSigner):
        try:
            payload = json.loads(raw)
        except ValueError:
            return WebhookRequest(body=raw, headers={}, content_type="application/json")
        token = f"token-{nonce}-" + "b" * 40
        mac = hmac.new(signer.key.encode(), (stamp + token).encode(), hashlib.sha256)
        payload["signature"] = {"timestamp": stamp, "token": token, "signature": mac.hexdigest()}
        return WebhookRequest(body=json.dumps(payload).encode(), headers={})
    if isinstance(signer, MandrillSigner):
        events = raw.decode()
        signed = signer.url + "mandrill_events" + events
        digest = hmac.new(signer.key.encode(), signed.encode(), hashlib.sha1).digest()
        return WebhookRequest(
            body=("mandrill_events=" + quote(events, safe="")).encode(),
            headers={"x-mandrill-signature": base64.b64encode(digest).decode()},
            content_type="application/x-www-form-urlencoded",
        )
    if isinstance(signer, SvixSigner):
        msg_id = f"msg_service{nonce}"
        key = base64.b64decode(signer.secret[6:])
        digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + raw, hashlib.sha256).digest()
        headers = {
            "svix-id": msg_id,
            "svix-timestamp": stamp,
            "svix-signature": f"v1,{base64.b64encode(digest).decode()}",
        }
        return WebhookRequest(body=raw, headers=headers, content_type="application/json")
    if isinstance(signer, SNSSigner):
        when = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        message = sns_notification({}, message_id=f"msg-{nonce}", Timestamp=when)
        message["Message"] = raw.decode()
        body = json.dumps(sns_sign(message)).encode()
        return WebhookRequest(body=body, headers={"x-amz-sns-message-type": "Notification"})
    assert isinstance(signer, BasicAuthSigner)
    return WebhookRequest(body=raw, headers={"authorization": basic("hook", "s3cret-Pa55")})


def broken_sample(provider: str) -> bytes:
    """The provider's sample payload with one recipient turned into a number: an item that
    does not parse. In a batch it is a later item, so earlier good ones exist."""
    raw = fixture_bytes(provider, SAMPLES[provider])
    needle = b'"ana@gmail.com"'
    if provider == "ses":
        return raw.replace(needle, b"12345")
    at = raw.index(needle) if provider in ("mailgun", "sparkpost") else raw.rindex(needle)
    return raw[:at] + b"12345" + raw[at + len(needle) :]


def http_headers(request: WebhookRequest) -> dict[str, str]:
    headers = dict(request.headers)
    if request.content_type:
        headers["content-type"] = request.content_type
    return headers


@asynccontextmanager
async def running(app: ASGIApp) -> AsyncIterator[None]:
    """Run ``app``'s lifespan as a server would: startup before, shutdown after the block."""
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(message: dict[str, Any]) -> None:
        await from_app.put(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task: asyncio.Task[None] = asyncio.create_task(
        app(scope, to_app.get, send)  # type: ignore[arg-type]
    )
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    if started["type"] != "lifespan.startup.complete":
        await task
        raise RuntimeError(f"startup failed: {started}")
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        stopped = await from_app.get()
        await task
        assert stopped["type"] == "lifespan.shutdown.complete", stopped


# --- a real server process --------------------------------------------------------------


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


class Server:
    """``python -m deliverwatch serve`` on 127.0.0.1; ready once ``/healthz`` answers."""

    def __init__(
        self, config: Path, log: Path, port: int | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.config = config
        self.log = log
        self.port = port or free_port()
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Server:
        command = [sys.executable, "-m", "deliverwatch", "serve", "--config", str(self.config)]
        command += ["--host", "127.0.0.1", "--port", str(self.port), *self.args]
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.log.parent
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            try:  # waits 50 ms between polls, and notices a server that died at start
                code = self.process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(f"server exited with {code}: {self.log.read_text()[-2000:]}")
        self.kill()
        raise RuntimeError(f"server not ready in {timeout} s: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing, as a crash or the OOM killer."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int | None:
        """SIGINT, as Ctrl-C or a service manager: queued writes finish first."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode
