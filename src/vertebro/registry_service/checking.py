"""Checking the rows of a registry file or request: each row's problems and the row checker."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from vertebro.adapters.errors import InputError
from vertebro.adapters.registry_import import RawRow, Reading
from vertebro.core.registry import validation
from vertebro.core.registry.linking import LinkedCase
from vertebro.core.registry.model import (
    Complication,
    FollowUp,
    ProcedureRecord,
    Registry,
    Timepoint,
)
from vertebro.core.registry.ports import AbstractRegistryRepository
from vertebro.core.registry.rows import (
    ComplicationIn,
    FieldProblem,
    FollowUpIn,
    ProcedureIn,
    problems_of,
)

# --- Import -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One problem of one bad row: where it is, the field and what is wrong."""

    line: int | None
    label: str  # "line 12", "Procedure/p-1" or "body"
    field: str
    message: str
    text: str  # the one-line message, as the CLI prints it
    duplicate: bool = False  # the record is already stored (or repeated in the file)


@dataclass(frozen=True, slots=True)
class DuplicateRecord(FieldProblem):
    """A problem that says the record is already there."""


# Looks up prior-authorisation cases by id (the service database); None: no case store.
CaseLookup = Callable[[set[str]], Mapping[str, LinkedCase]]


class RowChecker:
    """Validates the rows of one file against each other and against the store (and, with a
    case store, each procedure's linked case against the organisation recording it)."""

    def __init__(
        self,
        reading: Reading,
        repo: AbstractRegistryRepository,
        today: dt.date,
        *,
        cases: CaseLookup | None = None,
        organisation: str | None = None,
    ):
        self.reading = reading
        self.repo = repo
        self.today = today
        self.cases = cases
        self.organisation = organisation
        self._problems: list[tuple[int, int, RowProblem]] = []
        self.bad_rows = 0

    def report(self, row: RawRow, problems: Sequence[FieldProblem]) -> None:
        """Record a bad row and each of its problems."""
        self.bad_rows += 1
        label = "" if row.label.startswith("line ") else f"{row.label}: "
        for problem in problems:
            error = InputError(self.reading.source, f"{label}{problem}", row.line)
            detail = RowProblem(
                row.line,
                row.label,
                problem.field,
                problem.message,
                str(error),
                isinstance(problem, DuplicateRecord),
            )
            self._problems.append((row.line or 0, len(self._problems), detail))

    @property
    def details(self) -> list[RowProblem]:
        """Every problem, in the order of the file."""
        return [detail for _, _, detail in sorted(self._problems, key=lambda t: t[:2])]

    @property
    def problems(self) -> list[str]:
        """One line per problem, in the order of the file."""
        return [detail.text for detail in self.details]

    def _linked_cases(self, rows: list[RawRow]) -> Mapping[str, LinkedCase] | None:
        if self.cases is None:
            return None
        wanted = {str(r.data["case_id"]).strip() for r in rows if r.data.get("case_id")}
        return self.cases(wanted) if wanted else {}

    def _case_problem(
        self, record: ProcedureRecord, cases: Mapping[str, LinkedCase] | None
    ) -> FieldProblem | None:
        if cases is None or record.case_id is None:
            return None
        case = cases.get(record.case_id)
        # Another organisation's case is "not found" too: its existence is not ours to tell.
        if case is None or case.organisation != self.organisation:
            return FieldProblem(
                "case_id", f"no prior-authorisation case {record.case_id!r} of this organisation"
            )
        return None

    def check(self) -> Registry:
        """The good records of the file, every bad row reported."""
        rows = self.reading.rows
        procedure_rows = [r for r in rows if r.kind == "procedure"]
        complication_rows = [r for r in rows if r.kind == "complication"]
        follow_up_rows = [r for r in rows if r.kind == "follow-up"]
        procedures = self._procedures(procedure_rows)
        children = (*complication_rows, *follow_up_rows)
        referenced = {str(r.data.get("procedure_id")) for r in children}
        known = self.repo.procedures(referenced - set(procedures))
        known.update(procedures)
        bad_procedures = {
            rid: r.line for r in procedure_rows if (rid := str(r.data.get("id"))) not in procedures
        }
        complications = self._complications(complication_rows, known, bad_procedures)
        follow_ups = self._follow_ups(follow_up_rows, known, bad_procedures)
        return Registry(tuple(procedures.values()), tuple(complications), tuple(follow_ups))

    def _parse(self, row: RawRow, model: type[Any]) -> Any | None:
        problems = [FieldProblem(name, message) for name, message in row.problems]
        parsed = None
        try:
            parsed = model.model_validate(row.data)
        except ValidationError as exc:
            problems += problems_of(exc)
        if problems:
            self.report(row, problems)
            return None
        return parsed

    def _procedures(self, rows: list[RawRow]) -> dict[str, ProcedureRecord]:
        seen: dict[str, int | None] = {}
        stored = self.repo.procedures(str(r.data.get("id")) for r in rows)
        cases = self._linked_cases(rows)
        good: dict[str, ProcedureRecord] = {}
        for row in rows:
            parsed = self._parse(row, ProcedureIn)
            if parsed is None:
                continue
            record: ProcedureRecord = parsed.to_record()
            problems = validation.check_procedure(record, today=self.today)
            case_problem = self._case_problem(record, cases)
            if case_problem is not None:
                problems.append(case_problem)
            if record.id in seen:
                problems.append(_repeated(record.id, seen[record.id]))
            elif record.id in stored:
                problems.append(DuplicateRecord("id", f"{record.id!r} is already in the registry"))
            seen.setdefault(record.id, row.line)
            if problems:
                self.report(row, problems)
            else:
                good[record.id] = record
        return good

    def _parent(
        self,
        procedure_id: str,
        known: dict[str, ProcedureRecord],
        bad: dict[str, int | None],
    ) -> tuple[ProcedureRecord | None, FieldProblem | None]:
        if procedure_id in known:
            return known[procedure_id], None
        if procedure_id in bad:
            return None, FieldProblem(
                "procedure_id", f"{procedure_id!r} is a bad row ({_at(bad[procedure_id])})"
            )
        return None, FieldProblem(
            "procedure_id", f"no procedure {procedure_id!r} in this file or the registry"
        )

    def _complications(
        self, rows: list[RawRow], known: dict[str, ProcedureRecord], bad: dict[str, int | None]
    ) -> list[Complication]:
        stored = self.repo.existing_complications(str(r.data.get("id")) for r in rows)
        seen: dict[str, int | None] = {}
        good = []
        for row in rows:
            parsed = self._parse(row, ComplicationIn)
            if parsed is None:
                continue
            record: Complication = parsed.to_record()
            parent, problem = self._parent(record.procedure_id, known, bad)
            problems = [problem] if problem else []
            if parent is not None:
                problems += validation.check_complication(record, parent, today=self.today)
            if record.id in seen:
                problems.append(_repeated(record.id, seen[record.id]))
            elif record.id in stored:
                problems.append(DuplicateRecord("id", f"{record.id!r} is already in the registry"))
            seen.setdefault(record.id, row.line)
            if problems:
                self.report(row, problems)
            else:
                good.append(record)
        return good

    def _follow_ups(
        self, rows: list[RawRow], known: dict[str, ProcedureRecord], bad: dict[str, int | None]
    ) -> list[FollowUp]:
        parsed_rows = [(row, self._parse(row, FollowUpIn)) for row in rows]
        keys = {(p.procedure_id, p.timepoint) for _, p in parsed_rows if p is not None}
        stored = self.repo.existing_follow_ups(keys)
        seen: dict[tuple[str, Timepoint], int | None] = {}
        good = []
        for row, parsed in parsed_rows:
            if parsed is None:
                continue
            record: FollowUp = parsed.to_record()
            parent, problem = self._parent(record.procedure_id, known, bad)
            problems = [problem] if problem else []
            if parent is not None:
                problems += validation.check_follow_up(record, parent, today=self.today)
            key = (record.procedure_id, record.timepoint)
            if key in seen:
                problems.append(
                    FieldProblem(
                        "timepoint",
                        f"{record.timepoint.value} of {record.procedure_id!r} is also on "
                        f"{_at(seen[key])}",
                    )
                )
            elif key in stored:
                problems.append(
                    DuplicateRecord(
                        "timepoint",
                        f"{record.timepoint.value} of {record.procedure_id!r} is already "
                        "in the registry",
                    )
                )
            seen.setdefault(key, row.line)
            if problems:
                self.report(row, problems)
            else:
                good.append(record)
        return good


def _repeated(record_id: str, line: int | None) -> FieldProblem:
    return DuplicateRecord("id", f"{record_id!r} is also on {_at(line)}")


def _at(line: int | None) -> str:
    return f"line {line}" if line is not None else "another entry"
