"""Bulk FHIR to the facts table in set-based SQL: the per-case FHIR reader's rules, per table.

Input is a relation per resource type, `src_<Type>(file, line_no, grp, r)`: where the resource
was read, the case it belongs to when the input says so (a bundle) and the resource parsed into
a struct of the shape in `SCHEMAS` (parsed with `PARSED_SCHEMAS`, then `as_read`: a lone object
where FHIR has an array reads as an array of one, as the reader reads it; concepts stay JSON
text, read by the reader's own functions in the lookups). For NDJSON the case is the patient a
resource's subject (or patient) reference names; a Patient is its own case. In a bundle, the
patient is the one the reader chooses (`d_subject`), and the resources about another patient
are not read (`o_<Type>`).

The statements below follow `vertebro.adapters.fhir` reader by reader, and say where they
differ. What a code, a phrase or a status means is answered by the reader's own functions once
per distinct concept (`lookups`), so the code tables are shared, not copied. Readings (one
source's value for one fact, with its priority and date) are merged per fact by the rule of
`adapters.combine` for coded sources: agreeing readings give the value; a safety finding that
is affirmed anywhere wins; otherwise the reading tied to the request wins, then the more recent
one (not for facts that say what something is); otherwise the fact stays unknown. Text read by
the note reader joins as readings of their own rank (`NOTE_READINGS`).

References resolve as the reader's bundle index resolves them: by type and id, and in a
bundle also by fullUrl (`urn:uuid:` references, entries without an id: `d_url`); a '#id'
reference names a contained resource (a contained Medication). The PAS requestedService
extension of a Claim item adds the levels of the ServiceRequest it names. Reports, documents
and Compositions go whole to the note reader with the Binaries their attachments may name, so
their narrative (`text.div`) and attachments are read as the reader reads them.

Requests the note reader finds in text join the coded ones after the notes are read
(`_final_requests`), as reader._with_text_requests takes them.

Not covered (malformed input only; docs/batch.md lists them): a reference that names a
resource of another type than the one expected (a reason that is an Observation, a
requestedService that is not a ServiceRequest), or a name another type's entry holds first; a
JSON string holding JSON text where an object or array is expected.
"""

from __future__ import annotations

from vertebro.batch.extract.base import (
    CONDITION_FACTS,
    NOTE_READINGS,
    NOTE_REQUEST_COLUMNS,
    NOTE_REQUESTS,
    READING_COLUMNS,
    REFUSED_CASES,
    VALUE_COLUMN,
    WIDE_FACTS,
    RunDates,
    Stage,
)
from vertebro.batch.extract.flatten import Flattening
from vertebro.batch.extract.merging import Merging
from vertebro.batch.extract.readings import Readings
from vertebro.batch.extract.shapes import (
    ABOUT_PATIENT,
    CODING,
    CONCEPT,
    CONTAINED_MEDICATION,
    PARSED_SCHEMAS,
    PERIOD,
    REF,
    SCHEMAS,
    STRICT_SCHEMAS,
    SUBJECT,
    TEXT_KEPT,
    TEXT_TYPES,
    as_read,
    as_read_strict,
    concept_value,
)


class Extraction(Flattening, Readings, Merging):
    """The SQL of the set-based reader for one dialect and the resource types present:
    `flatten`, the lookups (`lookup_values`), `derive`, `merge` with the readings from text,
    then `finish`."""


__all__ = [
    "ABOUT_PATIENT",
    "CODING",
    "CONCEPT",
    "CONDITION_FACTS",
    "CONTAINED_MEDICATION",
    "NOTE_READINGS",
    "NOTE_REQUESTS",
    "NOTE_REQUEST_COLUMNS",
    "PARSED_SCHEMAS",
    "PERIOD",
    "READING_COLUMNS",
    "REF",
    "REFUSED_CASES",
    "SCHEMAS",
    "STRICT_SCHEMAS",
    "SUBJECT",
    "TEXT_KEPT",
    "TEXT_TYPES",
    "VALUE_COLUMN",
    "WIDE_FACTS",
    "Extraction",
    "RunDates",
    "Stage",
    "as_read",
    "as_read_strict",
    "concept_value",
]
