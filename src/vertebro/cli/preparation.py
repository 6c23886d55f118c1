"""Preparing a patient for the procedure: `prepare`."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from vertebro.adapters.errors import InputError
from vertebro.cli.common import fail, main, parse_date


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

    procedure_date = parse_date(date_text, "--procedure-date")
    assert procedure_date is not None
    today = parse_date(today_text, "--today") or dt.date.today()
    procedure_time = None
    if time_text is not None:
        text = time_text.strip()
        if not text:
            fail("--time: no time given; use HH:MM (24-hour clock) or leave the option out")
        try:
            hours, minutes = text.split(":")
            procedure_time = dt.time(int(hours), int(minutes))
            if len(minutes) != 2:
                raise ValueError(text)
        except ValueError:
            fail(f"--time: {time_text!r} is not a time HH:MM (24-hour clock)")
    if fmt == "pdf" and output is None and sys.stdout.isatty():
        fail("--format pdf writes a binary file: give --output FILE or redirect standard output")
    try:
        report = prepare_service.prepare(
            path,
            procedure_date=procedure_date,
            procedure_time=procedure_time,
            today=today,
            pathway=pathway_name,
        )
    except InputError as exc:
        fail(str(exc))
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
        fail(f"{output}: {exc.strerror or 'cannot be written'}")
