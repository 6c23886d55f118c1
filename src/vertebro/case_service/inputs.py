"""Reading request bodies (FHIR, vertebro cases, clinical notes) and assessing them without
storing a case."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from typing import Any

from vertebro import services
from vertebro.adapters import fhir, policy_files
from vertebro.adapters.case_files import parse_case
from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir.codes import System, official_title
from vertebro.adapters.fhir.notes import nlp_function, note_reader
from vertebro.core import cases
from vertebro.core.case import UNNAMED_NOTE_CASE, Case
from vertebro.core.cases import AssessedItem, Triage
from vertebro.core.evaluator import Determination, ProcedureRequest, assess
from vertebro.core.facts import FactSet
from vertebro.core.policy import Policy
from vertebro.report import AssessmentReport


def warm_up() -> None:
    """Load what is loaded lazily and slowly (the ICD code lists, the note reader's pipeline)
    before the first request, so that the first CRD call is as fast as the others."""
    official_title(System.ICD10CM, "M80.08XA")
    official_title(System.ICD10, "M80.0")
    reader = note_reader()
    if reader is not None:
        with contextlib.suppress(ValueError):
            reader("Vertebroplasty at L1 requested.", source="warm-up", note_date=None)


@dataclass(frozen=True, slots=True)
class ReadResult:
    """A case read from a request body, what kind of input it was, and the reader's warnings."""

    case: Case
    kind: str
    warnings: tuple[str, ...] = ()
    other_requests: tuple[str, ...] = ()  # requested services that are not ours


def read_json_document(data: Any, source: str, *, as_of: dt.date | None) -> ReadResult:
    """A FHIR R4 resource (`resourceType`) or a vertebro case (`requests` / `facts`).

    Raises:
        InputError: neither kind, or unreadable as its kind.
    """
    if isinstance(data, dict) and "resourceType" in data:
        reading = fhir.read_fhir(data, source, default_id="fhir", as_of=as_of)
        return ReadResult(reading.case, reading.kind, reading.warnings, reading.other_requests)
    if isinstance(data, dict) and ("requests" in data or "facts" in data):
        return ReadResult(parse_case(data, source, default_id="case"), "vertebro case")
    hint = ""
    if isinstance(data, dict) and "hook" in data and "context" in data:
        hint = "; it is a CDS Hooks request (POST it to /cds-services/{id})"
    raise InputError(
        source,
        f"neither FHIR (no 'resourceType') nor a vertebro case (no 'requests' or 'facts'){hint}",
    )


def read_note_text(text: str, source: str, *, note_date: dt.date | None) -> ReadResult:
    """A clinical note read by the note reader (vertebro.adapters.nlp).

    Raises:
        InputError: the note names no request, or the note reader is unavailable.
    """
    reader = note_reader()
    if reader is None:
        raise NoteReaderUnavailable(
            source,
            "free-text notes need the note reader (vertebro.adapters.nlp), which is not available",
        )
    try:
        reading = reader(text, source=source, note_date=note_date)
    except ValueError as exc:  # InputError is a ValueError
        raise InputError(source, str(exc).removeprefix(f"{source}: ")) from None
    facts = getattr(reading, "facts", None)
    if not isinstance(facts, FactSet):
        raise InputError(source, "the note reader returned no facts")
    requests = tuple(r for r in getattr(reading, "requests", ()) if isinstance(r, ProcedureRequest))
    warnings = tuple(str(w) for w in getattr(reading, "warnings", ()))
    return ReadResult(
        Case(UNNAMED_NOTE_CASE, source, requests, facts, note_date), "clinical note", warnings
    )


class NoteReaderUnavailable(InputError):
    """The note reader is not installed: the service cannot read free text."""


def note_date(text: str) -> dt.date | None:
    """A note's own date, from a line such as "Date: 14/09/2026" (as `vertebro assess` reads a
    .txt note); None when there is none or the note reader is unavailable."""
    find = nlp_function("note_date_from_text")
    day = find(text) if find is not None else None
    return day if isinstance(day, dt.date) else None


def assess_document(
    read: ReadResult,
    policy_name: str,
    *,
    as_of: dt.date | None,
    today: dt.date,
    version: str | None = None,
) -> AssessmentReport:
    """The assessment report for a read input (the same JSON as `vertebro assess`); `version`
    names one shipped version of the policy instead of the one in effect.

    Raises:
        InputError: nothing to assess, or no policy version in effect.
    """
    if not read.case.requests:
        found = "; ".join(read.other_requests[:3])
        more = f" (it requests: {found})" if found else ""
        raise InputError(
            read.case.source,
            f"{read.kind} holds no vertebroplasty, kyphoplasty or sacroplasty request{more}",
        )
    return services.assess_case(read.case, policy_name, as_of=as_of, today=today, version=version)


@dataclass(frozen=True, slots=True)
class ProcedureAssessment:
    """The determinations for some requested procedures under the policy in effect on a day."""

    policy: Policy
    determinations: tuple[Determination, ...]
    triage: Triage


def assess_procedures(
    facts: FactSet, requests: tuple[ProcedureRequest, ...], policy_name: str, day: dt.date
) -> ProcedureAssessment:
    """Assess requested procedures (CRD, DTR) and triage them as a submission would be.

    Raises:
        InputError: no policy version in effect, or the policy covers none of the procedures.
    """
    policy = policy_files.resolve(policy_name, day)
    covered = tuple(r for r in requests if r.procedure in policy.rules)
    if not covered:
        raise InputError(
            "policy",
            f"policy {policy.id} {policy.version} does not cover "
            f"{', '.join(r.procedure.value for r in requests)}",
        )
    assessment = assess(policy, facts, covered, as_of=day)
    result = cases.triage([AssessedItem(d.procedure.value, d) for d in assessment.determinations])
    return ProcedureAssessment(policy, assessment.determinations, result)
