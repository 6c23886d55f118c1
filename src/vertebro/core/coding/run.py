"""Code one operative record in the systems asked for, with the tables passed in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vertebro.core.coding.cpt import code_cpt
from vertebro.core.coding.icd10 import code_icd10
from vertebro.core.coding.icd10cm import code_icd10cm
from vertebro.core.coding.model import OperativeRecord, Question
from vertebro.core.coding.opcs4 import code_opcs4
from vertebro.core.coding.result import CodingResult
from vertebro.core.coding.tables import CodeSystem, CodeTable, Crosswalk

ALL_SYSTEMS = (CodeSystem.OPCS4, CodeSystem.ICD10, CodeSystem.CPT, CodeSystem.ICD10CM)


@dataclass(frozen=True, slots=True)
class CodeSet:
    """The tables and crosswalks the rules use, one per system."""

    tables: Mapping[CodeSystem, CodeTable]
    crosswalks: Mapping[CodeSystem, Crosswalk]


def code_record(
    record: OperativeRecord, systems: Iterable[CodeSystem], codes: CodeSet
) -> CodingResult:
    """Apply each system's rules in turn; a record without augmentation gets no codes."""
    if not record.augmentation:
        reason = record.reason or "The source does not describe a vertebral augmentation."
        return CodingResult(
            warnings=(
                Question(
                    f"No codes: {reason}",
                    "Is there an operative note or procedure record of the vertebroplasty, "
                    "kyphoplasty or sacroplasty itself?",
                ),
            )
        )
    result = CodingResult()
    for system in systems:
        table = codes.tables[system]
        if system is CodeSystem.OPCS4:
            result = result + code_opcs4(record, table, codes.crosswalks[system])
        elif system is CodeSystem.CPT:
            result = result + code_cpt(record, table, codes.crosswalks[system])
        elif system is CodeSystem.ICD10:
            result = result + code_icd10(record, table)
        else:
            result = result + code_icd10cm(record, table)
    return result
