"""Registry files: CSV (one file per record type) and FHIR R4 Bundles, read into raw rows that
remember their line; and written back (for `vertebro registry simulate --out`).

Reading does not judge values: each `RawRow` carries the fields as found, and the registry
service validates them with the row models (`core.registry.rows`), so every bad value is
reported with file:line and field.

CSV: UTF-8, a header line, one record per line; the kind of file is told by its header.

* procedures: id, date, operator, procedure, levels, approach, image_guidance, cement_ml,
  biopsy, and optionally patient, age, sex, cement_product, cement_manufacturer, cement_lot,
  cement_expiry, assessment_id, decision_id, policy, pathway, case_id (a prior-authorisation
  case of the service, which then supplies the pathway). `levels` is written as in a note
  ("T12-L1"), `cement_ml` as LEVEL=ML pairs ("T12=3.5; L1=4"), dates as YYYY-MM-DD,
  booleans as yes/no.
* complications: id, procedure_id, kind, date, and optionally symptomatic, leak_site,
  fracture_site, level, cause, further_intervention, outcome, device_related, description.
* follow-ups: procedure_id, timepoint, date, and optionally pain, analgesics, mobility,
  roland_morris.

FHIR R4 (a Bundle, or a lone resource). vertebro's own extensions and codes use the URL
prefix `EXT` (below); they carry what FHIR has no element for.

* Procedure (status completed): id; code (CPT 22510-22515, 0200T/0201T, HCPCS S2360/S2361,
  or words naming the procedure); performedDateTime or performedPeriod.start; the first
  performer's actor (display, else reference) as operator; bodySite text or display as levels;
  subject -> Patient (gender, birthDate -> age at the procedure); focalDevice.manipulated ->
  Device (deviceName, manufacturer, lotNumber, expirationDate) as the cement; extensions
  approach, image-guidance, biopsy, assessment, decision, policy, pathway, case (value[x]) and
  cement-volume (sub-extensions level: valueString, volume: valueQuantity in mL).
* Observation (status final, amended or corrected): partOf -> the Procedure; extension
  timepoint (valueCode); effectiveDateTime; code LOINC 72514-3 (pain 0-10) or EXT codes pain,
  analgesics, mobility, roland-morris; valueInteger, valueQuantity, valueCode, valueString or
  valueCodeableConcept; or several measures as components. Observations of one procedure and
  timepoint make one follow-up.
* AdverseEvent (actuality actual): id; suspectEntity.instance -> the Procedure (and a Device
  there marks it device-related); event coded with EXT codes (the complication kinds) or text;
  date; outcome (R4 adverse-event-outcome codes); extensions symptomatic, leak-site,
  fracture-site, level, cause, further-intervention, device-related, description.

Resources of other types, and records whose status says they did not happen, are skipped with
a note.
"""

from __future__ import annotations

from vertebro.adapters.registry_import.csv_reading import read_csv
from vertebro.adapters.registry_import.export import registry_bundle, registry_csv
from vertebro.adapters.registry_import.fhir_reading import read_fhir
from vertebro.adapters.registry_import.raw_rows import (
    COMPLICATION_COLUMNS,
    EXT,
    FOLLOW_UP_COLUMNS,
    LINES_UP_TO_BYTES,
    MAX_BYTES,
    PROCEDURE_COLUMNS,
    RawRow,
    Reading,
    RowKind,
)
from vertebro.adapters.registry_import.reading import read_registry_bytes, read_registry_file

__all__ = [
    "COMPLICATION_COLUMNS",
    "EXT",
    "FOLLOW_UP_COLUMNS",
    "LINES_UP_TO_BYTES",
    "MAX_BYTES",
    "PROCEDURE_COLUMNS",
    "RawRow",
    "Reading",
    "RowKind",
    "read_csv",
    "read_fhir",
    "read_registry_bytes",
    "read_registry_file",
    "registry_bundle",
    "registry_csv",
]
