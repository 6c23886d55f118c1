"""Clinical coding and billing: `code`, `claim-check` and the `codes` tables group."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from vertebro.adapters.errors import InputError
from vertebro.cli.common import EXIT_BAD_INPUT, fail, main, styler

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

    style = styler(fmt == "text" and sys.stdout.isatty())
    try:
        systems = coding_service.systems_of(system_name)
        items = list(coding_service.code_inputs(list(paths), systems))
    except InputError as exc:
        fail(str(exc))
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
        fail(str(exc))
    style = styler(fmt == "text" and sys.stdout.isatty())
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
        fail(str(exc))
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
        fail(str(exc))
    click.echo(message)


@codes_group.command("unload")
@click.option("--system", "system_name", type=_SYSTEMS, required=True)
def codes_unload(system_name: str) -> None:
    """Remove a loaded release so the shipped table applies again."""
    from vertebro.adapters import code_tables
    from vertebro.core.coding.tables import CodeSystem

    removed = code_tables.unload(CodeSystem(system_name), code_tables.user_home())
    click.echo(f"{system_name}: {'loaded release removed' if removed else 'no release was loaded'}")
