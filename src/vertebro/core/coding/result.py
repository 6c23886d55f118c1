"""What the coding rules return: ordered code lines and the questions left open."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from vertebro.core.coding.model import Question
from vertebro.core.coding.tables import CodeSystem, Confidence, Resolved
from vertebro.core.facts import Provenance
from vertebro.core.levels import Level

LineKind = Literal["procedure", "diagnosis"]


@dataclass(frozen=True, slots=True)
class CodeLine:
    """One code to report. `code` is None for a placeholder whose code is not confirmed.

    `sequence` orders the lines of one system from 1; `units` counts an add-on code's bodies.
    """

    system: CodeSystem
    code: str | None
    display: str
    kind: LineKind
    confidence: Confidence
    units: int = 1
    sequence: int = 0
    levels: tuple[Level, ...] = ()
    evidence: tuple[Provenance, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CodingResult:
    """The lines of one or more systems and the questions to put to the operator or coder."""

    lines: tuple[CodeLine, ...] = ()
    warnings: tuple[Question, ...] = ()

    def __add__(self, other: CodingResult) -> CodingResult:
        return CodingResult(self.lines + other.lines, _unique(self.warnings + other.warnings))

    def for_system(self, system: CodeSystem) -> tuple[CodeLine, ...]:
        """The lines of one system, in sequence."""
        return tuple(line for line in self.lines if line.system is system)


def _unique(questions: tuple[Question, ...]) -> tuple[Question, ...]:
    seen: dict[tuple[str, str], Question] = {}
    for q in questions:
        seen.setdefault((q.message, q.question), q)
    return tuple(seen.values())


def line_from(
    resolved: Resolved,
    system: CodeSystem,
    kind: LineKind,
    *,
    units: int = 1,
    levels: tuple[Level, ...] = (),
    evidence: tuple[Provenance, ...] = (),
    notes: tuple[str, ...] = (),
) -> CodeLine:
    """A code line from a resolved concept, with the concept's own notes after the rule's."""
    return CodeLine(
        system=system,
        code=resolved.code,
        display=resolved.display,
        kind=kind,
        confidence=resolved.confidence,
        units=units,
        levels=levels,
        evidence=evidence,
        notes=(*notes, *resolved.notes),
    )


def problems_of(resolved: list[Resolved], evidence: tuple[Provenance, ...] = ()) -> list[Question]:
    """Questions for placeholders and for crosswalk entries a loaded table contradicts."""
    out = []
    for r in resolved:
        if r.problem:
            out.append(
                Question(
                    r.problem,
                    f"Which code does the official release give for {r.concept.meaning!r}?",
                    evidence,
                )
            )
        elif r.code is None:
            question = r.concept.question or (
                f"Which {r.concept.key} code applies? Load the official release "
                "(vertebro codes load FILE) or check the national coding standards."
            )
            out.append(
                Question(f"No confirmed code for {r.concept.meaning!r}.", question, evidence)
            )
    return out


def sequenced(lines: list[CodeLine]) -> tuple[CodeLine, ...]:
    """Number the lines 1, 2, ... in the order given."""
    return tuple(replace(line, sequence=i) for i, line in enumerate(lines, start=1))
