"""Spinal levels (C1-C7, T1-T12, L1-L5, S1-S5 and the sacrum as a whole) and their regions."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import total_ordering


class Region(StrEnum):
    """A region of the spine."""

    CERVICAL = "cervical"
    THORACIC = "thoracic"
    LUMBAR = "lumbar"
    SACRAL = "sacral"


_REGION_OF_LETTER = {
    "C": Region.CERVICAL,
    "T": Region.THORACIC,
    "L": Region.LUMBAR,
    "S": Region.SACRAL,
}
_COUNT = {"C": 7, "T": 12, "L": 5, "S": 5}
_ORDER = "CTLS"
# "sacrum" names the whole bone when a note does not give a segment; it sorts before S1.
SACRUM = "sacrum"

_LEVEL_RE = re.compile(r"^\s*([CTLS])\s*(\d{1,2})\s*$", re.IGNORECASE)


@total_ordering
class Level:
    """One vertebral level, ordered from the skull down. Construct with `Level.parse`."""

    __slots__ = ("letter", "number")

    def __init__(self, letter: str, number: int) -> None:
        if letter not in _COUNT or not (0 <= number <= _COUNT[letter]):
            raise ValueError(f"not a spinal level: {letter}{number}")
        if number == 0 and letter != "S":
            raise ValueError(f"not a spinal level: {letter}{number}")
        self.letter = letter
        self.number = number  # 0 with letter S is "the sacrum", unsegmented

    @classmethod
    def parse(cls, text: str) -> Level:
        """Parse 'T12', 'l1', 'S1' or 'sacrum'; raise ValueError for anything else."""
        if text.strip().lower() == SACRUM:
            return cls("S", 0)
        match = _LEVEL_RE.match(text)
        if not match:
            raise ValueError(
                f"not a spinal level: {text!r} (expected C1-C7, T1-T12, L1-L5, S1-S5 or sacrum)"
            )
        return cls(match.group(1).upper(), int(match.group(2)))

    @property
    def region(self) -> Region:
        """The region of the spine this level belongs to."""
        return _REGION_OF_LETTER[self.letter]

    def __str__(self) -> str:
        return (
            SACRUM if (self.letter == "S" and self.number == 0) else f"{self.letter}{self.number}"
        )

    def __repr__(self) -> str:
        return f"Level({self})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Level) and (self.letter, self.number) == (
            other.letter,
            other.number,
        )

    def __lt__(self, other: Level) -> bool:
        return _sort_key(self) < _sort_key(other)

    def __hash__(self) -> int:
        return hash((self.letter, self.number))


def _sort_key(level: Level) -> tuple[int, int]:
    return (_ORDER.index(level.letter), level.number)


ALL_LEVELS: tuple[Level, ...] = tuple(
    Level(letter, number) for letter in _ORDER for number in range(1, _COUNT[letter] + 1)
)


def level_range(first: Level, last: Level) -> list[Level]:
    """Every level from first to last inclusive, in either direction ('T12-L2' is T12, L1, L2)."""
    if str(first) == SACRUM or str(last) == SACRUM:
        raise ValueError("a range cannot start or end at the unsegmented sacrum")
    low, high = sorted((first, last))
    return [lv for lv in ALL_LEVELS if low <= lv <= high]


_RANGE_RE = re.compile(
    r"^\s*([CTLS]\s*\d{1,2})\s*(?:-|–|to|through)\s*([CTLS]?\s*\d{1,2})\s*$", re.I
)


def parse_levels(text: str) -> list[Level]:
    """Parse a written list of levels: 'T12-L2', 'L1 and L2', 'T7, T9', 'L2-4', 'sacrum'.

    Returns the levels sorted and without repeats; raises ValueError on anything it cannot read.
    """
    parts = re.split(r"\s*(?:,|;|/|\band\b|&)\s*", text.strip(), flags=re.I)
    found: set[Level] = set()
    for part in parts:
        if not part:
            continue
        match = _RANGE_RE.match(part)
        if match:
            start = Level.parse(match.group(1))
            end_text = match.group(2).replace(" ", "")
            if end_text[0].isdigit():
                end_text = start.letter + end_text
            found.update(level_range(start, Level.parse(end_text)))
        else:
            found.add(Level.parse(part))
    if not found:
        raise ValueError(f"no spinal level in {text!r}")
    return sorted(found)
