"""The `main` group and what every command shares: one-line errors (exit 2), dates, colours."""

from __future__ import annotations

import datetime as dt
import sys

import click

from vertebro import __version__

EXIT_BAD_INPUT = 2
_COLOURS = {"met": "green", "not-met": "red", "unknown": "yellow", "heading": "cyan"}


def styler(enabled: bool):  # type: ignore[no-untyped-def]
    def style(text: str, role: str) -> str:
        colour = _COLOURS.get(role)
        return click.style(text, fg=colour, bold=role == "heading") if enabled and colour else text

    return style


def fail(message: str) -> None:
    click.echo(f"vertebro: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def parse_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date YYYY-MM-DD")
        raise AssertionError("unreachable") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vertebro")
def main() -> None:
    """vertebro: cited, three-valued policies for vertebroplasty, kyphoplasty and sacroplasty."""
