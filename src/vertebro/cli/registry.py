"""The audit and outcomes registry: the `registry` group (import, simulate, incident)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from vertebro.adapters.errors import InputError
from vertebro.cli.common import EXIT_BAD_INPUT, fail, main, parse_date
from vertebro.cli.registry_options import (
    DATABASE_URL,
    REGISTRY_DB,
    cli_user,
    needs_organisation,
    organisation_option,
    registry_database,
    utc_now,
)


@main.group("registry")
def registry_group() -> None:
    """The audit and outcomes registry: import, simulate, export device incidents."""


def _print_import(path: Path, result: Any, skip_bad: bool) -> bool:
    """Print one file's import; True when it failed."""
    for note in result.notes:
        click.echo(f"vertebro: note: {note}", err=True)
    for problem in result.problems:
        click.echo(f"vertebro: {problem}", err=True)
    loaded = result.loaded
    counts = (
        f"{loaded['procedures']} procedures, {loaded['complications']} complications, "
        f"{loaded['follow_ups']} follow-ups"
    )
    if result.ok:
        click.echo(f"{path}: loaded {counts}")
    elif skip_bad:
        click.echo(f"{path}: loaded {counts}; skipped {result.bad_rows} bad rows")
    else:
        click.echo(
            f"{path}: {result.bad_rows} bad rows; nothing loaded "
            "(fix them, or use --skip-bad to load the good rows)"
        )
        return True
    return False


@registry_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--skip-bad", is_flag=True, help="Load the good rows of a file with bad rows.")
@organisation_option("The unit the records belong to (required for the service database).")
@REGISTRY_DB
@DATABASE_URL
def registry_import(
    files: tuple[Path, ...], skip_bad: bool, organisation: str | None, db_path: Path | None,
    database_url: str | None,
) -> None:
    """Import registry CSV files or FHIR Bundles (Procedure, Observation, AdverseEvent).

    Every bad row is reported on stderr as file:line: field: problem. A file with a bad row
    loads nothing (exit code 2) unless --skip-bad is given. Files holding procedures are
    imported first, so complications and follow-ups may name procedures from any file given
    (registry import *.csv works whatever the names). In the
    service database a procedure's case_id must name a prior-authorisation case of the unit.
    """
    from vertebro import registry_service
    from vertebro.core.registry.ports import DuplicateRecordError

    failed = False
    readings = registry_service.readings_in_order(files)
    for unreadable in (r for r in readings if isinstance(r, InputError)):
        click.echo(f"vertebro: {unreadable}", err=True)
        failed = True
    readable = [r for r in readings if not isinstance(r, InputError)]
    if db_path is not None:
        try:
            repo = registry_service.open_repository(db_path)
        except InputError as exc:
            fail(str(exc))
        for reading in readable:
            try:
                result = registry_service.store_reading(
                    reading, repo, dt.date.today(), skip_bad=skip_bad
                )
            except InputError as exc:
                click.echo(f"vertebro: {exc}", err=True)
                failed = True
                continue
            failed = _print_import(Path(reading.source), result, skip_bad) or failed
    else:
        unit = needs_organisation(organisation)
        db = registry_database(database_url)
        user = cli_user(unit)
        try:
            for reading in readable:
                try:
                    result = registry_service.import_reading(
                        db, user, reading, now=utc_now(), organisation=unit, skip_bad=skip_bad
                    )
                except (InputError, DuplicateRecordError) as exc:
                    click.echo(f"vertebro: {exc}", err=True)
                    failed = True
                    continue
                failed = _print_import(Path(reading.source), result, skip_bad) or failed
        finally:
            db.dispose()
    if failed:
        sys.exit(EXIT_BAD_INPUT)


