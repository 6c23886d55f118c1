"""Use cases of the prior-authorisation service: read inputs, submit, read, answer, decide,
appeal, and the audit trail. Interfaces (the HTTP API, the CLI) call these; the lifecycle rules
themselves are in `vertebro.core.cases` and storage in `vertebro.adapters.db`.

Every function that touches a case records a FHIR AuditEvent in the same transaction as the
read or write it describes; a refused access is recorded in a transaction of its own.
"""

from __future__ import annotations

from vertebro.case_service.answers import add_answers, answer_kind, answered_facts, merge_answers
from vertebro.case_service.audit import audit_trail, record_access
from vertebro.case_service.inputs import (
    NoteReaderUnavailable,
    ProcedureAssessment,
    ReadResult,
    assess_document,
    assess_procedures,
    note_date,
    read_json_document,
    read_note_text,
    warm_up,
)
from vertebro.case_service.reads import (
    CaseFilter,
    find_for_inquiry,
    get_case,
    list_cases,
)
from vertebro.case_service.review import appeal, decide
from vertebro.case_service.shared import Actor, Conflict, Forbidden, Json, NotFound
from vertebro.case_service.submission import (
    Responder,
    Submission,
    SubmitOutcome,
    document_hash,
    requested_items,
    submit,
)

__all__ = [
    "Actor",
    "CaseFilter",
    "Conflict",
    "Forbidden",
    "Json",
    "NotFound",
    "NoteReaderUnavailable",
    "ProcedureAssessment",
    "ReadResult",
    "Responder",
    "Submission",
    "SubmitOutcome",
    "add_answers",
    "answer_kind",
    "answered_facts",
    "appeal",
    "assess_document",
    "assess_procedures",
    "audit_trail",
    "decide",
    "document_hash",
    "find_for_inquiry",
    "get_case",
    "list_cases",
    "merge_answers",
    "note_date",
    "read_json_document",
    "read_note_text",
    "record_access",
    "requested_items",
    "submit",
    "warm_up",
]
