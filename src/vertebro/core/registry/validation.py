"""Checks that need more than one row: a complication or follow-up against its procedure, and
any date against the day of the check (passed in: the core reads no clock).

Each check returns the problems it found, every one naming its field; an empty list means the
record is acceptable.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vertebro.core.levels import ALL_LEVELS, Level
from vertebro.core.registry.model import (
    Complication,
    ComplicationKind,
    EventOutcome,
    FollowUp,
    FractureSite,
    ProcedureRecord,
    Timepoint,
)
from vertebro.core.registry.rows import FieldProblem

NEW_FRACTURE_WINDOW_DAYS = 365  # "new fracture ... within 12 months"
DEATH_WINDOW_DAYS = 30  # "death within 30 days"


@dataclass(frozen=True, slots=True)
class Window:
    """The days after the procedure (negative: before) in which a timepoint may be measured."""

    first: int
    last: int


# Generous windows: they catch a wrong timepoint or a mistyped date, not a late visit.
WINDOWS: dict[Timepoint, Window] = {
    Timepoint.BASELINE: Window(-180, 0),
    Timepoint.WEEKS_2: Window(1, 60),
    Timepoint.MONTHS_3: Window(30, 200),
    Timepoint.MONTHS_12: Window(180, 550),
}


def check_procedure(procedure: ProcedureRecord, *, today: dt.date) -> list[FieldProblem]:
    """A procedure's own dates: not in the future, cement not expired before use."""
    problems = []
    if procedure.date > today:
        problems.append(FieldProblem("date", f"{procedure.date} is in the future"))
    expiry = procedure.cement.expiry
    if expiry is not None and expiry < procedure.date:
        problems.append(
            FieldProblem(
                "cement_expiry",
                f"{expiry} is before the procedure on {procedure.date} (expired cement?)",
            )
        )
    return problems


def check_complication(
    complication: Complication, procedure: ProcedureRecord, *, today: dt.date
) -> list[FieldProblem]:
    """A complication against its procedure: dates, windows and the fields its kind needs."""
    c, kind = complication, complication.kind
    problems = []
    days = (c.date - procedure.date).days
    if c.date > today:
        problems.append(FieldProblem("date", f"{c.date} is in the future"))
    if days < 0:
        problems.append(
            FieldProblem("date", f"{c.date} is before the procedure on {procedure.date}")
        )
    elif kind is ComplicationKind.NEW_FRACTURE and days > NEW_FRACTURE_WINDOW_DAYS:
        problems.append(
            FieldProblem(
                "date",
                f"{c.date} is {days} days after the procedure; the registry records new "
                f"fractures within 12 months ({NEW_FRACTURE_WINDOW_DAYS} days)",
            )
        )
    elif kind is ComplicationKind.DEATH and days > DEATH_WINDOW_DAYS:
        problems.append(
            FieldProblem(
                "date",
                f"{c.date} is {days} days after the procedure; the registry records deaths "
                f"within {DEATH_WINDOW_DAYS} days",
            )
        )
    leak = kind is ComplicationKind.CEMENT_LEAK
    if leak and c.symptomatic is None:
        problems.append(FieldProblem("symptomatic", "a cement leak must say yes or no"))
    if leak and c.leak_site is None:
        problems.append(FieldProblem("leak_site", "a cement leak must give where the cement went"))
    if not leak and c.symptomatic is not None:
        problems.append(FieldProblem("symptomatic", f"only for a cement leak, not {kind.value}"))
    if not leak and c.leak_site is not None:
        problems.append(FieldProblem("leak_site", f"only for a cement leak, not {kind.value}"))
    fracture = kind is ComplicationKind.NEW_FRACTURE
    if fracture and c.fracture_site is None:
        problems.append(FieldProblem("fracture_site", "a new fracture must be adjacent or distant"))
    if not fracture and c.fracture_site is not None:
        problems.append(FieldProblem("fracture_site", f"only for a new fracture, not {kind.value}"))
    if not fracture and c.level is not None:
        problems.append(FieldProblem("level", f"only for a new fracture, not {kind.value}"))
    if fracture and c.level is not None:
        problems.extend(_check_fracture_level(c.level, c.fracture_site, procedure))
    injury = kind in (ComplicationKind.NERVE_INJURY, ComplicationKind.CORD_INJURY)
    if not injury and c.cause is not None:
        problems.append(FieldProblem("cause", f"only for a nerve or cord injury, not {kind.value}"))
    dead = (EventOutcome.FATAL, EventOutcome.UNKNOWN)
    if kind is ComplicationKind.DEATH and c.outcome not in dead:
        problems.append(FieldProblem("outcome", f"{c.outcome.value!r} for a death; expected fatal"))
    return problems


def _check_fracture_level(
    level: Level, site: FractureSite | None, procedure: ProcedureRecord
) -> list[FieldProblem]:
    if level in procedure.levels:
        return [FieldProblem("level", f"{level} was treated; a new fracture is at another level")]
    if site is None or str(level) == "sacrum":
        return []
    order = {lv: i for i, lv in enumerate(ALL_LEVELS)}
    treated = [order[lv] for lv in procedure.levels if lv in order]
    if level not in order or not treated:
        return []
    adjacent = any(abs(order[level] - i) == 1 for i in treated)
    if site is FractureSite.ADJACENT and not adjacent:
        return [FieldProblem("level", f"{level} is not next to a treated level, so not adjacent")]
    if site is FractureSite.DISTANT and adjacent:
        return [FieldProblem("level", f"{level} is next to a treated level, so adjacent")]
    return []


def check_follow_up(
    follow_up: FollowUp, procedure: ProcedureRecord, *, today: dt.date
) -> list[FieldProblem]:
    """A follow-up against its procedure: measured in its timepoint's window, not in the
    future, with at least one measure."""
    f = follow_up
    problems = []
    if f.date > today:
        problems.append(FieldProblem("date", f"{f.date} is in the future"))
    days = (f.date - procedure.date).days
    window = WINDOWS[f.timepoint]
    if f.timepoint is not Timepoint.BASELINE and days <= 0:
        problems.append(
            FieldProblem(
                "date",
                f"{f.date} is not after the procedure on {procedure.date} "
                f"(a {f.timepoint.value} follow-up)",
            )
        )
    elif f.timepoint is Timepoint.BASELINE and days > 0:
        problems.append(
            FieldProblem("date", f"{f.date} is after the procedure on {procedure.date} (baseline)")
        )
    elif not window.first <= days <= window.last:
        problems.append(
            FieldProblem(
                "date",
                f"{f.date} is {days} days from the procedure; a {f.timepoint.value} measure is "
                f"taken {window.first} to {window.last} days after it",
            )
        )
    if (f.pain, f.analgesics, f.mobility, f.roland_morris) == (None, None, None, None):
        problems.append(
            FieldProblem("pain", "no measure given (pain, analgesics, mobility or roland_morris)")
        )
    return problems
