"""The command line: thin wrappers that parse arguments, call services and print."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from vertebro import __version__
from vertebro.adapters import policy_files
from vertebro.adapters.errors import InputError
from vertebro.core.catalogue import CATALOGUE
from vertebro.policy_tests import Verdict, run_policy_tests
from vertebro.render import render_assessment, render_policy, render_summary
from vertebro.report import AssessmentReport
from vertebro.services import assess_inputs

EXIT_BAD_INPUT = 2
_COLOURS = {"met": "green", "not-met": "red", "unknown": "yellow", "heading": "cyan"}


def _styler(enabled: bool):  # type: ignore[no-untyped-def]
    def style(text: str, role: str) -> str:
        colour = _COLOURS.get(role)
        return click.style(text, fg=colour, bold=role == "heading") if enabled and colour else text

    return style


def _fail(message: str) -> None:
    click.echo(f"vertebro: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _parse_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: {value!r} is not a date YYYY-MM-DD")
        raise AssertionError("unreachable") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vertebro")
def main() -> None:
    """vertebro: cited, three-valued policies for vertebroplasty, kyphoplasty and sacroplasty."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--policy",
    "policy_name",
    required=True,
    help="A policy id (carefirst, nice) or the path of a policy.yaml.",
)
@click.option(
    "--as-of",
    "as_of_text",
    metavar="YYYY-MM-DD",
    help="Assess as of this date (default: the request's date, else today).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def assess(paths: tuple[Path, ...], policy_name: str, as_of_text: str | None, fmt: str) -> None:
    """Assess case files (or folders of them) against a policy.

    JSON output is one object per input (JSON Lines when there are several). A bad input is
    reported on stderr in one line; the others are still assessed; the exit code is then 2.
    """
    as_of = _parse_date(as_of_text, "--as-of")
    if not policy_name.endswith((".yaml", ".yml", ".json")) and "/" not in policy_name:
        try:
            policy_files.versions_of(policy_name)
        except InputError as exc:
            _fail(exc.message)
    style = _styler(fmt == "text" and sys.stdout.isatty())
    failed = False
    reports: list[AssessmentReport] = []
    for item in assess_inputs(list(paths), policy_name, as_of=as_of, today=dt.date.today()):
        for warning in item.warnings:
            click.echo(f"vertebro: warning: {item.input}: {warning}", err=True)
        if item.error is not None:
            failed = True
            click.echo(f"vertebro: {item.error}", err=True)
            continue
        assert item.report is not None
        if fmt == "json":
            click.echo(item.report.model_dump_json())
        else:
            if reports:
                click.echo("\n" + "─" * 72)
            click.echo(render_assessment(item.report, style), nl=False)
        reports.append(item.report)
    if fmt == "text" and len(reports) > 1:
        click.echo("\n" + "═" * 72)
        click.echo(render_summary(reports, style), nl=False)
    if failed:
        sys.exit(EXIT_BAD_INPUT)


@main.command("test")
@click.option("--policy", "policy_ids", multiple=True, help="Only this policy id (repeatable).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--coverage/--no-coverage",
    default=False,
    help="Also list criteria lacking a met, not-met or unknown case.",
)
def test_policies(policy_ids: tuple[str, ...], fmt: str, coverage: bool) -> None:
    """Run the test cases shipped with each policy. Fails when a case fails or none ran."""
    try:
        versions = [v for pid in policy_ids for v in policy_files.versions_of(pid)] or list(
            policy_files.shipped()
        )
    except InputError as exc:
        _fail(str(exc))
    runs = [run_policy_tests(version) for version in versions]
    results = [r for run in runs for r in run.results]
    counts = {v: sum(r.verdict is v for r in results) for v in Verdict}
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "results": [
                        {
                            "policy": r.policy,
                            "file": r.file,
                            "case": r.name,
                            "verdict": r.verdict.value,
                            "problems": list(r.problems),
                        }
                        for r in results
                    ],
                    "summary": {v.value: n for v, n in counts.items()},
                    "coverage_gaps": {run.policy: run.coverage_gaps() for run in runs},
                },
                indent=2,
            )
        )
    else:
        for r in results:
            if r.verdict is not Verdict.PASS:
                click.echo(f"{r.verdict.value:5} {r.policy}: {r.file}: {r.name}")
                for problem in r.problems:
                    click.echo(f"        {problem}")
        if coverage:
            for run in runs:
                for node_id, statuses in run.coverage_gaps().items():
                    click.echo(
                        f"GAP   {run.policy}: {node_id} has no passing case for "
                        f"{', '.join(statuses)}"
                    )
        ran = counts[Verdict.PASS] + counts[Verdict.FAIL] + counts[Verdict.ERROR]
        failed = counts[Verdict.FAIL] + counts[Verdict.ERROR]
        click.echo(
            f"{counts[Verdict.PASS]} passed, {failed} failed, {counts[Verdict.SKIP]} skipped "
            f"({ran} policy cases in {len(runs)} policies)"
        )
    if not runs or not all(run.ok for run in runs):
        if not any(r.verdict is not Verdict.SKIP for r in results):
            click.echo("vertebro: no policy test case ran", err=True)
        sys.exit(1)


