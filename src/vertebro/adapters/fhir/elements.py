"""Small typed helpers over FHIR JSON: objects, strings, codings, dates and levels in text.

FHIR resources are read as plain parsed JSON (dicts and lists). These helpers never raise on
sloppy input: a value of the wrong shape reads as absent.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass
from typing import Any

from vertebro.core.levels import Level, parse_levels

JsonObj = dict[str, Any]


def obj(value: object) -> JsonObj | None:
    """The value if it is a JSON object, else None."""
    return value if isinstance(value, dict) else None


def objs(value: object) -> list[JsonObj]:
    """The JSON objects in a list (a lone object counts as a list of one)."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def shift(day: dt.date, days: float) -> dt.date:
    """`day` moved by a number of days, held within the calendar (a hostile date of 0001-01-01
    or 9999-12-31, or a supply of 1e300 days, must not overflow)."""
    try:
        return day + dt.timedelta(days=days)
    except (OverflowError, ValueError):
        return dt.date.max if days > 0 else dt.date.min


def items(value: object) -> list[Any]:
    """The items of a JSON array; a lone value counts as an array of one, null as none (hostile
    or sloppy input puts anything anywhere: `"coding": 5` must not be iterated)."""
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def string(value: object) -> str | None:
    """A non-empty, stripped string, else None."""
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    return None


def strings(value: object) -> list[str]:
    """The non-empty strings in a list."""
    items = value if isinstance(value, list) else [value]
    return [s for s in (string(item) for item in items) if s]


@dataclass(frozen=True, slots=True)
class CodingRef:
    """One coding of a CodeableConcept, with the JSON path it was found at."""

    system: str  # as written (may be empty)
    code: str
    display: str | None
    path: str


def codings(concept: object, path: str) -> list[CodingRef]:
    """The codings of a CodeableConcept (or of a lone Coding) that have a code."""
    node = obj(concept)
    if node is None:
        return []
    if "coding" not in node and "code" in node:  # a bare Coding
        code = _code(node.get("code"))
        if code is None:
            return []
        system = string(node.get("system")) or ""
        return [CodingRef(system, code, string(node.get("display")), path)]
    out = []
    for index, coding in enumerate(items(node.get("coding"))):
        if not isinstance(coding, dict):
            continue
        code = _code(coding.get("code"))
        if code is not None:
            out.append(
                CodingRef(
                    string(coding.get("system")) or "",
                    code,
                    string(coding.get("display")),
                    f"{path}.coding[{index}]",
                )
            )
    return out


def _code(value: object) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return string(value)


def concept_text(concept: object) -> str | None:
    """A CodeableConcept's text, else the first display of its codings."""
    node = obj(concept)
    if node is None:
        return None
    text = string(node.get("text"))
    if text:
        return text
    for coding in objs(node.get("coding")):
        display = string(coding.get("display"))
        if display:
            return display
    return string(node.get("display"))


def concept_words(concept: object) -> str:
    """A CodeableConcept's text and every display, joined, for matching by words."""
    node = obj(concept)
    if node is None:
        return ""
    parts = [string(node.get("text")) or ""]
    parts.extend(string(c.get("display")) or "" for c in objs(node.get("coding")))
    return " ".join(p for p in parts if p)


_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?)?$")


def parse_date(value: object) -> dt.date | None:
    """The calendar date of a FHIR date, dateTime or instant; None for partial or malformed ones.

    A partial date ('2026' or '2026-08') is not given a day: that would be a guess.
    """
    text = string(value)
    if text is None:
        return None
    match = _DATE_RE.match(text)
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def looks_like_date(value: object) -> bool:
    """True when a value is some attempt at a date (so a failure to parse deserves a warning)."""
    return string(value) is not None


@dataclass(frozen=True, slots=True)
class Span:
    """A period of days: start and end inclusive; either may be unknown."""

    start: dt.date | None
    end: dt.date | None


def period(node: object) -> Span:
    """The days of a FHIR Period."""
    value = obj(node) or {}
    return Span(parse_date(value.get("start")), parse_date(value.get("end")))


def reference(node: object) -> str | None:
    """The reference string of a Reference."""
    value = obj(node)
    return string(value.get("reference")) if value else None


_TAG_RE = re.compile(r"<[^>]+>")
_BREAK_RE = re.compile(r"<\s*(?:br|/p|/div|/li|/tr|/h\d)\s*/?>", re.I)
_SPACE_RE = re.compile(r"[ \t\r\f\v]+")


def narrative_text(div: object) -> str | None:
    """Plain text of an XHTML narrative (Resource.text.div), line breaks kept."""
    text = string(div)
    if text is None:
        return None
    text = _BREAK_RE.sub("\n", text)
    text = html.unescape(_TAG_RE.sub(" ", text))
    lines = [_SPACE_RE.sub(" ", line).strip() for line in text.splitlines()]
    joined = "\n".join(line for line in lines if line)
    return joined or None


# Levels written in free text: 'T12', 'T12-L1', 'L2 to L4', 'T7, T9', 'L1 and L2', 'sacrum'.
_ONE = r"[CTLS]\s?\d{1,2}"
_RANGE = rf"{_ONE}(?:\s*(?:-|–|to|through)\s*[CTLS]?\s?\d{{1,2}})?"
_LEVELS_RE = re.compile(
    rf"(?<![A-Za-z0-9])(?:{_RANGE})(?:\s*(?:,|&|\band\b)\s*{_RANGE})*(?![A-Za-z0-9])", re.I
)
_SACRUM_RE = re.compile(r"\bsacrum\b", re.I)
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
}
_REGION_LETTER = {"cervical": "C", "thoracic": "T", "lumbar": "L", "sacral": "S"}
_ORDINAL_RE = re.compile(
    r"\b(" + "|".join(_ORDINALS) + r")\s+(cervical|thoracic|lumbar|sacral)\s+vertebra", re.I
)


def levels_in_text(text: str | None) -> tuple[Level, ...]:
    """Every spinal level named in a phrase, sorted; () when none can be read.

    Reads written levels ('T12-L1', 'L1 and L2'), 'sacrum', and the anatomical names used in
    SNOMED CT body-structure displays ('Structure of twelfth thoracic vertebra').
    """
    if not text:
        return ()
    found: set[Level] = set()
    for match in _LEVELS_RE.finditer(text):
        try:
            found.update(parse_levels(match.group(0)))
        except ValueError:
            continue
    for match in _ORDINAL_RE.finditer(text):
        letter = _REGION_LETTER[match.group(2).lower()]
        try:
            found.add(Level(letter, _ORDINALS[match.group(1).lower()]))
        except ValueError:
            continue
    if _SACRUM_RE.search(text):
        found.add(Level.parse("sacrum"))
    return tuple(sorted(found))
