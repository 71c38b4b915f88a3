"""A real HTTPS server on 127.0.0.1 for tests of outbound fetches.

It presents a certificate for the given host names, signed by a throwaway CA generated at
start (``ca_file`` is the PEM to trust), and serves routes keyed by ``Host`` header and path.
Besides ordinary responses a route can misbehave::

    server.route("mta-sts.big.test", "/x", behaviour="endless")  # body never ends
    server.route("mta-sts.slow.test", "/x", behaviour="drip")    # a byte every 50 ms, forever
    server.route("mta-sts.hang.test", "/x", behaviour="hang")    # never answers

Clients connect to ``server.port`` with the host names resolving to 127.0.0.1 (the test DNS
zones do that). ``server.hits`` records every ``(host, path)`` requested.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import shutil
import ssl
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from deliverwatch.http import HttpSettings

CHUNK = b"x" * 16384
BEHAVIOURS = {"normal", "endless", "drip", "hang"}


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)
    behaviour: str = "normal"


def make_certificates(directory: Path, hostnames: Iterable[str]) -> tuple[Path, Path, Path]:
    """A CA and a leaf certificate for ``hostnames`` (plus 127.0.0.1): (ca, cert, key) files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "deliverwatch test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "deliverwatch test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = (directory / name for name in ("ca.pem", "cert.pem", "key.pem"))
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


class HTTPSServer:
    """Threaded HTTPS server; use as a context manager or call start()/stop()."""

    def __init__(self, hostnames: Iterable[str] = ("localhost",)) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="deliverwatch-https-"))
        self.ca_file, cert_file, key_file = make_certificates(self._dir, hostnames)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert_file, key_file)
        self.routes: dict[tuple[str, str], Route] = {}
        self.hits: list[tuple[str, str]] = []
        self.stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler, self)
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def route(
        self,
        host: str,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        content_type: str = "text/plain",
        headers: Mapping[str, str] | None = None,
        behaviour: str = "normal",
    ) -> None:
        """Serve ``body`` at ``https://<host><path>``; ``host="*"`` matches any host."""
        assert behaviour in BEHAVIOURS, behaviour
        data = body.encode() if isinstance(body, str) else body
        self.routes[(host.lower(), path)] = Route(
            status, data, content_type, dict(headers or {}), behaviour
        )

    def lookup(self, host: str, path: str) -> Route | None:
        return self.routes.get((host, path)) or self.routes.get(("*", path))

    def start(self) -> HTTPSServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="https-test-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(10)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> HTTPSServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops concurrent connects (1 s SYN retry)

    def __init__(self, address: tuple[str, int], handler: Any, owner: HTTPSServer) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """TLS handshake in the request's own thread, so a stalled client blocks only itself."""
        request.settimeout(10)
        try:
            tls = self.owner.context.wrap_socket(request, server_side=True)
        except (OSError, ValueError):
            return  # the client rejected our certificate or hung up
        try:
            _Handler(tls, client_address, self)
        except OSError:
            pass
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-body is what several tests do on purpose


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection; bodies end at close

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        if host.startswith("["):
            host = self.headers.get("Host", "").lower()
        owner.hits.append((host, self.path))
        route = owner.lookup(host, self.path)
        if route is None:
            route = Route(status=404, body=b"not found")
        if route.behaviour == "hang":
            owner.stopping.wait()
            return
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.behaviour == "normal":
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if route.behaviour == "normal":
            self.wfile.write(route.body)
        elif route.behaviour == "endless":
            while not owner.stopping.is_set():
                self.wfile.write(CHUNK)
        elif route.behaviour == "drip":
            while not owner.stopping.wait(0.05):
                self.wfile.write(b"x")
                self.wfile.flush()


def trusting_settings(server: HTTPSServer, **overrides: object) -> HttpSettings:
    """Fetcher settings that reach ``server``: its CA trusted, its port used, loopback allowed."""
    values: dict[str, object] = {
        "timeout": 10.0,
        "allow_private": True,
        "ca_bundle": str(server.ca_file),
        "https_port": server.port,
    }
    values.update(overrides)
    return HttpSettings(**values)  # type: ignore[arg-type]
