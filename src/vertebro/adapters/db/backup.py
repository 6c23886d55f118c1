"""Backup and restore of the service's database (`vertebro db backup OUT`, `db restore IN`).

* SQLite: the online backup API copies a consistent snapshot while the service keeps running;
  the copy is checked (`PRAGMA integrity_check`) and made a single self-contained file.
* PostgreSQL: `pg_dump` custom format (found on PATH) inside a snapshot that the backup also
  counts from (`pg_export_snapshot` / `--snapshot`), so the counts describe exactly what was
  dumped; `pg_restore --clean --single-transaction` restores all or nothing.

Beside every backup goes a manifest (`OUT.manifest.json`): the schema revision, the rows of
every table, a SHA-256 digest of each append-only table (the audit trail and case history) and
of the backup file itself. A restore checks the file against the manifest first, refuses to
overwrite a database holding data unless forced, and afterwards verifies the restored database
against the manifest: same revision, same rows per table, identical audit trail, and the
append-only triggers in place. Files are written under a temporary name and renamed, so a
failed backup never leaves a half-written file under the requested name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Connection, MetaData, Table, create_engine, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from vertebro import __version__
from vertebro.adapters.db.migrate import MIGRATIONS, head_revision
from vertebro.adapters.db.tables import APPEND_ONLY_TABLES, Base

FORMAT: Literal["vertebro-backup/1"] = "vertebro-backup/1"
Dialect = Literal["sqlite", "postgresql"]
SKIPPED_TABLES = frozenset({"alembic_version"})  # the revision is recorded on its own


class BackupError(Exception):
    """A backup or restore that cannot be done or did not verify; the message is one line."""


class Manifest(BaseModel):
    """What a backup holds, written beside it and checked by the restore."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["vertebro-backup/1"] = FORMAT
    dialect: Dialect
    created_at: dt.datetime
    vertebro_version: str
    schema_revision: str | None
    tables: dict[str, int]  # rows per table
    digests: dict[str, str]  # SHA-256 of each append-only table's rows, in id order
    backup_file: str  # the backup's file name (the manifest sits beside it)
    backup_bytes: int
    backup_sha256: str


@dataclass(frozen=True, slots=True)
class Restored:
    """What a restore did and verified."""

    manifest: Manifest
    target: str  # the database URL, password hidden
    replaced: dict[str, int]  # rows the target held before (empty unless forced)
    tables: dict[str, int]
    schema_revision: str | None
    head_revision: str | None  # what this version of vertebro needs
    protected: tuple[str, ...]  # append-only tables whose triggers are in place


def manifest_path(backup: Path) -> Path:
    """Where the manifest of a backup file goes."""
    return backup.with_name(backup.name + ".manifest.json")


# --- Backup ------------------------------------------------------------------------------------


def backup(url: str, out: Path, *, now: dt.datetime) -> Manifest:
    """Back up the database at `url` to the file `out` (and its manifest beside it).

    Raises:
        BackupError: the database cannot be read, a tool is missing, or the copy is damaged.
    """
    parsed = _url(url)
    out = out.expanduser()
    if out.is_dir():
        raise BackupError(f"{out} is a folder; give the backup file's name")
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent}: no such folder")
    partial = out.with_name(out.name + ".partial")
    try:
        if _dialect(parsed) == "sqlite":
            counts, digests, revision = _backup_sqlite(_sqlite_path(parsed, must_exist=True),
                                                       partial)
        else:
            counts, digests, revision = _backup_postgres(parsed, partial)
        size, digest = _file_digest(partial)
        manifest = Manifest(dialect=_dialect(parsed), created_at=now,
                            vertebro_version=__version__, schema_revision=revision,
                            tables=counts, digests=digests, backup_file=out.name,
                            backup_bytes=size, backup_sha256=digest)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    _write_atomically(manifest_path(out), manifest.model_dump_json(indent=2) + "\n")
    return manifest


def _backup_sqlite(path: Path, partial: Path) -> tuple[dict[str, int], dict[str, str],
                                                        str | None]:
    partial.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(path, timeout=30)) as source, \
                closing(sqlite3.connect(partial)) as copy:
            # One step (pages=-1): the whole database under one read lock, a consistent
            # snapshot even while the service writes (readers never block WAL writers).
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
            _sqlite_intact(copy, partial)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot back up: {exc}") from None
    return _describe(f"sqlite:///{partial}")


