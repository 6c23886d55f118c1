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

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vertebro.adapters import yaml_lines
from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir.bundle import json_shape_problem
from vertebro.adapters.fhir.codes import PAIN_SCORE_LOINC, PROCEDURE_CODES, System, system_of
from vertebro.adapters.fhir.codes import procedure_by_words as _procedure_by_words
from vertebro.core.registry.model import (
    Complication,
    ComplicationKind,
    EventOutcome,
    FollowUp,
    ProcedureRecord,
    Registry,
)

RowKind = Literal["procedure", "complication", "follow-up"]
EXT = "urn:vertebro:registry:"  # vertebro's extension URLs and code system for FHIR
MAX_BYTES = 200_000_000
LINES_UP_TO_BYTES = 2_000_000  # larger JSON is parsed without line numbers (it is much faster)

PROCEDURE_COLUMNS = (
    "id", "date", "operator", "procedure", "levels", "approach", "image_guidance", "cement_ml",
    "biopsy", "patient", "age", "sex", "cement_product", "cement_manufacturer", "cement_lot",
    "cement_expiry", "assessment_id", "decision_id", "policy", "pathway", "case_id",
)
COMPLICATION_COLUMNS = (
    "id", "procedure_id", "kind", "date", "symptomatic", "leak_site", "fracture_site", "level",
    "cause", "further_intervention", "outcome", "device_related", "description",
)
FOLLOW_UP_COLUMNS = (
    "procedure_id", "timepoint", "date", "pain", "analgesics", "mobility", "roland_morris",
)
_REQUIRED: dict[RowKind, tuple[str, ...]] = {
    "procedure": PROCEDURE_COLUMNS[:8],
    "complication": COMPLICATION_COLUMNS[:4],
    "follow-up": FOLLOW_UP_COLUMNS[:3],
}
_COLUMNS: dict[RowKind, tuple[str, ...]] = {
    "procedure": PROCEDURE_COLUMNS,
    "complication": COMPLICATION_COLUMNS,
    "follow-up": FOLLOW_UP_COLUMNS,
}


@dataclass(frozen=True, slots=True)
class RawRow:
    """One record as read: its kind, where it was (line, label) and its fields, unjudged."""

    kind: RowKind
    line: int | None
    label: str  # e.g. "row 12" or "Procedure/p-1"
    data: dict[str, Any]
    problems: tuple[tuple[str, str], ...] = ()  # (field, message) found while reading


@dataclass(frozen=True, slots=True)
class Reading:
    """Everything read from one file."""

    source: str
    rows: list[RawRow]
    notes: list[str] = field(default_factory=list)  # what was skipped and why


def read_registry_file(path: Path) -> Reading:
    """Read a registry CSV or FHIR JSON file.

    Raises:
        InputError: the file cannot be read, is not CSV or JSON, or has an unknown header.
    """
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(source, f"cannot read: {exc.strerror or exc}") from None
    return read_registry_bytes(raw, source, fhir=path.suffix.lower() == ".json" or None)


