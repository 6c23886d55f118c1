"""Assessing cases and looking at policies: `assess`, `test`, `policies`, `policy`, `facts`."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from vertebro.adapters import policy_files
from vertebro.adapters.errors import InputError
from vertebro.cli.common import EXIT_BAD_INPUT, fail, main, parse_date, styler
from vertebro.core.catalogue import CATALOGUE
from vertebro.policy_tests import Verdict, run_policy_tests
from vertebro.render import render_assessment, render_policy, render_summary
from vertebro.report import AssessmentReport
from vertebro.services import assess_inputs


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
    as_of = parse_date(as_of_text, "--as-of")
    if not policy_name.endswith((".yaml", ".yml", ".json")) and "/" not in policy_name:
        try:
            policy_files.versions_of(policy_name)
        except InputError as exc:
            fail(exc.message)
    style = styler(fmt == "text" and sys.stdout.isatty())
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
        fail(str(exc))
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
        fail(exc.message)
    chosen = [v for v in versions if version is None or v.policy.version == version]
    if not chosen:
        fail(
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