@main.command("policies")
def list_policies() -> None:
    """List the shipped policies and their versions."""
    for version in policy_files.shipped():
        p = version.policy
        until = p.effective_to or "open"
        click.echo(f"{p.id:<10} {p.version:<8} {p.effective_from} – {until}  {p.title}")


@main.command("policy")
@click.argument("policy_id")
@click.option("--version", "version", help="A version (default: the newest).")
def show_policy(policy_id: str, version: str | None) -> None:
    """Print a policy as a readable, cited Markdown document."""
    try:
        versions = policy_files.versions_of(policy_id)
    except InputError as exc:
        _fail(exc.message)
    chosen = [v for v in versions if version is None or v.policy.version == version]
    if not chosen:
        _fail(
            f"{policy_id} has no version {version!r}; versions: "
            f"{', '.join(v.policy.version for v in versions)}"
        )
    click.echo(render_policy(chosen[-1].policy), nl=False)


@main.command("facts")
def list_facts() -> None:
    """List every fact a case or policy may use, with its type and question."""
    for spec in CATALOGUE.values():
        values = f" ({', '.join(spec.choices)})" if spec.choices else ""
        click.echo(f"{spec.name:<40} {spec.type.value:<8} {spec.question}{values}")


@main.command("prepare")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--procedure-date",
    "date_text",
    required=True,
    metavar="YYYY-MM-DD",
    help="The day of the procedure (today or later).",
)
@click.option(
    "--time",
    "time_text",
    metavar="HH:MM",
    help="The procedure time, 24-hour clock. Without it, fasting is given in hours.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html", "pdf"]),
    default="text",
    show_default=True,
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.option(
    "--pathway",
    "pathway_name",
    metavar="NAME|PATH",
    help="A shipped pathway name or a pathway YAML path (default: royal-berkshire-2026).",
)
@click.option(
    "--today",
    "today_text",
    metavar="YYYY-MM-DD",
    help="Take this date as today (for reproducible examples).",
)
def prepare(
    path: Path,
    date_text: str,
    time_text: str | None,
    fmt: str,
    output: Path | None,
    pathway_name: str | None,
    today_text: str | None,
) -> None:
    """Prepare a patient: safety checks, a dated plan, consent figures and a patient leaflet.

    PATH is a case file (or any input `assess` reads). html and pdf give the patient leaflet.
    Flags for the clinician (a blood thinner without a cited rule, a missing time, ...) are in
    the output and, for json, html and pdf, also on stderr as warnings. Bad input: one line on
    stderr and exit code 2.
    """
    from vertebro import prepare_service

    procedure_date = _parse_date(date_text, "--procedure-date")
    assert procedure_date is not None
    today = _parse_date(today_text, "--today") or dt.date.today()
    procedure_time = None
    if time_text is not None:
        text = time_text.strip()
        if not text:
            _fail("--time: no time given; use HH:MM (24-hour clock) or leave the option out")
        try:
            hours, minutes = text.split(":")
            procedure_time = dt.time(int(hours), int(minutes))
            if len(minutes) != 2:
                raise ValueError(text)
        except ValueError:
            _fail(f"--time: {time_text!r} is not a time HH:MM (24-hour clock)")
    if fmt == "pdf" and output is None and sys.stdout.isatty():
        _fail("--format pdf writes a binary file: give --output FILE or redirect standard output")
    try:
        report = prepare_service.prepare(
            path,
            procedure_date=procedure_date,
            procedure_time=procedure_time,
            today=today,
            pathway=pathway_name,
        )
    except InputError as exc:
        _fail(str(exc))
    if fmt != "text":
        for line in prepare_service.warnings(report):
            click.echo(f"vertebro: warning: {line}", err=True)
    if fmt == "pdf":
        data = prepare_service.render_pdf(report)
    elif fmt == "html":
        data = prepare_service.render_html(report).encode("utf-8")
    elif fmt == "json":
        data = (report.model_dump_json(indent=2) + "\n").encode("utf-8")
    else:
        data = prepare_service.render_text(report).encode("utf-8")
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        _fail(f"{output}: {exc.strerror or 'cannot be written'}")


