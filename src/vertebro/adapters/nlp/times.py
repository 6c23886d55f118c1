"""Dates, durations and spinal levels as written in notes ("24/08/2026", "three months ago",
"for 8 weeks", "T11 and 12"). Pure functions over text; no pipeline involved.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from vertebro.core.levels import Level, level_range

Convention = Literal["dmy", "mdy"]
Qualifier = Literal["about", "under", "over"]

WEEKS_PER_UNIT = {"day": 1 / 7, "week": 1.0, "month": 52 / 12, "year": 52.0}

_MONTHS = {
    name.lower(): number
    for number in range(1, 13)
    for name in (calendar.month_name[number], calendar.month_abbr[number])
}
_MONTHS["sept"] = 9
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))

_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "eighteen": 18,
    "twenty": 20,
    "thirty": 30,
    "a couple of": 2,
    "a couple": 2,
}
_VAGUE = {"a few", "few", "several", "some", "many", "a number of"}
_AMOUNT = (
    r"(?P<amount>\d+(?:\.\d+)?|"
    + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    + "|"
    + "|".join(sorted(_VAGUE, key=len, reverse=True))
    + ")"
)
_QUALIFIER = (
    r"(?:(?P<qual>approximately|approx\.?|about|around|roughly|some|nearly|almost|just under|"
    r"under|less than|fewer than|just over|over|more than|at least|greater than|>|<)\s+)?"
)
_DURATION = re.compile(
    r"(?<![\w/])"
    + _QUALIFIER
    + _AMOUNT
    + r"\s*(?:-\s*)?(?P<unit>days?|weeks?|wks?|months?|mths?|mo|years?|yrs?)\b"
    + r"(?P<ago>\s+ago|\s+previously|\s+before)?",
    re.IGNORECASE,
)
_NUMERIC_DATE = re.compile(r"(?<![\d/.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\d/-]|\.\d)")
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_DAY_MONTH_YEAR = re.compile(
    rf"(?<!\w)(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+({_MONTH_NAMES})\.?,?\s+(\d{{4}})(?!\d)",
    re.IGNORECASE,
)
_MONTH_DAY_YEAR = re.compile(
    rf"(?<!\w)({_MONTH_NAMES})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})(?!\d)", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class DateMention:
    """A written date: its characters and its parts (day and month may be swapped if numeric)."""

    start: int
    end: int
    first: int  # day or month, as written first
    second: int
    year: int
    numeric: bool  # written as digits only, so day and month order is ambiguous


@dataclass(frozen=True, slots=True)
class Duration:
    """A written length of time ("8 weeks", "three months ago")."""

    start: int
    end: int
    amount: float | None  # None when vague ("a few weeks")
    unit: str  # day, week, month or year
    ago: bool
    qualifier: Qualifier | None

    @property
    def weeks(self) -> float | None:
        """The duration in weeks, or None when the amount is vague."""
        if self.amount is None:
            return None
        return round(self.amount * WEEKS_PER_UNIT[self.unit], 1)


def find_dates(text: str) -> list[DateMention]:
    """Every date written in the text, in order."""
    found: list[DateMention] = []
    taken: list[tuple[int, int]] = []

    def add(mention: DateMention) -> None:
        if any(s < mention.end and mention.start < e for s, e in taken):
            return
        taken.append((mention.start, mention.end))
        found.append(mention)

    for m in _ISO_DATE.finditer(text):
        add(
            DateMention(
                m.start(), m.end(), int(m.group(3)), int(m.group(2)), int(m.group(1)), False
            )
        )
    for m in _DAY_MONTH_YEAR.finditer(text):
        month = _MONTHS[m.group(2).lower().rstrip(".")]
        add(DateMention(m.start(), m.end(), int(m.group(1)), month, int(m.group(3)), False))
    for m in _MONTH_DAY_YEAR.finditer(text):
        month = _MONTHS[m.group(1).lower().rstrip(".")]
        add(DateMention(m.start(), m.end(), int(m.group(2)), month, int(m.group(3)), False))
    for m in _NUMERIC_DATE.finditer(text):
        year = int(m.group(4))
        if year < 100:
            year += 2000 if year < 70 else 1900
        add(DateMention(m.start(), m.end(), int(m.group(1)), int(m.group(3)), year, True))
    return sorted(found, key=lambda d: d.start)


_BRITISH = re.compile(
    r"oedema|haem|anaesth|physiotherap|mobilis|orthopaed|tumour|colour|centre|programme|paediatr|"
    r"oesophag|analgesia was|\bGP\b|A&E|co-codamol|paracetamol",
    re.IGNORECASE,
)
_AMERICAN = re.compile(
    r"\bedema|hemangioma|hematolog|anesthe|mobiliz|orthopedic|\btumor|\bcolor\b|center\b|"
    r"acetaminophen|\bER\b|emergency room|hospitalized|physical therapy|\bCPT\b",
    re.IGNORECASE,
)


def date_convention(dates: list[DateMention], text: str | None = None) -> Convention | None:
    """Whether numeric dates in this note are day-first or month-first.

    An unambiguous numeric date (24/08/2026, 08/24/2026) settles it. Failing that, the note's
    spelling does: British spelling and usage only (oedema, paracetamol) means day-first, American
    only (edema, acetaminophen) month-first. None when nothing settles it or the note contradicts
    itself.
    """
    seen: set[Convention] = set()
    for date in dates:
        if not date.numeric:
            continue
        if date.first > 12 >= date.second:
            seen.add("dmy")
        elif date.second > 12 >= date.first:
            seen.add("mdy")
    if len(seen) == 1:
        return seen.pop()
    if seen or text is None:
        return None
    british, american = bool(_BRITISH.search(text)), bool(_AMERICAN.search(text))
    if british and not american:
        return "dmy"
    if american and not british:
        return "mdy"
    return None


def to_date(mention: DateMention, convention: Convention | None) -> dt.date | None:
    """The calendar date, or None if it is not a valid date or its day/month order is unknown."""
    first, second = mention.first, mention.second
    if mention.numeric:
        if first == second or first > 12:
            day, month = first, second
        elif second > 12:
            day, month = second, first
        elif convention == "dmy":
            day, month = first, second
        elif convention == "mdy":
            day, month = second, first
        else:
            return None
    else:
        day, month = first, second
    try:
        return dt.date(mention.year, month, day)
    except ValueError:
        return None


def find_durations(text: str) -> list[Duration]:
    """Every length of time written in the text, in order."""
    found = []
    for m in _DURATION.finditer(text):
        raw = m.group("amount").lower()
        amount: float | None
        if raw in _VAGUE:
            amount = None
        elif raw in _NUMBER_WORDS:
            amount = float(_NUMBER_WORDS[raw])
        else:
            amount = float(raw)
        unit = m.group("unit").lower()
        unit = {
            "wk": "week",
            "wks": "week",
            "mth": "month",
            "mths": "month",
            "mo": "month",
            "yr": "year",
            "yrs": "year",
        }.get(unit, unit.rstrip("s"))
        qual = (m.group("qual") or "").lower()
        qualifier: Qualifier | None = None
        if qual in {"nearly", "almost", "just under", "under", "less than", "fewer than", "<"}:
            qualifier = "under"
        elif qual in {"just over", "over", "more than", "at least", "greater than", ">"}:
            qualifier = "over"
        elif qual:
            qualifier = "about"
        found.append(Duration(m.start(), m.end(), amount, unit, bool(m.group("ago")), qualifier))
    return found


def subtract(day: dt.date, duration: Duration) -> dt.date | None:
    """The date a duration before a day (whole months and years by the calendar); None if vague."""
    amount = duration.amount
    if amount is None:
        return None
    if duration.unit in ("month", "year") and amount == int(amount):
        months = int(amount) * (12 if duration.unit == "year" else 1)
        year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
        last = calendar.monthrange(year, month + 1)[1]
        return dt.date(year, month + 1, min(day.day, last))
    return day - dt.timedelta(days=round(amount * WEEKS_PER_UNIT[duration.unit] * 7))


# ---- Spinal levels ------------------------------------------------------------------------

_LEVEL = r"(?<![A-Za-z0-9])([CTLS])\s?(\d{1,2})(?![0-9])"
_JOIN = r"\s*(?:,|and|&|/|-|–|to|through|or)\s*"
_NEXT = (
    r"(?:([CTLS])\s?)?(\d{1,2})(?![0-9])"
    r"(?!\s*(?:weeks?|months?|days?|years?|yrs?|%|/\s*10|\.\d|mg|cm|mm|cc|ml|times))"
)
_GROUP = re.compile(_LEVEL + r"(?:" + _JOIN + _NEXT + r")*")
_PAIR = re.compile(_JOIN + _NEXT)
_SACRUM = re.compile(r"\bsacrum\b|\bsacral\b", re.IGNORECASE)
_MRI_SEQUENCE = re.compile(
    r"\s*(?:-|/)?\s*(?:weighted|w\b|hyper|hypo|signal|sequence|images?|stir|flair|sagittal|axial)",
    re.IGNORECASE,
)
_HEART = re.compile(r"\b(?:heart|murmur|sounds?|gallop|S3|S4|cardiac)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LevelGroup:
    """Levels written together ("T12-L2", "T11 and 12", "sacrum")."""

    start: int
    end: int
    levels: tuple[Level, ...]


def find_levels(text: str) -> list[LevelGroup]:
    """Every group of spinal levels written in the text.

    T1 and T2 followed by MRI words ("T2 hyperintense", "T1-weighted") are sequences, not
    levels; S1 and S2 in a sentence about the heart are heart sounds.
    """
    groups: list[LevelGroup] = []
    for match in _GROUP.finditer(text):
        letter, number = match.group(1), int(match.group(2))
        if letter == "T" and number in (1, 2) and _MRI_SEQUENCE.match(text, match.start() + 2):
            continue
        if letter == "S" and number in (1, 2, 3, 4):
            around = text[max(0, match.start() - 120) : match.end() + 120]
            if _HEART.search(around):
                continue
        levels = _parse_group(match.group(0))
        if levels:
            groups.append(LevelGroup(match.start(), match.end(), tuple(levels)))
    for match in _SACRUM.finditer(text):
        groups.append(LevelGroup(match.start(), match.end(), (Level("S", 0),)))
    return sorted(groups, key=lambda g: g.start)


def _parse_group(written: str) -> list[Level]:
    first = re.match(_LEVEL, written)
    assert first is not None
    letter = first.group(1)
    try:
        current = Level(letter, int(first.group(2)))
    except ValueError:
        return []
    found = {current}
    rest = written[first.end() :]
    for pair in _PAIR.finditer(rest):
        is_range = bool(re.match(r"\s*(?:-|–|to|through)\s*", pair.group(0)))
        try:
            nxt = Level(pair.group(1) or current.letter, int(pair.group(2)))
        except ValueError:
            break
        if is_range:
            try:
                found.update(level_range(current, nxt))
            except ValueError:
                return []
        else:
            found.add(nxt)
        current = nxt
    return sorted(found)
