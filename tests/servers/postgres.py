"""A real, throwaway PostgreSQL server for tests, and a fresh schema per test.

The session fixture :func:`postgres_server` either

* uses the database named by ``DELIVERWATCH_TEST_POSTGRES_URL``
  (``postgresql://user:password@host:port/dbname``; the user needs ``CREATE`` on it), or
* creates a cluster in a temporary directory with ``initdb`` and runs it with ``pg_ctl`` on a
  free port of 127.0.0.1 (fsync off: nothing here has to survive a crash) and uses its
  ``postgres`` database. The binaries come from ``/usr/lib/postgresql/<version>/bin``
  (Debian's ``postgresql`` package), else ``PATH``.
  PostgreSQL refuses to run as root, so under root the cluster belongs to, and the server runs
  as, the ``postgres`` user that the package creates.

Each test gets a fresh schema (:meth:`PostgresServer.create_schema`). Without binaries or a
URL the PostgreSQL tests are skipped, except under ``CI`` where they fail: a CI that silently
skipped them would hide a missing install step.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.servers.ports import free_port

ENV_URL = "DELIVERWATCH_TEST_POSTGRES_URL"
RUN_AS = "postgres"


def find_bin_dir() -> Path | None:
    """The newest PostgreSQL server binaries on this machine, or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path.parent.parent.name)],
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


class PostgresServer:
    """A database to run tests in, each in a fresh schema: our own cluster or an external one.

    A schema costs a millisecond where a database costs a few hundred; the test's URL selects
    its schema with ``options=-csearch_path=…``, so code under test sees an empty database.
    """

    def __init__(self, url: str, cluster: LocalCluster | None = None) -> None:
        self.url = make_url(url).set(drivername="postgresql+psycopg")
        self.cluster = cluster

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.url.host,
            port=self.url.port,
            user=self.url.username,
            password=self.url.password,
            dbname=self.url.database,
            autocommit=True,
        )

    def create_schema(self) -> str:
        """A new empty schema; returns a SQLAlchemy URL whose connections use it."""
        name = f"dw_test_{uuid.uuid4().hex[:16]}"
        with self._connect() as conn:
            conn.execute(f'CREATE SCHEMA "{name}"'.encode())
        url = self.url.update_query_dict({"options": f"-csearch_path={name}"})
        return url.render_as_string(hide_password=False)

    def drop_schema(self, url: str) -> None:
        name = make_url(url).query["options"]
        assert isinstance(name, str)
        name = name.removeprefix("-csearch_path=")
        assert name.startswith("dw_test_")
        with self._connect() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'.encode())

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()


class LocalCluster:
    """``initdb`` + ``pg_ctl start`` in a temporary directory; :meth:`stop` removes it all."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="deliverwatch-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._user: str | None = None
        if os.geteuid() == 0:
            account = pwd.getpwnam(RUN_AS)  # KeyError: no postgres user (install the package)
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._user = RUN_AS

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        extra: dict[str, Any] = {}
        if self._user is not None:
            extra = {"user": self._user, "group": self._user, "extra_groups": []}
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=120, cwd=self.root, **extra
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{log}"
            )
        return result

    def start(self) -> str:
        self._run(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        )
        for attempt in range(3):  # the free port can be taken before the server binds it
            self.port = free_port()
            options = (
                f"-h 127.0.0.1 -p {self.port} -k {self.root} -F "
                "-c full_page_writes=off -c synchronous_commit=off -c max_connections=50"
            )
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                    "start",
                )
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    external = os.environ.get(ENV_URL)
    if external:
        yield PostgresServer(external)
        return
    bin_dir = find_bin_dir()
    if bin_dir is None:
        reason = (
            f"PostgreSQL tests need the server binaries (apt-get install postgresql) or {ENV_URL}"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = LocalCluster(bin_dir)
    try:
        server = PostgresServer(cluster.start(), cluster)
    except BaseException:
        cluster.stop()
        raise
    yield server
    server.stop()
