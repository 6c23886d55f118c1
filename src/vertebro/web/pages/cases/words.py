"""Words for people on the case pages: states, choices, events, flags, times and clocks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from vertebro.core import cases
from vertebro.core.catalogue import CATALOGUE
from vertebro.report import json_value

# --- Words for people --------------------------------------------------------------------------

OPEN_STATES = frozenset({"pended-for-information", "queued-for-review", "under-appeal"})
STATE_WORDS: dict[str, str] = {
    "approved-automatically": "Approved (meets criteria)",
    "pended-for-information": "Waiting for information",
    "queued-for-review": "Waiting for a reviewer",
    "approved-by-reviewer": "Approved by a reviewer",
    "denied-by-reviewer": "Denied by a reviewer",
    "under-appeal": "Under appeal",
}
STATE_BADGES: dict[str, str] = {
    "approved-automatically": "status-met",
    "pended-for-information": "status-unknown",
    "queued-for-review": "status-info",
    "approved-by-reviewer": "status-met",
    "denied-by-reviewer": "status-not-met",
    "under-appeal": "status-info",
}
# The filter's choices: "open" is the reviewer's work list; the API's state kinds follow.
STATE_CHOICES: list[tuple[str, str]] = [
    ("open", "Open: waiting for information, a reviewer or an appeal decision"),
    ("all", "All cases"),
    *((kind, STATE_WORDS[kind]) for kind in STATE_WORDS),
]
DUE_CHOICES: list[tuple[str, str]] = [
    ("", "Any time"),
    ("24", "24 hours"),
    ("72", "3 days"),
    ("168", "7 days"),
]
PRIORITY_CHOICES: list[tuple[str, str]] = [
    ("", "Any priority"),
    ("expedited", "Expedited (72 hours)"),
    ("standard", "Standard (7 days)"),
]
EVENT_WORDS: dict[str, str] = {
    "submitted": "Submitted",
    "triaged": "Assessed by vertebro",
    "information-added": "Information added",
    "approved-by-reviewer": "Approved",
    "denied-by-reviewer": "Denied",
    "appealed": "Appealed",
}
FLAG_WORDS: dict[str, str] = {
    "does-not-meet-criteria": "Does not meet the policy's criteria - a reviewer will decide",
    "investigational": "The policy calls this investigational - a reviewer will decide",
    "conflicting-evidence": "Sources disagree",
    "requirement-not-met": "A requirement is not met",
    "not-assessable": "No policy covers this service",
}
CHANNEL_WORDS = {"api": "vertebro API", "pas": "Da Vinci PAS (Claim/$submit)"}
APPROVED_WITHOUT_NOTE = "Approved on clinical review (the reviewer added no note)."
FACT_TITLES: dict[str, str] = {name: spec.title for name, spec in CATALOGUE.items()}


def when(moment: dt.datetime | None) -> str:
    """A time for people, always in UTC and saying so: 'Tue 6 Oct 2026, 09:00 UTC'."""
    if moment is None:
        return ""
    utc = moment.astimezone(dt.UTC)
    return f"{utc:%a} {utc.day} {utc:%b %Y, %H:%M} UTC"


def duration_words(seconds: float) -> str:
    """A span in days and hours (hours and minutes under a day): '2 days 4 hours'."""
    total = int(abs(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60

    def unit(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    parts = [unit(days, "day")] if days else []
    if hours:
        parts.append(unit(hours, "hour"))
    if not days and minutes:
        parts.append(unit(minutes, "minute"))
    return " ".join(parts) or "less than a minute"


@dataclass(frozen=True, slots=True)
class ClockView:
    """A case's CMS-0057-F clock in words: overdue is said, never only coloured."""

    words: str  # 'Overdue by 3 hours', '2 days 4 hours left', 'Decided in time'
    due: str
    css: str  # the colour repeats the words
    appeal: bool
    overdue: bool
    running: bool


SOON = dt.timedelta(hours=24)


def clock_view(clock: cases.Clock) -> ClockView:
    """The words and the emphasis for a clock."""
    due = when(clock.due_at)
    if clock.stopped_at is not None:
        if clock.overdue:
            late = duration_words((clock.stopped_at - clock.due_at).total_seconds())
            return ClockView(
                f"Decided late, {late} after the due time",
                due,
                "clock--overdue",
                clock.appeal,
                True,
                False,
            )
        return ClockView("Decided in time", due, "", clock.appeal, False, False)
    if clock.overdue:
        return ClockView(
            f"Overdue by {duration_words(clock.remaining.total_seconds())}",
            due,
            "clock--overdue",
            clock.appeal,
            True,
            True,
        )
    css = "clock--soon" if clock.remaining <= SOON else ""
    return ClockView(
        f"{duration_words(clock.remaining.total_seconds())} left",
        due,
        css,
        clock.appeal,
        False,
        True,
    )


def values_text(value: Any) -> str:
    """A fact's value for people: 'unknown', 'yes'/'no', a list joined with commas, or text."""
    shown = json_value(value)
    if shown is None:
        return "unknown"
    if isinstance(shown, bool):
        return "yes" if shown else "no"
    if isinstance(shown, list):
        return ", ".join(shown)
    return str(shown)