# --- clinical coding (issue 4) -----------------------------------------------------------------


@main.command("code")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--system",
    "system_name",
    type=click.Choice(["opcs4", "icd10", "cpt", "icd10cm", "uk", "us", "all"]),
    default="all",
    show_default=True,
    help="The code system(s): uk = OPCS-4 + ICD-10, us = CPT + ICD-10-CM.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def code(paths: tuple[Path, ...], system_name: str, fmt: str) -> None:
    """Code operative notes (.txt) or FHIR Bundles of Procedure/Condition (.json), or folders.

    Codes are listed per system in reporting order with their confidence; codes not confirmed
    against an official source are marked UNCONFIRMED (or left open) with the question to ask.
    JSON output is one object per input (JSON Lines when there are several). A bad input is
    reported on stderr in one line and the others still coded; the exit code is then 2.
    """
    from vertebro import coding_service

    style = _styler(fmt == "text" and sys.stdout.isatty())
    try:
        systems = coding_service.systems_of(system_name)
        items = list(coding_service.code_inputs(list(paths), systems))
    except InputError as exc:
        _fail(str(exc))
    failed = False
    for index, item in enumerate(items):
        if item.result is None:
            failed = True
            click.echo(f"vertebro: {item.error}", err=True)
            continue
        if fmt == "json":
            click.echo(item.result.model_dump_json())
        else:
            if index:
                click.echo("─" * 72)
            click.echo(coding_service.render_coded(item.result, style), nl=False)
    if failed:
        sys.exit(EXIT_BAD_INPUT)


@main.command("claim-check")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--payer",
    default="all",
    show_default=True,
    help="Billing rules to apply: carefirst, medicare, cpt or all (CPT conventions always apply).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def claim_check(bundle: Path, payer: str, fmt: str) -> None:
    """Check the FHIR Claim(s) in BUNDLE against payer billing rules, citing each rule's source.

    Exit code 1 when a finding would deny payment, 2 on bad input, else 0.
    """
    from vertebro import coding_service

    try:
        reports = coding_service.check_claims(bundle, payer)
    except InputError as exc:
        _fail(str(exc))
    style = _styler(fmt == "text" and sys.stdout.isatty())
    for index, report in enumerate(reports):
        if fmt == "json":
            click.echo(report.model_dump_json())
        else:
            if index:
                click.echo("─" * 72)
            click.echo(coding_service.render_claim(report, style), nl=False)
    if any(f.severity == "deny" for r in reports for f in r.findings):
        sys.exit(1)


_SYSTEMS = click.Choice(["opcs4", "icd10", "cpt", "icd10cm"])


@main.group("codes")
def codes_group() -> None:
    """The code tables: shipped subsets, or official releases you load (which replace them)."""