def _backup_postgres(url: URL, partial: Path) -> tuple[dict[str, int], dict[str, str],
                                                       str | None]:
    pg_dump = _tool("pg_dump")
    engine = create_engine(url.set(drivername="postgresql+psycopg"))
    try:
        with _connected(url), engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                # Count and digest in the snapshot pg_dump dumps, so the manifest describes the
                # dump exactly even while the service keeps writing.
                conn.execute(text("SET TRANSACTION READ ONLY"))
                snapshot = conn.scalar(text("SELECT pg_export_snapshot()"))
                described = _describe_connection(conn)
                _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges",
                      f"--snapshot={snapshot}", f"--file={partial}", "--dbname",
                      _libpq(url)], url, "pg_dump")
    finally:
        engine.dispose()
    _run([_tool("pg_restore"), "--list", str(partial)], url, "pg_restore --list")
    return described


# --- Restore -----------------------------------------------------------------------------------


def read_manifest(source: Path) -> Manifest:
    """The manifest beside a backup file, after checking the file against it.

    Raises:
        BackupError: no manifest, an unreadable one, or a file that does not match it.
    """
    source = source.expanduser()
    if not source.is_file():
        raise BackupError(f"{source}: no such backup file")
    where = manifest_path(source)
    try:
        manifest = Manifest.model_validate_json(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{where}: the backup's manifest is missing (it holds the counts the "
                          "restore is verified against); copy it beside the backup") from None
    except (OSError, ValidationError, ValueError) as exc:
        raise BackupError(f"{where}: not a vertebro backup manifest "
                          f"({str(exc).splitlines()[0]})") from None
    size, digest = _file_digest(source)
    if (size, digest) != (manifest.backup_bytes, manifest.backup_sha256):
        raise BackupError(f"{source}: the file does not match its manifest ({size:,} bytes, "
                          f"expected {manifest.backup_bytes:,}): damaged or another backup")
    return manifest


def restore(url: str, source: Path, *, force: bool = False) -> Restored:
    """Restore the backup `source` into the database at `url` and verify the result.

    Raises:
        BackupError: the backup is damaged or of another kind of database, the target holds
            data and `force` is false, a tool is missing, or the result does not verify.
    """
    parsed = _url(url)
    dialect = _dialect(parsed)
    manifest = read_manifest(source)
    if manifest.dialect != dialect:
        raise BackupError(f"{source} is a {manifest.dialect} backup; the database is {dialect}")
    _known_revision(manifest.schema_revision)
    existing = _existing_rows(parsed)
    held = {table: rows for table, rows in existing.items() if rows}
    if held and not force:
        summary = ", ".join(f"{rows:,} {table}" for table, rows in sorted(held.items())[:4])
        raise BackupError(f"the database {_shown(parsed)} is not empty ({summary}); restore "
                          "over it with --force")
    if dialect == "sqlite":
        _restore_sqlite(source.expanduser(), _sqlite_path(parsed, must_exist=False))
    else:
        _restore_postgres(source.expanduser(), parsed)
    return _verify(parsed, manifest, held)


def _restore_sqlite(source: Path, target: Path) -> None:
    try:
        with closing(sqlite3.connect(source)) as backup_db, \
                closing(sqlite3.connect(target, timeout=30)) as target_db:
            # The backup API replaces every page of the target in one locked step: all or
            # nothing, and connections others hold see the new content.
            backup_db.backup(target_db)
            target_db.execute("PRAGMA journal_mode=WAL")  # as the service runs it
            _sqlite_intact(target_db, target)
    except sqlite3.Error as exc:
        raise BackupError(f"{target}: restore failed: {exc}") from None


def _restore_postgres(source: Path, url: URL) -> None:
    _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
          "--single-transaction", "--exit-on-error", "--dbname", _libpq(url), str(source)],
         url, "pg_restore")


def _verify(url: URL, manifest: Manifest, replaced: dict[str, int]) -> Restored:
    counts, digests, revision = _describe(url)
    if revision != manifest.schema_revision:
        raise BackupError(f"restore did not verify: schema revision {revision}, the backup "
                          f"has {manifest.schema_revision}")
    if counts != manifest.tables:
        wrong = sorted(t for t in set(counts) | set(manifest.tables)
                       if counts.get(t) != manifest.tables.get(t))
        raise BackupError(f"restore did not verify: row counts differ in {', '.join(wrong)}")
    if digests != manifest.digests:
        wrong = sorted(t for t in digests if digests[t] != manifest.digests.get(t))
        raise BackupError(f"restore did not verify: {', '.join(wrong) or 'append-only tables'} "
                          "differ from the backup")
    protected = _protected_tables(url)
    missing = [t for t in manifest.digests if t not in protected]
    if missing:
        raise BackupError(f"restore did not verify: {', '.join(missing)} lost the triggers "
                          "that keep it append-only")
    return Restored(manifest=manifest, target=_shown(url), replaced=replaced, tables=counts,
                    schema_revision=revision, head_revision=head_revision(),
                    protected=tuple(sorted(protected)))


# --- Describing a database ---------------------------------------------------------------------


