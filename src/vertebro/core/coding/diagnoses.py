"""Helpers shared by the ICD-10 and ICD-10-CM rules: sites of a diagnosis and checked code lines."""

from __future__ import annotations

from dataclasses import dataclass, field

from vertebro.core.coding.model import Diagnosis, OperativeRecord, Question
from vertebro.core.coding.result import CodeLine
from vertebro.core.coding.tables import CodeSystem, CodeTable, Confidence, weakest
from vertebro.core.facts import Provenance
from vertebro.core.levels import Level, Region

NO_DIAGNOSIS = Question(
    "No diagnosis for the procedure is stated in the source.",
    "What condition was treated (for example osteoporotic compression fracture, metastasis, "
    "myeloma, haemangioma, traumatic fracture), and at which levels?",
)


def site_levels(dx: Diagnosis, record: OperativeRecord) -> tuple[Level, ...]:
    """The levels a diagnosis names, else the levels treated."""
    if dx.levels:
        return dx.levels
    return tuple(t.level for t in record.levels if t.level is not None)


def regions_of(levels: tuple[Level, ...]) -> list[Region]:
    """The regions of some levels, from the skull down, without repeats."""
    return sorted({lv.region for lv in levels}, key=list(Region).index)


@dataclass
class LineBuilder:
    """Collects diagnosis lines for one system, checking each code against the table."""

    system: CodeSystem
    table: CodeTable
    lines: list[CodeLine] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)

    def add(
        self,
        code: str,
        rule: str,
        *,
        confidence: Confidence = Confidence.CONFIRMED,
        levels: tuple[Level, ...] = (),
        evidence: tuple[Provenance, ...] = (),
        notes: tuple[str, ...] = (),
    ) -> None:
        """Add a code unless already present; its confidence is the weaker of table and rule."""
        if any(line.code == code for line in self.lines):
            return
        entry = self.table.get(code)
        if entry is None:
            self.questions.append(
                Question(
                    f"{code} is not in the {self.system.label} table ({self.table.label}).",
                    f"Is {code} valid in the release you code with? If not, which code applies?",
                    evidence,
                )
            )
            display, conf, source = f"[not in the code table] {code}", Confidence.UNCONFIRMED, None
        else:
            display, conf, source = entry.title, weakest(entry.confidence, confidence), entry.source
        all_notes = (rule, *notes) + ((f"title from {source}",) if source else ())
        self.lines.append(
            CodeLine(
                system=self.system,
                code=code,
                display=display,
                kind="diagnosis",
                confidence=conf,
                levels=levels,
                evidence=evidence,
                notes=all_notes,
            )
        )

    def placeholder(
        self,
        display: str,
        question: Question,
        *,
        levels: tuple[Level, ...] = (),
        evidence: tuple[Provenance, ...] = (),
        notes: tuple[str, ...] = (),
    ) -> None:
        """A line whose code is open, and the question that settles it."""
        self.lines.append(
            CodeLine(
                system=self.system,
                code=None,
                display=display,
                kind="diagnosis",
                confidence=Confidence.UNCONFIRMED,
                levels=levels,
                evidence=evidence,
                notes=notes,
            )
        )
        self.questions.append(question)