@registry_group.command("simulate")
@click.option("--n", "count", type=int, default=10000, show_default=True, help="Procedures.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--from", "start_text", default="2023-01-01", show_default=True, metavar="DATE")
@click.option("--to", "end_text", default="2025-12-31", show_default=True, metavar="DATE")
@click.option("--as-of", "as_of_text", metavar="DATE", help="Read the registry on (default today).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write files into this folder instead of storing them.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "fhir"]),
    default="csv",
    show_default=True,
    help="With --out: three CSV files or one FHIR Bundle.",
)
@organisation_option("The unit the records belong to (required for the service database).")
@REGISTRY_DB
@DATABASE_URL
def registry_simulate(
    count: int,
    seed: int,
    start_text: str,
    end_text: str,
    as_of_text: str | None,
    out_dir: Path | None,
    fmt: str,
    organisation: str | None,
    db_path: Path | None,
    database_url: str | None,
) -> None:
    """Make a synthetic registry with plausible rates (for tests, benchmarks and demos)."""
    from typing import Literal

    from vertebro import registry_service
    from vertebro.core.registry.ports import DuplicateRecordError

    start = parse_date(start_text, "--from")
    end = parse_date(end_text, "--to")
    as_of = parse_date(as_of_text, "--as-of") or dt.date.today()
    assert start is not None and end is not None
    try:
        registry = registry_service.simulate_registry(
            count, seed=seed, start=start, end=end, as_of=as_of
        )
    except InputError as exc:
        fail(exc.message)
    sizes = (
        f"{len(registry.procedures)} procedures, {len(registry.complications)} complications, "
        f"{len(registry.follow_ups)} follow-ups"
    )
    if out_dir is not None:
        kind: Literal["csv", "fhir"] = "fhir" if fmt == "fhir" else "csv"
        written = registry_service.write_registry(registry, out_dir, kind)
        click.echo(f"wrote {sizes} to {', '.join(str(p) for p in written)}")
        return
    if db_path is not None:
        try:
            repo = registry_service.open_repository(db_path)
            repo.add(registry)
        except InputError as exc:
            fail(str(exc))
        except DuplicateRecordError:
            fail(f"{db_path}: already holds simulated records (use another --db, or --seed)")
        click.echo(f"stored {sizes} in {db_path}")
        return
    unit = needs_organisation(organisation)
    db = registry_database(database_url)
    try:
        registry_service.store_registry(db, cli_user(unit), registry, now=utc_now(),
                                        organisation=unit)
    except DuplicateRecordError:
        fail(f"{unit} already holds simulated records in the service database "
              "(use another --organisation, or --seed)")
    finally:
        db.dispose()
    click.echo(f"stored {sizes} for {unit} in the service database")


@registry_group.command("incident")
@click.argument("complication_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "pdf", "html"]),
    default="json",
    show_default=True,
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (PDF default: incident-ID.pdf).",
)
@click.option("--reporter", "reporter_name", help="Your name.")
@click.option("--role", help="Your profession or role.")
@click.option("--organisation", help="Your organisation (in the service database: the unit "
              "whose complication it is, when several hold that id).")
@click.option("--email", help="Your email.")
@click.option("--phone", help="Your telephone.")
@REGISTRY_DB
@DATABASE_URL
def registry_incident(
    complication_id: str,
    fmt: str,
    out_path: Path | None,
    reporter_name: str | None,
    role: str | None,
    organisation: str | None,
    email: str | None,
    phone: str | None,
    db_path: Path | None,
    database_url: str | None,
) -> None:
    """A device adverse incident report for a complication, ready to check and file.

    Nothing is submitted anywhere. Fields the registry cannot fill are listed on stderr.
    """
    from vertebro import registry_service
    from vertebro.core.registry.incident import Reporter

    reporter = Reporter(
        name=reporter_name, role=role, organisation=organisation, email=email, phone=phone
    )
    if db_path is not None:
        try:
            repo = registry_service.open_repository(db_path)
            report = registry_service.incident(
                repo, complication_id, reporter=reporter, report_date=dt.date.today()
            )
        except InputError as exc:
            fail(exc.message if exc.source == "incident" else str(exc))
    else:
        db = registry_database(database_url)
        try:
            report = registry_service.incident_from_database(
                db, cli_user(organisation), complication_id, reporter=reporter,
                report_date=dt.date.today(), now=utc_now(), organisation=organisation,
            )
        except InputError as exc:
            fail(exc.message)
        except registry_service.RegistryNotFound:
            fail(f"no complication {complication_id!r} in the registry")
        except registry_service.RegistryAmbiguous as exc:
            fail(f"{exc} with --organisation")
        finally:
            db.dispose()
    if fmt == "json":
        text = report.model_dump_json(indent=2)
        if out_path is None:
            click.echo(text)
        else:
            out_path.write_text(text + "\n", encoding="utf-8")
    elif fmt == "html":
        html = registry_service.render_incident_html(report)
        if out_path is None:
            click.echo(html)
        else:
            out_path.write_text(html, encoding="utf-8")
    else:
        out_path = out_path or Path(f"incident-{complication_id}.pdf")
        out_path.write_bytes(registry_service.render_incident_pdf(report))
    if out_path is not None:
        click.echo(f"wrote {out_path} (a draft: not submitted anywhere)", err=True)
    if report.missing:
        click.echo(f"vertebro: to complete before filing: {', '.join(report.missing)}", err=True)
