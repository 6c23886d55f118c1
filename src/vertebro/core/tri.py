"""Kleene's strong three-valued logic: TRUE, FALSE and UNKNOWN."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class Tri(Enum):
    """A truth value that may be unknown. UNKNOWN is never coerced to FALSE."""

    TRUE = "met"
    FALSE = "not-met"
    UNKNOWN = "unknown"

    @classmethod
    def of(cls, value: bool | None) -> Tri:
        """TRUE/FALSE for a bool, UNKNOWN for None."""
        if value is None:
            return cls.UNKNOWN
        return cls.TRUE if value else cls.FALSE

    def __invert__(self) -> Tri:
        if self is Tri.UNKNOWN:
            return self
        return Tri.FALSE if self is Tri.TRUE else Tri.TRUE

    def __and__(self, other: Tri) -> Tri:
        return all_of((self, other))

    def __or__(self, other: Tri) -> Tri:
        return any_of((self, other))

    def __bool__(self) -> bool:
        # Truthiness of an unknown is exactly the bug three-valued logic exists to prevent.
        raise TypeError("Tri has no truthiness; compare with Tri.TRUE explicitly")


def all_of(values: Iterable[Tri]) -> Tri:
    """Kleene conjunction: FALSE dominates, then UNKNOWN; the empty conjunction is TRUE."""
    result = Tri.TRUE
    for value in values:
        if value is Tri.FALSE:
            return Tri.FALSE
        if value is Tri.UNKNOWN:
            result = Tri.UNKNOWN
    return result


def any_of(values: Iterable[Tri]) -> Tri:
    """Kleene disjunction: TRUE dominates, then UNKNOWN; the empty disjunction is FALSE."""
    result = Tri.FALSE
    for value in values:
        if value is Tri.TRUE:
            return Tri.TRUE
        if value is Tri.UNKNOWN:
            result = Tri.UNKNOWN
    return result
