"""A throw-away PostgreSQL server for tests and benchmarks (as pytest-postgresql does):
`initdb` and `pg_ctl` on a temporary directory and a free loopback port, stopped at the end.

When run as root (PostgreSQL refuses to), the server runs as the `postgres` account (else
`nobody`) through `setpriv`. `available()` says why a server cannot be started, if it cannot.
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from vertebro.adapters.db.migrate import upgrade

USER = "vertebro"
TEMPLATE = "vertebro_template"


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / name).exists():
            return str(root / name)
    return None


def available() -> str | None:
    """None when a server can be started here, else the reason it cannot."""
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if _binary(name) is None]
    if missing:
        return f"PostgreSQL server binaries not found: {', '.join(missing)}"
    if os.geteuid() == 0 and (shutil.which("setpriv") is None or _run_as() is None):
        return "running as root without setpriv or an unprivileged account to run postgres"
    return None


def _run_as() -> pwd.struct_passwd | None:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class TemporaryPostgres:
    """A running server; `database()` makes a fresh, migrated database from a template."""

    root: Path
    port: int
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _stopped: bool = False

    @property
    def base_url(self) -> str:
        """The URL of the maintenance database."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        """The URL of a database on this server."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new database copied from the migrated template; returns its URL."""
        name = f"test_{os.getpid()}_{next(self._counter)}"
        engine = create_engine(self.base_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}'))
        engine.dispose()
        return self.url(name)

    def drop(self, url: str) -> None:
        """Drop a database made by `database()`."""
        name = url.rsplit("/", 1)[1]
        engine = create_engine(self.base_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if self._stopped:
            return
        self._stopped = True
        subprocess.run(_as_owner([_need("pg_ctl"), "-D", str(self.root / "data"), "-m",
                                  "immediate", "stop"]),
                       capture_output=True, check=False, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def _need(name: str) -> str:
    found = _binary(name)
    if found is None:
        raise RuntimeError(f"{name} not found")
    return found


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    account = _run_as()
    assert account is not None
    return ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}",
            "--clear-groups", *command]


def start() -> TemporaryPostgres:
    """Start a server with a migrated template database.

    Raises:
        RuntimeError: the server could not be started (the message says why).
    """
    reason = available()
    if reason is not None:
        raise RuntimeError(reason)
    root = Path(tempfile.mkdtemp(prefix="vertebro-pg-"))
    if os.geteuid() == 0:
        account = _run_as()
        assert account is not None
        os.chown(root, account.pw_uid, account.pw_gid)
    data = root / "data"
    port = _free_port()
    init = subprocess.run(_as_owner([_need("initdb"), "-D", str(data), "-U", USER, "-A", "trust",
                                     "-E", "UTF8", "--no-sync"]),
                          capture_output=True, text=True, check=False, timeout=120)
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr.strip()[-500:]}")
    options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off")
    started = subprocess.run(_as_owner([_need("pg_ctl"), "-D", str(data), "-o", options,
                                        "-l", str(root / "log"), "-w", "-t", "60", "start"]),
                             capture_output=True, text=True, check=False, timeout=90)
    if started.returncode != 0:
        log = (root / "log").read_text(errors="replace")[-500:] if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()} {log}")
    server = TemporaryPostgres(root, port)
    try:
        engine = create_engine(server.base_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {TEMPLATE}"))
        engine.dispose()
        template = create_engine(server.url(TEMPLATE))
        upgrade(template)
        template.dispose()
    except Exception:
        server.stop()
        raise
    return server


_SHARED: list[TemporaryPostgres] = []


def shared() -> TemporaryPostgres:
    """One server per process, started on first use and stopped when the process exits."""
    if not _SHARED:
        server = start()
        _SHARED.append(server)
        atexit.register(server.stop)
    return _SHARED[0]


def stop_shared() -> None:
    """Stop the shared server now (idempotent)."""
    for server in _SHARED:
        server.stop()
