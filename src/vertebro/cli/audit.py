"""Audit reports from the registry: the `audit` group (report)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from vertebro.adapters.errors import InputError
from vertebro.cli.common import fail, main, parse_date
from vertebro.cli.registry_options import (
    DATABASE_URL,
    REGISTRY_DB,
    cli_user,
    organisation_option,
    registry_database,
    utc_now,
)


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
@organisation_option("Only this unit's procedures (service database; default: every unit).")
@REGISTRY_DB
@DATABASE_URL
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

    start = parse_date(start_text, "--from")
    end = parse_date(end_text, "--to")
    if start and end and end < start:
        fail(f"--to {end} is before --from {start}")
    if db_path is not None:
        if not db_path.exists():
            fail(f"{db_path}: no registry here (import or simulate one first, or pass --db)")
        try:
            repo = registry_service.open_repository(db_path)
        except InputError as exc:
            fail(str(exc))
        report = registry_service.audit(
            repo, generated_on=dt.date.today(), period_from=start, period_to=end
        ).model_copy(update={"title": title})
    else:
        db = registry_database(database_url)
        try:
            report = registry_service.audit_from_database(
                db, cli_user(organisation), generated_on=dt.date.today(), now=utc_now(),
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
