"""Read a FHIR R4 Bundle (or a lone resource) into a Case, with warnings for what was skipped.

Order of reading: the requests first (they give the request date and the diagnoses tied to the
request), then the patient, conditions (which give the fracture's onset, the start of the
current episode), admissions, treatments, pain scores, and last the text of reports and
documents through the note reader. All readings are merged by adapters.combine.

Requests found only in text are used when no coded request exists; a text request for the
same procedure as a coded one adds the levels the coded one lacks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vertebro.adapters.combine import combine
from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir.bundle import (
    MAX_FHIR_BYTES,
    BundleIndex,
    check_r4,
    dangling_references,
    parse_json,
)
from vertebro.adapters.fhir.condition import read_conditions
from vertebro.adapters.fhir.context import ReadContext
from vertebro.adapters.fhir.documents import document_texts
from vertebro.adapters.fhir.elements import JsonObj, obj, string
from vertebro.adapters.fhir.encounter import read_encounters
from vertebro.adapters.fhir.medication import conservative_duration, read_medications
from vertebro.adapters.fhir.notes import NoteReader, read_texts
from vertebro.adapters.fhir.observation import read_observations
from vertebro.adapters.fhir.patient import find_patient, read_patient
from vertebro.adapters.fhir.procedure import read_procedures
from vertebro.adapters.fhir.requests import read_requests
from vertebro.core.case import Case
from vertebro.core.evaluator import ProcedureRequest

_PAS_REQUEST = "profile-pas-request-bundle"
_PAS_INQUIRY = "profile-pas-inquiry-request-bundle"
_MAX_DANGLING = 5


@dataclass(frozen=True, slots=True)
class FhirReading:
    """A case read from FHIR, what kind of input it was, and what was skipped or doubtful."""

    case: Case
    kind: str  # e.g. 'Da Vinci PAS request bundle', 'searchset Bundle', 'Claim'
    warnings: tuple[str, ...]
    other_requests: tuple[str, ...]  # requested items that are not vertebral augmentation

    def nothing_to_assess(self) -> str:
        """Why there is no request to assess, in one line (for an InputError)."""
        if self.kind.startswith("PAS response") or self.kind.startswith("ClaimResponse"):
            return f"a {self.kind}, not a request: no vertebroplasty, kyphoplasty or sacroplasty " \
                   "request to assess"
        found = "; ".join(self.other_requests[:3])
        more = f" (it requests: {found})" if found else ""
        return f"{self.kind} holds no vertebroplasty, kyphoplasty or sacroplasty request{more}"


def load_fhir_file(
    path: Path, *, as_of: dt.date | None = None, note_reader: NoteReader | None = None
) -> FhirReading:
    """Read a FHIR JSON file.

    Raises:
        InputError: too large, unreadable, not JSON, not FHIR R4, or an empty Bundle.
    """
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FHIR_BYTES:
            raise InputError(name, f"file is {size:,} bytes; the limit for FHIR input is "
                                   f"{MAX_FHIR_BYTES:,} bytes (20 MB)")
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(name, exc.strerror or "cannot be read") from None
    return read_fhir(
        parse_json(raw, name), name, default_id=path.stem, as_of=as_of, note_reader=note_reader
    )


def read_fhir(
    data: Any,
    source: str,
    *,
    default_id: str = "fhir",
    as_of: dt.date | None = None,
    note_reader: NoteReader | None = None,
) -> FhirReading:
    """Read parsed FHIR JSON (a Bundle or one resource) into a case.

    Admissions, treatments and pain scores are dated against the request date; `as_of`
    stands in for it when the input has none (else they are not read).

    `note_reader` replaces vertebro.adapters.nlp.read_note for report and document text
    (tests use it); by default that reader is used when it is installed.

    Raises:
        InputError: not FHIR R4, an empty Bundle, or more report and document text than the
        note reader takes from one bundle (`documents.MAX_BUNDLE_TEXT_CHARS`).
    """
    resource = check_r4(data, source)
    index = BundleIndex.of(resource)
    ctx = ReadContext(index, warnings=list(index.warnings), as_of=as_of)
    kind = _kind(resource, ctx)
    _warn_dangling(ctx)

    requests = read_requests(ctx)
    find_patient(ctx)
    read_patient(ctx)
    read_conditions(ctx)
    read_encounters(ctx)
    read_medications(ctx)
    read_procedures(ctx)
    conservative_duration(ctx)
    read_observations(ctx)
    texts = document_texts(ctx)
    if ctx.text_refused:
        raise InputError(source, ctx.text_refused)
    findings = read_texts(ctx, texts, note_reader)
    readings = ctx.readings + [r for f in findings for r in f.readings]
    requests = _with_text_requests(ctx, requests, [r for f in findings for r in f.requests])
    ctx.finish_warnings()

    case_id = string(resource.get("id")) if resource.get("resourceType") == "Bundle" else None
    case = Case(case_id or default_id, source, requests, combine(readings), ctx.request_date)
    return FhirReading(case, kind, tuple(ctx.warnings), tuple(ctx.other_requests))


def _kind(resource: JsonObj, ctx: ReadContext) -> str:
    """A short description of the input; warns when a PAS bundle is malformed."""
    rtype = string(resource.get("resourceType")) or "?"
    if rtype != "Bundle":
        return rtype
    profiles = [p for p in (obj(resource.get("meta")) or {}).get("profile") or []
                if isinstance(p, str)]
    first = ctx.index.entries[0].resource if ctx.index.entries else {}
    first_type = string(first.get("resourceType"))
    is_pas_profile = any(p.endswith((_PAS_REQUEST, _PAS_INQUIRY)) for p in profiles)
    if first_type == "Claim" and string(first.get("use")) == "preauthorization":
        return "Da Vinci PAS request bundle" if is_pas_profile else "prior-authorisation Bundle"
    if is_pas_profile:
        ctx.warn(f"a PAS request bundle whose first entry is {first_type}, not a Claim")
        return "PAS request bundle"
    if any("pas-response" in p or "pas-inquiry-response" in p for p in profiles):
        if first_type != "ClaimResponse":
            ctx.warn(f"a PAS response bundle whose first entry is {first_type}, "
                     "not a ClaimResponse")
        return "PAS response bundle"
    if first_type == "ClaimResponse":
        return "ClaimResponse Bundle"
    return f"{ctx.index.bundle_type or 'untyped'} Bundle"


def _warn_dangling(ctx: ReadContext) -> None:
    missing = dangling_references(ctx.index)
    if missing:
        shown = "; ".join(missing[:_MAX_DANGLING])
        more = f"; and {len(missing) - _MAX_DANGLING} more" if len(missing) > _MAX_DANGLING else ""
        ctx.warn(f"{len(missing)} reference(s) name resources missing from the bundle: "
                 f"{shown}{more}")


def _with_text_requests(
    ctx: ReadContext, coded: tuple[ProcedureRequest, ...], found: list[ProcedureRequest]
) -> tuple[ProcedureRequest, ...]:
    if not found:
        return coded
    if not coded:
        merged: dict[str, ProcedureRequest] = {}
        for request in found:
            key = request.procedure.value
            if key in merged:
                old = merged[key]
                levels = tuple(sorted(set(old.levels or ()) | set(request.levels or ()))) or None
                evidence = old.evidence + request.evidence
                merged[key] = ProcedureRequest(old.procedure, levels, evidence)
            else:
                merged[key] = request
        ctx.warn("no coded request: the request was read from report or document text")
        return tuple(merged.values())
    out = []
    for request in coded:
        if request.levels is None:
            extra = [r for r in found if r.procedure is request.procedure and r.levels]
            if extra:
                levels = tuple(sorted({lv for r in extra for lv in r.levels or ()}))
                evidence = request.evidence + tuple(p for r in extra for p in r.evidence)
                request = ProcedureRequest(request.procedure, levels, evidence)
        out.append(request)
    return tuple(out)

