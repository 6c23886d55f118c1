"""Assessing a bulk FHIR export set-based: `batch`."""

from __future__ import annotations

from pathlib import Path

import click

from vertebro.adapters.errors import InputError
from vertebro.cli.common import fail, main, parse_date


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
        parse_date(as_of_text, "--as-of"), skip_bad, keep_work,
    )
    try:
        with display.RichDisplay() as shown:
            result = run_batch(options, shown)
    except BadInputError as exc:
        for message in display.bad_line_messages(exc.lines, exc.total):
            click.echo(f"vertebro: {message}", err=True)
        fail(
            f"{exc.total:,} bad line(s) or case(s); nothing written "
            "(use --skip-bad to skip them)"
        )
    except (FileNotFoundError, InputError) as exc:
        fail(str(exc))
    console = display.output_console()
    for line in display.read_notes(result):
        console.print(line)
    console.print(display.summary(result))
    console.print(f"wrote {result.out}", soft_wrap=True)
