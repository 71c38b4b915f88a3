"""A real Dovecot IMAP server on 127.0.0.1 for tests (Debian's ``dovecot-imapd``).

The server runs from its own ``dovecot.conf`` in a temporary directory (``dovecot -F -c``; the
system config in /etc/dovecot is never read), on free ports of 127.0.0.1, with:

* a passwd-file of users (plain-text passwords; plain-text auth allowed on loopback),
* a Maildir per user with ``Junk`` (SPECIAL-USE ``\\Junk``) and ``Trash`` (``\\Trash``),
  created at first login, plus any folders a test asks for,
* optionally TLS (``tls=True``): a throwaway CA and certificate (``tests/servers/https.py``);
  ``ca_file`` is the PEM to trust, ``imaps_port`` the implicit-TLS port, and the plain port
  offers STARTTLS.

Use::

    with DovecotServer(tls=True) as dovecot:
        dovecot.add_user("seed1@test.example", "pw", folders=["Bulk"])
        dovecot.deliver("seed1@test.example", b"Subject: hi\\r\\n\\r\\nbody\\r\\n", folder="Junk")
        imaplib.IMAP4("127.0.0.1", dovecot.port).login("seed1@test.example", "pw")
        dovecot.messages("seed1@test.example", "INBOX")   # -> list of raw messages

The API other tests reuse (DMARC mailbox polling, placement):

``add_user(name, password, *, folders=(), wait=True)``
    Adds a user with a Maildir holding INBOX, ``Junk``, ``Trash`` and ``folders`` (IMAP
    names, ``/`` between levels). Dovecot re-reads the passwd-file at most once a second, so
    by default this polls until the user can log in (``wait=False`` to add many, then
    ``wait_for_login(last_user)``).
``deliver(user, message, *, folder="INBOX", flags="") -> Path``
    Drops raw bytes into the folder as a new message (written to ``tmp/`` then renamed into
    ``new/``, the Maildir way, so Dovecot never sees half a file). ``flags="S"`` marks it seen.
``messages(user, folder="INBOX") -> list[bytes]``
    What the folder holds now (new and cur), e.g. to check what a client deleted or moved.
``port`` / ``imaps_port`` / ``host`` / ``ca_file``
    Where to connect and, with TLS, what to trust.

Dovecot refuses to run as root without users to drop to: under root the login and internal
processes run as Debian's ``dovenull``/``dovecot`` users (made by the package) and mail is owned
by ``nobody``; otherwise everything runs as the current user.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from tests.servers.https import make_certificates
from tests.servers.ports import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
AVAILABLE = Path(DOVECOT).exists() and Path("/usr/lib/dovecot/imap").exists()
SKIP_REASON = "dovecot not installed (apt-get install dovecot-imapd)"


def _maildir_path(root: Path, folder: str) -> Path:
    """Maildir++ layout: INBOX is the root, ``a/b`` is ``.a.b``."""
    if folder.upper() == "INBOX":
        return root
    return root / ("." + folder.replace("/", "."))


class DovecotServer:
    """Start with :meth:`start` (or ``with``); :meth:`stop` kills it and removes its files."""

    def __init__(self, *, tls: bool = False) -> None:
        self.host = "127.0.0.1"
        self.tls = tls
        self.dir = Path(tempfile.mkdtemp(prefix="deliverwatch-dovecot-"))
        self.dir.chmod(0o755)  # mail processes (nobody) must reach the homes below
        self.port = free_port()
        self.imaps_port = free_port() if tls else 0
        self.ca_file: Path | None = None
        self.users: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            mail = pwd.getpwnam("nobody")
            self.uid, self.gid = mail.pw_uid, mail.pw_gid
            self._internal, self._login = "dovecot", "dovenull"
        else:
            me = pwd.getpwuid(os.geteuid())
            self.uid, self.gid = me.pw_uid, me.pw_gid
            self._internal = self._login = me.pw_name
        (self.dir / "passwd").write_text("")
        (self.dir / "passwd").chmod(0o644)
        (self.dir / "homes").mkdir(mode=0o755)

    # -- users and mail ------------------------------------------------------------------------

    def home(self, user: str) -> Path:
        return self.dir / "homes" / user

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        return _maildir_path(self.home(user) / "Maildir", folder)

    def add_user(
        self, user: str, password: str, *, folders: Iterable[str] = (), wait: bool = True
    ) -> None:
        if ":" in user or ":" in password or "\n" in password:
            raise ValueError("passwd-file fields cannot hold ':' or newlines")
        self.users[user] = password
        for folder in ["INBOX", "Junk", "Trash", *folders]:
            path = self.maildir(user, folder)
            for sub in ("cur", "new", "tmp"):
                (path / sub).mkdir(parents=True, exist_ok=True)
            if folder.upper() != "INBOX":
                subscriptions = self.maildir(user) / "subscriptions"
                with subscriptions.open("a") as stream:
                    stream.write(folder + "\n")
        self._chown_tree(self.home(user))
        line = f"{user}:{{PLAIN}}{password}:{self.uid}:{self.gid}::{self.home(user)}\n"
        with (self.dir / "passwd").open("a") as stream:
            stream.write(line)
        if wait and self._process is not None:
            self.wait_for_login(user)

    def wait_for_login(self, user: str, seconds: float = 10.0) -> None:
        """Poll until Dovecot accepts ``user``'s login: its passwd-file is re-read at most
        once a second, so a user added right after a login is not known at once."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                client = imaplib.IMAP4(self.host, self.port, timeout=5)
                try:
                    client.login(user, self.users[user])
                finally:
                    client.logout()
                return
            except (imaplib.IMAP4.error, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def deliver(self, user: str, message: bytes, *, folder: str = "INBOX", flags: str = "") -> Path:
        if user not in self.users:
            raise KeyError(f"no such user {user!r}")
        path = self.maildir(user, folder)
        if not path.exists():
            raise KeyError(f"{user} has no folder {folder!r}")
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.dwtest"
        temporary = path / "tmp" / name
        temporary.write_bytes(message.replace(b"\r\n", b"\n"))  # Maildir files use LF
        if self.uid != os.geteuid():
            os.chown(temporary, self.uid, self.gid)
        if flags:
            final = path / "cur" / f"{name}:2,{''.join(sorted(flags))}"
        else:
            final = path / "new" / name
        temporary.rename(final)
        return final

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        path = self.maildir(user, folder)
        files = sorted([*(path / "new").iterdir(), *(path / "cur").iterdir()])
        return [file.read_bytes() for file in files if file.is_file()]

    def _chown_tree(self, top: Path) -> None:
        if self.uid == os.geteuid():
            return
        for root, dirs, files in os.walk(top):
            os.chown(root, self.uid, self.gid)
            for name in [*dirs, *files]:
                os.chown(Path(root) / name, self.uid, self.gid)

    # -- the server ----------------------------------------------------------------------------

    def _config(self) -> str:
        d = self.dir
        ssl = "no"
        listeners = (
            f"  inet_listener imap {{\n    address = 127.0.0.1\n    port = {self.port}\n  }}\n"
        )
        if self.tls:
            ssl = f"yes\nssl_cert = <{d / 'cert.pem'}\nssl_key = <{d / 'key.pem'}"
            listeners += (
                f"  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {self.imaps_port}\n"
                "    ssl = yes\n  }\n"
            )
        return f"""\
base_dir = {d / "run"}
state_dir = {d / "state"}
instance_name = dwtest-{d.name}
log_path = {d / "dovecot.log"}
protocols = imap
listen = 127.0.0.1
ssl = {ssl}
disable_plaintext_auth = no
auth_failure_delay = 0
auth_mechanisms = plain login
default_internal_user = {self._internal}
default_login_user = {self._login}
first_valid_uid = {min(self.uid, 500) or 1}
first_valid_gid = {min(self.gid, 500) or 1}
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d / "passwd"}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d / "passwd"}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Junk {{
    special_use = \\Junk
    auto = create
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = create
  }}
}}
service imap-login {{
{listeners}  process_min_avail = 1
  client_limit = 1000
}}
service imap {{
  process_limit = 1024
}}
service anvil {{
  client_limit = 2000
  # no auth penalty: one seed's wrong password must not slow every login from 127.0.0.1
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service auth {{
  client_limit = 2000
}}
default_client_limit = 2000
default_process_limit = 1024
"""

    def start(self) -> DovecotServer:
        if not AVAILABLE:
            raise RuntimeError(SKIP_REASON)
        if self.tls:
            self.ca_file, _, _ = make_certificates(self.dir, ["localhost", "imap.test"])
            (self.dir / "key.pem").chmod(0o600)
        for sub in ("run", "state"):
            (self.dir / sub).mkdir(exist_ok=True)
        conf = self.dir / "dovecot.conf"
        conf.write_text(self._config())
        with (self.dir / "stderr.log").open("wb") as stderr:  # the child keeps its own copy
            self._process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=stderr
            )
        deadline = time.monotonic() + 30
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.log()[-3000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(200).startswith(b"* OK"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("dovecot did not greet within 30 s")
            time.sleep(0.05)
        return self

    def log(self) -> str:
        parts = [self.dir / "stderr.log", self.dir / "dovecot.log"]
        return "".join(p.read_text(errors="replace") for p in parts if p.exists())

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