def read_registry_bytes(raw: bytes, source: str, *, fhir: bool | None = None) -> Reading:
    """Read registry CSV or FHIR JSON from bytes (an upload). `fhir`: True for FHIR JSON,
    False for CSV, None to tell by the content (JSON starts with '{').

    Raises:
        InputError: too large, not UTF-8, empty, not CSV or JSON, or an unknown header.
    """
    if len(raw) > MAX_BYTES:
        raise InputError(source, f"{len(raw):,} bytes; the limit is {MAX_BYTES:,}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(source, "not UTF-8 text") from None
    if not text.strip():
        raise InputError(source, "empty file")
    if "\x00" in text:  # no database can store it (PostgreSQL refuses NUL in text)
        raise InputError(source, "holds a NUL character; not a text file")
    if fhir or (fhir is None and text.lstrip().startswith("{")):
        return read_fhir(text, source)
    return read_csv(text, source)


# --- CSV ----------------------------------------------------------------------------------------


def _csv_kind(header: list[str], source: str) -> RowKind:
    names = set(header)
    kind: RowKind
    if "operator" in names:
        kind = "procedure"
    elif "kind" in names:
        kind = "complication"
    elif "timepoint" in names:
        kind = "follow-up"
    else:
        raise InputError(
            source,
            "cannot tell the kind of file from its header: a procedures file has an 'operator' "
            "column, a complications file 'kind', a follow-ups file 'timepoint'",
            1,
        )
    unknown = [name for name in header if name not in _COLUMNS[kind]]
    if unknown:
        raise InputError(
            source,
            f"unknown column {unknown[0]!r} in a {kind} file; the columns are: "
            f"{', '.join(_COLUMNS[kind])}",
            1,
        )
    missing = [name for name in _REQUIRED[kind] if name not in names]
    if missing:
        raise InputError(source, f"the header lacks the column {missing[0]!r}", 1)
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise InputError(source, f"the column {repeated[0]!r} appears twice", 1)
    return kind


def read_csv(text: str, source: str) -> Reading:
    """Read a registry CSV file (see the module notes for its header).

    Raises:
        InputError: not CSV, or an unknown, missing or repeated column.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise InputError(source, f"not a CSV file: {exc}", 1) from None
    kind = _csv_kind(header, source)
    rows = []
    line = reader.line_num + 1
    try:
        for values in reader:
            start, line = line, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            problems: tuple[tuple[str, str], ...] = ()
            if len(values) != len(header):
                problems = (
                    ("row", f"{len(values)} values for {len(header)} columns"),
                )
            data = {
                name: value for name, value in zip(header, values, strict=False) if value.strip()
            }
            rows.append(RawRow(kind, start, f"line {start}", data, problems))
    except csv.Error as exc:
        raise InputError(source, f"not valid CSV: {exc}", reader.line_num) from None
    return Reading(source, rows)


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _procedure_fields(p: ProcedureRecord) -> dict[str, Any]:
    return {
        "id": p.id, "date": p.date.isoformat(), "operator": p.operator,
        "procedure": p.procedure.value, "levels": ", ".join(str(lv) for lv in p.levels),
        "approach": p.approach.value, "image_guidance": p.image_guidance.value,
        "cement_ml": "; ".join(f"{lv}={ml:g}" for lv, ml in p.cement_ml), "biopsy": p.biopsy,
        "patient": p.patient, "age": p.age, "sex": p.sex.value if p.sex else None,
        "cement_product": p.cement.product, "cement_manufacturer": p.cement.manufacturer,
        "cement_lot": p.cement.lot,
        "cement_expiry": p.cement.expiry.isoformat() if p.cement.expiry else None,
        "assessment_id": p.assessment_id, "decision_id": p.decision_id, "policy": p.policy,
        "pathway": p.pathway, "case_id": p.case_id,
    }


def _complication_fields(c: Complication) -> dict[str, Any]:
    return {
        "id": c.id, "procedure_id": c.procedure_id, "kind": c.kind.value,
        "date": c.date.isoformat(), "symptomatic": c.symptomatic,
        "leak_site": c.leak_site.value if c.leak_site else None,
        "fracture_site": c.fracture_site.value if c.fracture_site else None,
        "level": str(c.level) if c.level else None, "cause": c.cause.value if c.cause else None,
        "further_intervention": c.further_intervention, "outcome": c.outcome.value,
        "device_related": c.device_related, "description": c.description,
    }


def _follow_up_fields(f: FollowUp) -> dict[str, Any]:
    return {
        "procedure_id": f.procedure_id, "timepoint": f.timepoint.value,
        "date": f.date.isoformat(), "pain": f.pain,
        "analgesics": f.analgesics.value if f.analgesics else None,
        "mobility": f.mobility.value if f.mobility else None, "roland_morris": f.roland_morris,
    }


def _csv_text(columns: tuple[str, ...], records: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_csv_value(record.get(name)) for name in columns])
    return out.getvalue()


def registry_csv(registry: Registry) -> dict[str, str]:
    """The registry as three CSV texts, by file name (procedures, complications, follow-ups)."""
    return {
        "procedures.csv": _csv_text(
            PROCEDURE_COLUMNS, (_procedure_fields(p) for p in registry.procedures)
        ),
        "complications.csv": _csv_text(
            COMPLICATION_COLUMNS, (_complication_fields(c) for c in registry.complications)
        ),
        "follow-ups.csv": _csv_text(
            FOLLOW_UP_COLUMNS, (_follow_up_fields(f) for f in registry.follow_ups)
        ),
    }


# --- FHIR ---------------------------------------------------------------------------------------

_OUTCOMES = {
    "resolved": EventOutcome.RECOVERED,
    "recovering": EventOutcome.RECOVERING,
    "ongoing": EventOutcome.NOT_RECOVERED,
    "resolvedwithsequelae": EventOutcome.RECOVERED_WITH_HARM,
    "fatal": EventOutcome.FATAL,
    "unknown": EventOutcome.UNKNOWN,
}
_OUTCOME_CODES = {
    EventOutcome.RECOVERED: "resolved",
    EventOutcome.RECOVERING: "recovering",
    EventOutcome.NOT_RECOVERED: "ongoing",
    EventOutcome.RECOVERED_WITH_HARM: "resolvedWithSequelae",
    EventOutcome.FATAL: "fatal",
    EventOutcome.UNKNOWN: "unknown",
}
_MEASURES = {"pain": "pain", "analgesics": "analgesics", "mobility": "mobility",
             "roland-morris": "roland_morris"}
_PROCEDURE_SKIP = {"entered-in-error", "not-done", "stopped", "preparation", "in-progress",
                   "on-hold", "unknown"}
_OBSERVATION_OK = {"final", "amended", "corrected"}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _day(value: Any) -> str | None:
    text = _text(value)
    return text[:10] if text else None


def _ref_id(reference: Any, resource_type: str) -> str | None:
    text = _text(_dict(reference).get("reference"))
    if not text:
        return None
    parts = text.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == resource_type:
        return parts[-1]
    return None


def _value_x(node: dict[str, Any]) -> Any:
    for key, value in node.items():
        if key.startswith("value"):
            if key == "valueQuantity":
                return _dict(value).get("value")
            if key in ("valueReference",):
                ref = _text(_dict(value).get("reference"))
                return ref.rsplit("/", 1)[-1] if ref else None
            if key == "valueCodeableConcept":
                codings = _list(_dict(value).get("coding"))
                return (_text(codings[0].get("code")) if codings else None) or _text(
                    _dict(value).get("text")
                )
            return value
    return None


def _extensions(resource: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ext in _list(resource.get("extension")):
        url = _text(ext.get("url")) or ""
        if not url.startswith(EXT):
            continue
        name = url[len(EXT) :]
        if name == "cement-volume":
            out.setdefault("_cement", []).append(ext)
        else:
            out[name] = _value_x(ext)
    return out


def _codes(concept: Any) -> list[tuple[System | str | None, str]]:
    out: list[tuple[System | str | None, str]] = []
    for coding in _list(_dict(concept).get("coding")):
        system_text = _text(coding.get("system")) or ""
        code = _text(coding.get("code"))
        if code:
            own = system_text.startswith(EXT)
            out.append((EXT if own else system_of(system_text), code))
    return out


def _words(concept: Any) -> str:
    node = _dict(concept)
    parts = [_text(node.get("text")) or ""]
    parts += [_text(c.get("display")) or "" for c in _list(node.get("coding"))]
    return " ".join(p for p in parts if p)


@dataclass(slots=True)
class _Entry:
    resource: dict[str, Any]
    line: int | None
    label: str


def _entries(data: Any, source: str) -> list[_Entry]:
    if not isinstance(data, dict) or "resourceType" not in data:
        line = getattr(data, "line", None)
        raise InputError(source, "not a FHIR resource (no resourceType)", line)
    if data.get("resourceType") != "Bundle":
        return [_Entry(data, getattr(data, "line", None), _label(data))]
    entries = data.get("entry")
    if not isinstance(entries, list) or not entries:
        raise InputError(source, "the Bundle has no entries", getattr(data, "line", None))
    out = []
    for index, entry in enumerate(entries):
        resource = _dict(_dict(entry).get("resource"))
        if resource:
            line = getattr(resource, "line", None)
            out.append(_Entry(resource, line, _label(resource, index)))
    return out


def _label(resource: dict[str, Any], index: int | None = None) -> str:
    kind = resource.get("resourceType", "?")
    rid = resource.get("id")
    if rid:
        return f"{kind}/{rid}"
    return f"{kind} (entry {index + 1})" if index is not None else str(kind)


def read_fhir(text: str, source: str) -> Reading:
    """Read registry records from a FHIR R4 Bundle or lone resource (see the module notes).

    Raises:
        InputError: not JSON or not FHIR, or a Bundle without entries.
    """
    try:
        data = yaml_lines.load(text) if len(text) <= LINES_UP_TO_BYTES else json.loads(text)
    except yaml_lines.YamlError as exc:
        raise InputError(source, f"not valid JSON: {exc.message}", exc.line) from None
    except json.JSONDecodeError as exc:
        raise InputError(source, f"not valid JSON: {exc.msg}", exc.lineno) from None
    except RecursionError:
        raise InputError(source, "JSON nested too deeply") from None
    problem = json_shape_problem(data, escapes="\\u" in text)
    if problem:
        raise InputError(source, problem)
    entries = _entries(data, source)
    by_ref = {
        f"{e.resource.get('resourceType')}/{e.resource.get('id')}": e.resource for e in entries
    }
    rows: list[RawRow] = []
    notes: list[str] = []
    observations: dict[tuple[str, str], list[_Entry]] = {}
    for entry in entries:
        kind = entry.resource.get("resourceType")
        where = f"{source}:{entry.line}" if entry.line else source
        if kind == "Procedure":
            status = _text(entry.resource.get("status"))
            if status in _PROCEDURE_SKIP:
                notes.append(f"{where}: {entry.label} skipped: status {status}")
                continue
            rows.append(_procedure_row(entry, by_ref))
        elif kind == "AdverseEvent":
            if _text(entry.resource.get("actuality")) == "potential":
                notes.append(f"{where}: {entry.label} skipped: a potential event, not actual")
                continue
            rows.append(_adverse_event_row(entry))
        elif kind == "Observation":
            status = _text(entry.resource.get("status"))
            if status not in _OBSERVATION_OK:
                notes.append(f"{where}: {entry.label} skipped: status {status}")
                continue
            parent = next(
                (pid for ref in _list(entry.resource.get("partOf"))
                 if (pid := _ref_id(ref, "Procedure"))), "",
            )
            timepoint = _extensions(entry.resource).get("timepoint") or ""
            observations.setdefault((parent, str(timepoint)), []).append(entry)
        elif kind not in ("Patient", "Device"):
            notes.append(f"{where}: {entry.label} skipped: a {kind} is not a registry record")
    rows += [_follow_up_row(group) for group in observations.values()]
    rows.sort(key=lambda r: ("procedure", "complication", "follow-up").index(r.kind))
    return Reading(source, rows, notes)


def _procedure_row(entry: _Entry, by_ref: dict[str, dict[str, Any]]) -> RawRow:
    r = entry.resource
    ext = _extensions(r)
    problems: list[tuple[str, str]] = []
    data: dict[str, Any] = {"id": r.get("id")}
    data["date"] = _day(r.get("performedDateTime")) or _day(
        _dict(r.get("performedPeriod")).get("start")
    )
    performers = _list(r.get("performer"))
    if performers:
        actor = _dict(performers[0].get("actor"))
        data["operator"] = _text(actor.get("display")) or _text(actor.get("reference")) or _text(
            _dict(actor.get("identifier")).get("value")
        )
    procedure = None
    for system, code in _codes(r.get("code")):
        known = PROCEDURE_CODES.get((system, code)) if isinstance(system, System) else None
        if known is not None:
            procedure = known.procedure.value
            break
    procedure = procedure or (
        p.value if (p := _procedure_by_words(_words(r.get("code")))) else None
    )
    if procedure is None and r.get("code") is not None:
        problems.append(("procedure", f"the code {_words(r.get('code'))!r} names no procedure "
                                      "vertebro records"))
    data["procedure"] = procedure
    sites = [_words(site) for site in _list(r.get("bodySite"))]
    data["levels"] = ", ".join(s for s in sites if s) or None
    for name in ("approach", "image-guidance", "biopsy", "assessment", "decision", "policy",
                 "pathway", "case"):
        if name in ext:
            key = {"image-guidance": "image_guidance", "assessment": "assessment_id",
                   "decision": "decision_id", "case": "case_id"}.get(name, name)
            data[key] = ext[name]
    cement: dict[str, Any] = {}
    for volume_ext in ext.get("_cement", []):
        parts = {
            (_text(e.get("url")) or ""): _value_x(e) for e in _list(volume_ext.get("extension"))
        }
        if parts.get("level") is not None:
            cement[str(parts["level"])] = parts.get("volume")
    data["cement_ml"] = cement or None
    patient_id = _ref_id(r.get("subject"), "Patient")
    if patient_id:
        data["patient"] = patient_id
        patient = by_ref.get(f"Patient/{patient_id}", {})
        if _text(patient.get("gender")):
            data["sex"] = patient["gender"]
        born = _day(patient.get("birthDate"))
        if born and data["date"]:
            try:
                birth, day = dt.date.fromisoformat(born), dt.date.fromisoformat(data["date"])
                before_birthday = (day.month, day.day) < (birth.month, birth.day)
                data["age"] = day.year - birth.year - before_birthday
            except ValueError:
                problems.append(("age", f"Patient/{patient_id} birthDate {born!r} is not a date"))
    for focal in _list(r.get("focalDevice")):
        device_id = _ref_id(focal.get("manipulated"), "Device")
        device = by_ref.get(f"Device/{device_id}", {}) if device_id else {}
        if device:
            names = _list(device.get("deviceName"))
            data["cement_product"] = _text(names[0].get("name")) if names else None
            data["cement_manufacturer"] = _text(device.get("manufacturer"))
            data["cement_lot"] = _text(device.get("lotNumber"))
            data["cement_expiry"] = _day(device.get("expirationDate"))
            break
    clean = {k: v for k, v in data.items() if v is not None}
    return RawRow("procedure", entry.line, entry.label, clean, tuple(problems))


def _adverse_event_row(entry: _Entry) -> RawRow:
    r = entry.resource
    ext = _extensions(r)
    data: dict[str, Any] = {"id": r.get("id"), "date": _day(r.get("date"))}
    problems: list[tuple[str, str]] = []
    device = False
    for suspect in _list(r.get("suspectEntity")):
        instance = suspect.get("instance")
        data.setdefault("procedure_id", _ref_id(instance, "Procedure"))
        if not data["procedure_id"]:
            del data["procedure_id"]
        device = device or _ref_id(instance, "Device") is not None
    kinds = {k.value for k in ComplicationKind}
    coded = [code for system, code in _codes(r.get("event")) if system == EXT and code in kinds]
    kind = coded[0] if coded else None
    if kind is None:
        words = _words(r.get("event")).strip().lower().replace(" ", "-")
        kind = words or None
    data["kind"] = kind
    outcome_codes = [code for _, code in _codes(r.get("outcome"))]
    if outcome_codes:
        mapped = _OUTCOMES.get(outcome_codes[0].lower())
        if mapped is None:
            problems.append(("outcome", f"{outcome_codes[0]!r} is not an R4 adverse event outcome"))
        else:
            data["outcome"] = mapped.value
    for name in ("symptomatic", "leak-site", "fracture-site", "level", "cause",
                 "further-intervention", "device-related", "description"):
        if name in ext:
            data[name.replace("-", "_")] = ext[name]
    if device and "device_related" not in data:
        data["device_related"] = True
    clean = {k: v for k, v in data.items() if v is not None}
    return RawRow("complication", entry.line, entry.label, clean, tuple(problems))


def _measures(node: dict[str, Any]) -> list[tuple[str, Any]]:
    out = []
    for system, code in _codes(node.get("code")):
        if system == EXT and code in _MEASURES:
            out.append((_MEASURES[code], _value_x(node)))
            break
        if system is System.LOINC and code == PAIN_SCORE_LOINC:
            out.append(("pain", _value_x(node)))
            break
    return out


def _follow_up_row(group: list[_Entry]) -> RawRow:
    first = group[0]
    r = first.resource
    data: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    parent = next(
        (pid for ref in _list(r.get("partOf")) if (pid := _ref_id(ref, "Procedure"))), None
    )
    if parent:
        data["procedure_id"] = parent
    timepoint = _extensions(r).get("timepoint")
    if timepoint:
        data["timepoint"] = timepoint
    dates = {d for e in group if (d := _day(e.resource.get("effectiveDateTime")))}
    if len(dates) > 1:
        problems.append(("date", f"the observations of one timepoint differ: {sorted(dates)}"))
    if dates:
        data["date"] = min(dates)
    for entry in group:
        measures = _measures(entry.resource)
        for component in _list(entry.resource.get("component")):
            measures += _measures(component)
        if not measures:
            problems.append(("code", f"{entry.label} is not a measure the registry records"))
        for name, value in measures:
            if name in data and data[name] != value:
                problems.append((name, f"given twice: {data[name]!r} and {value!r}"))
            data[name] = value
    labels = ", ".join(e.label for e in group[:3]) + (" …" if len(group) > 3 else "")
    return RawRow("follow-up", first.line, labels, data, tuple(problems))


def registry_bundle(registry: Registry) -> dict[str, Any]:
    """The registry as a FHIR R4 collection Bundle in the shape `read_fhir` reads."""
    entries: list[dict[str, Any]] = []

    def add(resource: dict[str, Any]) -> None:
        entries.append({"fullUrl": f"{resource['resourceType']}/{resource['id']}",
                        "resource": resource})

    for p in registry.procedures:
        ext: list[dict[str, Any]] = [
            {"url": EXT + "approach", "valueCode": p.approach.value},
            {"url": EXT + "image-guidance", "valueCode": p.image_guidance.value},
            {"url": EXT + "biopsy", "valueBoolean": p.biopsy},
        ]
        for name, value in (("assessment", p.assessment_id), ("decision", p.decision_id),
                            ("policy", p.policy), ("pathway", p.pathway), ("case", p.case_id)):
            if value:
                ext.append({"url": EXT + name, "valueString": value})
        ext += [
            {"url": EXT + "cement-volume", "extension": [
                {"url": "level", "valueString": str(lv)},
                {"url": "volume", "valueQuantity": {"value": ml, "unit": "mL",
                                                    "system": "http://unitsofmeasure.org",
                                                    "code": "mL"}},
            ]}
            for lv, ml in p.cement_ml
        ]
        resource: dict[str, Any] = {
            "resourceType": "Procedure", "id": p.id, "extension": ext, "status": "completed",
            "code": {"text": p.procedure.value},
            "performedDateTime": p.date.isoformat(),
            "performer": [{"actor": {"display": p.operator}}],
            "bodySite": [{"text": str(lv)} for lv in p.levels],
        }
        if p.patient:
            resource["subject"] = {"reference": f"Patient/{p.patient}"}
            patient: dict[str, Any] = {"resourceType": "Patient", "id": p.patient}
            if p.sex:
                patient["gender"] = p.sex.value
            if p.age is not None:
                # A birth date that gives this age on the procedure day (the day before it).
                born = p.date.replace(year=p.date.year - p.age - 1) + dt.timedelta(days=1)
                patient["birthDate"] = born.isoformat()
            add(patient)
        if p.cement.product or p.cement.lot:
            device: dict[str, Any] = {"resourceType": "Device", "id": f"{p.id}-cement"}
            if p.cement.product:
                device["deviceName"] = [{"name": p.cement.product, "type": "user-friendly-name"}]
            if p.cement.manufacturer:
                device["manufacturer"] = p.cement.manufacturer
            if p.cement.lot:
                device["lotNumber"] = p.cement.lot
            if p.cement.expiry:
                device["expirationDate"] = p.cement.expiry.isoformat()
            add(device)
            resource["focalDevice"] = [{"manipulated": {"reference": f"Device/{device['id']}"}}]
        add(resource)
    for c in registry.complications:
        ext = []
        flags = (("symptomatic", c.symptomatic), ("further-intervention", c.further_intervention),
                 ("device-related", c.device_related))
        for name, flag in flags:
            if flag is not None:
                ext.append({"url": EXT + name, "valueBoolean": flag})
        for name, text in (("leak-site", c.leak_site), ("fracture-site", c.fracture_site),
                           ("cause", c.cause)):
            if text is not None:
                ext.append({"url": EXT + name, "valueCode": text.value})
        if c.level is not None:
            ext.append({"url": EXT + "level", "valueString": str(c.level)})
        if c.description:
            ext.append({"url": EXT + "description", "valueString": c.description})
        add({
            "resourceType": "AdverseEvent", "id": c.id, "extension": ext, "actuality": "actual",
            "event": {"coding": [{"system": EXT + "complication", "code": c.kind.value}]},
            "subject": {"reference": "Patient/unknown"},
            "date": c.date.isoformat(),
            "outcome": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/adverse-event-outcome",
                "code": _OUTCOME_CODES[c.outcome]}]},
            "suspectEntity": [{"instance": {"reference": f"Procedure/{c.procedure_id}"}}],
        })
    for f in registry.follow_ups:
        components = []
        for code, score in (("pain", f.pain), ("roland-morris", f.roland_morris)):
            if score is not None:
                components.append({"code": {"coding": [{"system": EXT + "measure", "code": code}]},
                                   "valueInteger": score})
        for code, coded in (("analgesics", f.analgesics), ("mobility", f.mobility)):
            if coded is not None:
                components.append({"code": {"coding": [{"system": EXT + "measure", "code": code}]},
                                   "valueCode": coded.value})
        add({
            "resourceType": "Observation", "id": f"{f.procedure_id}-{f.timepoint.value}",
            "extension": [{"url": EXT + "timepoint", "valueCode": f.timepoint.value}],
            "status": "final", "code": {"text": "Vertebral augmentation outcome measures"},
            "partOf": [{"reference": f"Procedure/{f.procedure_id}"}],
            "effectiveDateTime": f.date.isoformat(), "component": components,
        })
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
