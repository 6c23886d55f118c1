"""Running and administering the service: `serve` and the `db` group (upgrade, backup, restore)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from vertebro.cli.common import fail, main


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="TCP port.")
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Run the service: web pages at /app, the HTTP API (OpenAPI docs at /docs). Settings come
    from VERTEBRO_* variables (see vertebro.settings); SQLite is migrated automatically,
    PostgreSQL needs `db upgrade`."""
    import logging
    import os

    import uvicorn

    from vertebro.settings import Settings, SettingsError

    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        fail(str(exc))
    if not settings.database_url.startswith("sqlite"):
        from sqlalchemy.exc import SQLAlchemyError

        from vertebro.adapters.db.migrate import current_revision, head_revision
        from vertebro.adapters.db.repository import make_database

        db = make_database(settings.database_url)
        try:
            behind = current_revision(db.engine) != head_revision()
        except SQLAlchemyError as exc:
            # The driver's text may quote the URL with its password: name the class only.
            fail(f"cannot reach the database at start-up ({type(exc).__name__}); check "
                  "VERTEBRO_DATABASE_URL and that the server is running")
        finally:
            db.dispose()
        if behind:
            fail("the database schema is not current: run `vertebro db upgrade` first")
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        "vertebro.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level=settings.log_level.lower(),
    )


@main.group("db")
def db_group() -> None:
    """The service's database (VERTEBRO_DATABASE_URL, default SQLite under VERTEBRO_HOME)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Apply the shipped migrations."""
    import os

    from vertebro.adapters.db.migrate import current_revision, upgrade
    from vertebro.adapters.db.repository import make_database
    from vertebro.settings import Settings, SettingsError

    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        fail(str(exc))
    db = make_database(settings.database_url)
    try:
        upgrade(db.engine, revision)
        click.echo(f"database at revision {current_revision(db.engine)}")
    finally:
        db.dispose()


def _database_url() -> str:
    """The service's database URL, read as `vertebro serve` reads it (only the two variables
    that name it: a backup needs no secrets)."""
    import os

    from vertebro.settings import Settings

    names = ("VERTEBRO_DATABASE_URL", "VERTEBRO_HOME")
    return Settings.from_env({n: os.environ[n] for n in names if n in os.environ}).database_url


@db_group.command("backup")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def db_backup(out: Path) -> None:
    """Back up the database to OUT, with OUT.manifest.json beside it (safe while serving).

    SQLite: the online backup API. PostgreSQL: pg_dump custom format (pg_dump on PATH).
    """
    from vertebro.adapters.db.backup import BackupError, backup, manifest_path

    try:
        manifest = backup(_database_url(), out, now=dt.datetime.now(dt.UTC))
    except BackupError as exc:
        fail(str(exc))
        return
    click.echo(f"backup written: {out} ({manifest.dialect}, {manifest.backup_bytes:,} bytes, "
               f"sha256 {manifest.backup_sha256[:16]})")
    click.echo(f"  schema revision {manifest.schema_revision}; "
               f"{sum(manifest.tables.values()):,} rows in {len(manifest.tables)} tables")
    for table, rows in sorted(manifest.tables.items()):
        click.echo(f"    {table:<28} {rows:>10,}")
    for table, digest in sorted(manifest.digests.items()):
        click.echo(f"  {table}: {manifest.tables.get(table, 0):,} rows, sha256 {digest[:16]}")
    click.echo(f"manifest: {manifest_path(out)} (keep it with the backup)")


@db_group.command("restore")
@click.argument("source", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
def db_restore(source: Path, force: bool) -> None:
    """Restore the backup IN (made by `db backup`) into the database and verify it: schema
    revision, rows per table and the audit trail against the backup's manifest.

    Stop the service first. A database that holds data is refused unless --force.
    """
    from vertebro.adapters.db.backup import BackupError, restore

    try:
        done = restore(_database_url(), source, force=force)
    except BackupError as exc:
        fail(str(exc))
        return
    manifest = done.manifest
    replaced = (f"; replaced {sum(done.replaced.values()):,} rows" if done.replaced else "")
    click.echo(f"restored {source} (made {manifest.created_at:%Y-%m-%d %H:%M} UTC) into "
               f"{done.target}{replaced}")
    click.echo(f"  verified: schema revision {done.schema_revision}; "
               f"{sum(done.tables.values()):,} rows in {len(done.tables)} tables, "
               "each table's count as backed up")
    for table in sorted(manifest.digests):
        click.echo(f"  verified: {table} identical ({done.tables.get(table, 0):,} rows, "
                   f"sha256 {manifest.digests[table][:16]}), append-only trigger in place")
    if done.schema_revision != done.head_revision:
        click.echo(f"  the schema is at {done.schema_revision}; this version needs "
                   f"{done.head_revision}: run `vertebro db upgrade` before serving")