def _describe(url: URL | str) -> tuple[dict[str, int], dict[str, str], str | None]:
    """Rows per table, digests of the append-only tables and the schema revision."""
    parsed = _url(url) if isinstance(url, str) else url
    if _dialect(parsed) == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed)
    try:
        with _connected(parsed), engine.connect() as conn:
            return _describe_connection(conn)
    finally:
        engine.dispose()


def _describe_connection(conn: Connection) -> tuple[dict[str, int], dict[str, str],
                                                     str | None]:
    names = sorted(set(inspect(conn).get_table_names()) - SKIPPED_TABLES)
    counts = {name: int(conn.scalar(text(f'SELECT count(*) FROM "{name}"')) or 0)
              for name in names}
    digests = {name: _table_digest(conn, name) for name in APPEND_ONLY_TABLES if name in names}
    revision = None
    if "alembic_version" in inspect(conn).get_table_names():
        revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
    return counts, digests, revision


def _table_digest(conn: Connection, name: str) -> str:
    """SHA-256 over every row of a table in primary-key order, as canonical JSON."""
    table = Base.metadata.tables.get(name)
    if table is None:  # a table of another module's metadata: read it as the database has it
        table = Table(name, MetaData(), autoload_with=conn)
    digest = hashlib.sha256()
    rows = conn.execute(select(table).order_by(*table.primary_key.columns))
    for row in rows.mappings():
        values = {column: _plain(value) for column, value in row.items()}
        digest.update(json.dumps(values, sort_keys=True, separators=(",", ":"),
                                 ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    # SQLite hands back naive datetimes (stored in UTC), PostgreSQL aware ones.
    if isinstance(value, dt.datetime):
        aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
        return aware.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _existing_rows(url: URL) -> dict[str, int]:
    """Rows per table in the target (nothing if it does not exist yet)."""
    if _dialect(url) == "sqlite":
        path = _sqlite_path(url, must_exist=False)
        if not path.exists() or path.stat().st_size == 0:
            return {}
    counts, _digests, _revision = _describe(url)
    return counts


def _protected_tables(url: URL) -> set[str]:
    """The append-only tables that carry their UPDATE/DELETE-refusing triggers."""
    if _dialect(url) == "sqlite":
        with closing(sqlite3.connect(_sqlite_path(url, must_exist=True))) as conn:
            rows = conn.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'")
            found = {str(r[0]) for r in rows}
    else:
        engine = create_engine(url.set(drivername="postgresql+psycopg"))
        try:
            with engine.connect() as conn:
                found = {str(r[0]) for r in conn.execute(text(
                    "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE NOT t.tgisinternal"))}
        finally:
            engine.dispose()
    return found & set(APPEND_ONLY_TABLES)


def _sqlite_intact(conn: sqlite3.Connection, where: Path) -> None:
    verdict = conn.execute("PRAGMA integrity_check").fetchone()
    if verdict is None or verdict[0] != "ok":
        raise BackupError(f"{where}: integrity check failed: {verdict[0] if verdict else '?'}")


def _known_revision(revision: str | None) -> None:
    if revision is None:
        return
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        ScriptDirectory.from_config(config).get_revision(revision)
    except CommandError:
        raise BackupError(f"the backup is at schema revision {revision}, which this version of "
                          "vertebro does not know (made by a newer version?)") from None


# --- Plumbing ----------------------------------------------------------------------------------


def _url(url: str) -> URL:
    try:
        return make_url(url)
    except SQLAlchemyError:
        raise BackupError("VERTEBRO_DATABASE_URL is not a database URL") from None


def _dialect(url: URL) -> Dialect:
    name = url.get_backend_name()
    if name == "sqlite":
        return "sqlite"
    if name == "postgresql":
        return "postgresql"
    raise BackupError(f"backups cover SQLite and PostgreSQL, not {name}")


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _sqlite_path(url: URL, *, must_exist: bool) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    path = Path(url.database)
    if must_exist and not path.is_file():
        raise BackupError(f"{path}: no such database file")
    return path


@contextmanager
def _connected(url: URL) -> Iterator[None]:
    """Connection failures as one line (the driver's first line: no statement, no data)."""
    try:
        yield
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise BackupError(f"{_shown(url)}: {first}") from None


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found on PATH: install the PostgreSQL client tools "
                          "(Debian: postgresql-client-15), matching the server's major version")
    return found


def _libpq(url: URL) -> str:
    """A libpq connection URI without the password (that goes in PGPASSWORD, not argv)."""
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False)


def _run(command: list[str], url: URL, what: str) -> None:
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        raise BackupError(f"{what} failed: {lines[0] if lines else f'exit {done.returncode}'}")


def _file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _write_atomically(path: Path, content: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(content, encoding="utf-8")
    os.replace(partial, path)