@codes_group.command("list")
@click.option("--system", "system_name", type=_SYSTEMS, help="Only this system.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def codes_list(system_name: str | None, fmt: str) -> None:
    """List the codes in use with their source and confidence."""
    from vertebro import coding_service
    from vertebro.core.coding.tables import CodeSystem

    system = CodeSystem(system_name) if system_name else None
    try:
        rows = coding_service.table_rows(system=system)
        concepts = coding_service.concept_rows(system=system)
    except InputError as exc:
        _fail(str(exc))
    if fmt == "json":
        payload = {
            "codes": [r.model_dump() for r in rows],
            "crosswalk": [c.model_dump() for c in concepts],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    current = None
    for r in rows:
        if (r.system, r.label) != current:
            current = (r.system, r.label)
            click.echo(f"{r.system} — {r.origin}: {r.label}")
        click.echo(f"  {r.code:<9} {r.confidence:<12} {r.title}  [{r.source}]")
    if concepts:
        click.echo("crosswalk (what the rules use)")
    for c in concepts:
        code = c.code or "(open)"
        click.echo(f"  {c.system:<8} {c.concept:<32} {code:<7} {c.confidence:<12} {c.meaning}")
        if c.problem:
            click.echo(f"           ! {c.problem}")


@codes_group.command("load")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--system", "system_name", type=_SYSTEMS, required=True, help="The file's code system."
)
def codes_load(file: Path, system_name: str) -> None:
    """Load an official release FILE; it replaces the shipped table of its system.

    \b
    opcs4    NHS England TRUD OPCS-4 Codes and Titles TXT (code TAB title)
    icd10    tab-separated with CODE and DESCRIPTION columns, or code TAB title
    icd10cm  CMS icd10cm_order_YYYY.txt or icd10cm_codes_YYYY.txt
    cpt      code TAB descriptor (a licensed AMA file)
    any      a vertebro table file (YAML) in the shipped format
    The copy is kept in $VERTEBRO_HOME/codes (default ~/.local/share/vertebro/codes).
    """
    from vertebro import coding_service
    from vertebro.core.coding.tables import CodeSystem

    try:
        now = dt.datetime.now(dt.UTC)
        message = coding_service.load_release(file, CodeSystem(system_name), now)
    except InputError as exc:
        _fail(str(exc))
    click.echo(message)


@codes_group.command("unload")
@click.option("--system", "system_name", type=_SYSTEMS, required=True)
def codes_unload(system_name: str) -> None:
    """Remove a loaded release so the shipped table applies again."""
    from vertebro.adapters import code_tables
    from vertebro.core.coding.tables import CodeSystem

    removed = code_tables.unload(CodeSystem(system_name), code_tables.user_home())
    click.echo(f"{system_name}: {'loaded release removed' if removed else 'no release was loaded'}")


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
        _fail(str(exc))
    if not settings.database_url.startswith("sqlite"):
        from sqlalchemy.exc import SQLAlchemyError

        from vertebro.adapters.db.migrate import current_revision, head_revision
        from vertebro.adapters.db.repository import make_database

        db = make_database(settings.database_url)
        try:
            behind = current_revision(db.engine) != head_revision()
        except SQLAlchemyError as exc:
            # The driver's text may quote the URL with its password: name the class only.
            _fail(f"cannot reach the database at start-up ({type(exc).__name__}); check "
                  "VERTEBRO_DATABASE_URL and that the server is running")
        finally:
            db.dispose()
        if behind:
            _fail("the database schema is not current: run `vertebro db upgrade` first")
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
        _fail(str(exc))
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
        _fail(str(exc))
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
        _fail(str(exc))
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


# --- The audit and outcomes registry ------------------------------------------------------------
#
# The registry lives in the service database (VERTEBRO_DATABASE_URL, or the SQLite default), so
# that what the API and the web pages record is what the report reads; `--db FILE` (or
# VERTEBRO_REGISTRY_DB) keeps a registry in a SQLite file of its own instead.

_REGISTRY_DB = click.option(
    "--db",
    "db_path",
    envvar="VERTEBRO_REGISTRY_DB",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A registry SQLite file of its own (or set VERTEBRO_REGISTRY_DB); without it, the "
    "service database.",
)
_F = TypeVar("_F", bound=Callable[..., Any])
_DATABASE_URL = click.option(
    "--database-url",
    "database_url",
    metavar="URL",
    help="The service database (default: VERTEBRO_DATABASE_URL, else the SQLite default).",
)


def _organisation_option(help_text: str) -> Callable[[_F], _F]:
    return click.option("--organisation", "organisation", metavar="ORG", help=help_text)


def _registry_database(database_url: str | None) -> Any:
    """The service database, migrated (SQLite) or checked to be current (others)."""
    import os

    from vertebro.adapters.db.migrate import current_revision, head_revision, upgrade
    from vertebro.adapters.db.repository import make_database
    from vertebro.settings import Settings, SettingsError

    url = database_url
    if url is None:
        try:
            url = Settings.from_env(os.environ).database_url
        except SettingsError as exc:
            _fail(str(exc))
    assert url is not None
    try:
        db = make_database(url)
        if db.engine.dialect.name == "sqlite":
            upgrade(db.engine)
        elif current_revision(db.engine) != head_revision():
            db.dispose()
            _fail("the database schema is not current: run `vertebro db upgrade` first")
    except Exception as exc:  # a bad URL, an unreachable server, a file that is not SQLite
        _fail(f"cannot open the service database: {type(exc).__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''}")
    return db


def _cli_user(organisation: str | None) -> Any:
    """The person at the command line: an operator with the database's credentials."""
    import getpass

    from vertebro.registry_service import RegistryUser
    from vertebro.settings import Role

    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no account name in this environment (containers)
        login = "unknown"
    return RegistryUser(f"cli:{login}", f"{login} (command line)", Role.ADMIN,
                        organisation or "command-line")


def _needs_organisation(organisation: str | None) -> str:
    if not organisation:
        _fail("--organisation ORG is required to write to the service database (the unit the "
              "records belong to), or pass --db FILE")
    assert organisation is not None
    return organisation


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
@_organisation_option("The unit the records belong to (required for the service database).")
@_REGISTRY_DB
@_DATABASE_URL
def registry_import(
    files: tuple[Path, ...], skip_bad: bool, organisation: str | None, db_path: Path | None,
    database_url: str | None,
) -> None:
    """Import registry CSV files or FHIR Bundles (Procedure, Observation, AdverseEvent).

    Every bad row is reported on stderr as file:line: field: problem. A file with a bad row
    loads nothing (exit code 2) unless --skip-bad is given. Files are read in order, so a
    complications or follow-ups file may refer to procedures from an earlier one. In the
    service database a procedure's case_id must name a prior-authorisation case of the unit.
    """
    from vertebro import registry_service
    from vertebro.core.registry.ports import DuplicateRecordError

    failed = False
    if db_path is not None:
        try:
            repo = registry_service.open_repository(db_path)
        except InputError as exc:
            _fail(str(exc))
        for path in files:
            try:
                result = registry_service.import_file(
                    path, repo, today=dt.date.today(), skip_bad=skip_bad
                )
            except InputError as exc:
                click.echo(f"vertebro: {exc}", err=True)
                failed = True
                continue
            failed = _print_import(path, result, skip_bad) or failed
    else:
        unit = _needs_organisation(organisation)
        db = _registry_database(database_url)
        user = _cli_user(unit)
        try:
            for path in files:
                try:
                    result = registry_service.import_file_to_database(
                        path, db, user, now=_now(), organisation=unit, skip_bad=skip_bad
                    )
                except (InputError, DuplicateRecordError) as exc:
                    click.echo(f"vertebro: {exc}", err=True)
                    failed = True
                    continue
                failed = _print_import(path, result, skip_bad) or failed
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
@_organisation_option("The unit the records belong to (required for the service database).")
@_REGISTRY_DB
@_DATABASE_URL
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

    start = _parse_date(start_text, "--from")
    end = _parse_date(end_text, "--to")
    as_of = _parse_date(as_of_text, "--as-of") or dt.date.today()
    assert start is not None and end is not None
    try:
        registry = registry_service.simulate_registry(
            count, seed=seed, start=start, end=end, as_of=as_of
        )
    except InputError as exc:
        _fail(exc.message)
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
            _fail(str(exc))
        except DuplicateRecordError:
            _fail(f"{db_path}: already holds simulated records (use another --db, or --seed)")
        click.echo(f"stored {sizes} in {db_path}")
        return
    unit = _needs_organisation(organisation)
    db = _registry_database(database_url)
    try:
        registry_service.store_registry(db, _cli_user(unit), registry, now=_now(),
                                        organisation=unit)
    except DuplicateRecordError:
        _fail(f"{unit} already holds simulated records in the service database "
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
@_REGISTRY_DB
@_DATABASE_URL
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
            _fail(exc.message if exc.source == "incident" else str(exc))
    else:
        db = _registry_database(database_url)
        try:
            report = registry_service.incident_from_database(
                db, _cli_user(organisation), complication_id, reporter=reporter,
                report_date=dt.date.today(), now=_now(), organisation=organisation,
            )
        except InputError as exc:
            _fail(exc.message)
        except registry_service.RegistryNotFound:
            _fail(f"no complication {complication_id!r} in the registry")
        except registry_service.RegistryAmbiguous as exc:
            _fail(f"{exc} with --organisation")
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


@main.group("audit")
def audit_group() -> None:
    """Audit reports from the registry."""


@audit_group.command("report")
@click.option("--from", "start_text", metavar="DATE", help="First procedure date (default: all).")
@click.option("--to", "end_text", metavar="DATE", help="Last procedure date (default: all).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "pdf", "json"]),
    default="html",
    show_default=True,
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (PDF default: audit-report.pdf; others: stdout).",
)
@click.option("--title", default="Vertebral augmentation audit", show_default=True)
@_organisation_option("Only this unit's procedures (service database; default: every unit).")
@_REGISTRY_DB
@_DATABASE_URL
def audit_report(
    start_text: str | None,
    end_text: str | None,
    fmt: str,
    out_path: Path | None,
    title: str,
    organisation: str | None,
    db_path: Path | None,
    database_url: str | None,
) -> None:
    """Rates with 95% CIs against the published figures, operator funnel plots, outcome
    trends and outcomes by approving pathway (from the linked prior-authorisation case when a
    procedure names one)."""
    from vertebro import registry_service

    start = _parse_date(start_text, "--from")
    end = _parse_date(end_text, "--to")
    if start and end and end < start:
        _fail(f"--to {end} is before --from {start}")
    if db_path is not None:
        if not db_path.exists():
            _fail(f"{db_path}: no registry here (import or simulate one first, or pass --db)")
        try:
            repo = registry_service.open_repository(db_path)
        except InputError as exc:
            _fail(str(exc))
        report = registry_service.audit(
            repo, generated_on=dt.date.today(), period_from=start, period_to=end
        ).model_copy(update={"title": title})
    else:
        db = _registry_database(database_url)
        try:
            report = registry_service.audit_from_database(
                db, _cli_user(organisation), generated_on=dt.date.today(), now=_now(),
                organisation=organisation, period_from=start, period_to=end, title=title,
            )
        finally:
            db.dispose()
    if fmt == "json":
        text = report.model_dump_json(indent=2)
        if out_path is None:
            click.echo(text)
        else:
            out_path.write_text(text + "\n", encoding="utf-8")
        return
    if fmt == "html":
        html = registry_service.render_html(report)
        if out_path is None:
            click.echo(html)
        else:
            out_path.write_text(html, encoding="utf-8")
            click.echo(f"wrote {out_path}", err=True)
        return
    out_path = out_path or Path("audit-report.pdf")
    out_path.write_bytes(registry_service.render_pdf(report))
    click.echo(f"wrote {out_path}", err=True)


@main.command("batch")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path))
@click.option("--policy", "policy_name", required=True, help="A policy id or a policy.yaml path.")
@click.option(
    "--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True
)
@click.option("--as-of", "as_of_text", metavar="YYYY-MM-DD", help="Default: each request's date.")
@click.option(
    "--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="The results file (Parquet).",
)
@click.option("--skip-bad", is_flag=True, help="Skip corrupt NDJSON lines (listed) and go on.")
@click.option("--keep-work", is_flag=True, help="Keep the work folder (<out>.work) afterwards.")
def batch(
    input_path: Path,
    policy_name: str,
    engine: str,
    as_of_text: str | None,
    out_path: Path,
    skip_bad: bool,
    keep_work: bool,
) -> None:
    """Assess every request in a bulk FHIR export (NDJSON files, or bundles) set-based.

    Resumable: run the same command again after an interruption. See docs/batch.md.
    """
    from vertebro.batch import display
    from vertebro.batch.bulk import BadInputError
    from vertebro.batch.runner import BatchOptions, run_batch

    options = BatchOptions(
        input_path, policy_name, out_path, "spark" if engine == "spark" else "duckdb",
        _parse_date(as_of_text, "--as-of"), skip_bad, keep_work,
    )
    try:
        with display.RichDisplay() as shown:
            result = run_batch(options, shown)
    except BadInputError as exc:
        for message in display.bad_line_messages(exc.lines, exc.total):
            click.echo(f"vertebro: {message}", err=True)
        _fail(
            f"{exc.total:,} bad line(s) or case(s); nothing written "
            "(use --skip-bad to skip them)"
        )
    except (FileNotFoundError, InputError) as exc:
        _fail(str(exc))
    console = display.output_console()
    for line in display.read_notes(result):
        console.print(line)
    console.print(display.summary(result))
    console.print(f"wrote {result.out}", soft_wrap=True)
